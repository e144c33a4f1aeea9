"""Inputs for `netspec predict`: what `--data` names, read without targets, for a trained model.

`--data` is either a data source in spec syntax (`npz("new.npz")`, `csv("new.csv",
target="label")`, `image_folder("dir")`), whose targets are optional here, or a plain path: an
`.npy` array, an `.npz` of arrays, a CSV file, an image file or a folder of images. Either way
the inputs are checked against the model the run trained and converted as in training (the
input rules of netspec/data.py, with the run's standardization statistics), so the model sees
what it saw then. Nothing here imports a framework.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netspec import catalogue, data, ir
from netspec.catalogue import data as sources
from netspec.catalogue.columns import IMAGE_SUFFIXES, MODES, ColumnError, ImageFiles
from netspec.catalogue.data import DataError, RawData
from netspec.catalogue.shapes import fmt

__all__ = ["Training", "load", "path_of", "sample_names", "split"]

FILE_SUFFIXES = frozenset({".npy", ".npz", ".csv", *IMAGE_SUFFIXES})
"""The files `--data` may name as a plain path."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Training:
    """What a run remembers of its training data that predicting needs."""

    source: ir.DataSource | None  # the spec's data, as the run trained on it
    features: tuple[str, ...] | None = None  # a CSV's feature columns, in training's order


def path_of(text: str) -> Path | None:
    """The file or folder `--data` names, or None when it is a data source expression.

    A data source's name (`digits`) is the source even where a file of that name exists; any
    other text is a path when it names something on disk, or looks like a path (it ends in a
    suffix netspec reads, or holds a '/' and no call).
    """
    text = text.strip()
    if _NAME.fullmatch(text) and catalogue.lookup("data", text) is not None:
        return None
    path = Path(text)
    if path.exists():
        return path
    if "(" in text:
        return None
    if path.suffix.lower() in FILE_SUFFIXES or "/" in text:
        return path
    return None


def load(
    model: ir.Model,
    training: Training,
    source: ir.DataSource | None = None,
    path: Path | None = None,
) -> RawData:
    """The inputs `--data` names: a path, a source, or else the spec's own data."""
    if path is not None:
        return _from_path(path, model, training)
    source = source or training.source
    if source is None:
        raise DataError(
            "E0402",
            "the spec names no data to predict on",
            hint="pass the inputs with --data: a file (new.npz, new.npy, new.csv, an image or "
            "a folder of images) or a data source such as npz(\"new.npz\")",
        )
    return catalogue.data_source(source.kind).load_inputs(  # validated by check
        source.params, model.train.seed, model.inputs[0].shape, training.features
    )


def split(
    raw: RawData,
    model: ir.Model,
    standardization: dict[str, data.Standardization] | None,
    training: Training,
) -> data.Split:
    """The inputs checked against the model and converted, when read, as in training."""
    x = _columns(raw, model)
    _check_shapes(x, model, training, raw)
    inputs = data.input_split(x, model, standardization, raw.description)
    if len(inputs) == 0:
        raise DataError(
            "E0403", f"{raw.description or 'the data'} holds no samples to predict on"
        )
    return inputs


def sample_names(raw: RawData) -> list[str] | None:
    """What each sample is called, where it has a name: the files of image inputs (relative
    to their folder)."""
    column = raw.x
    if raw.named is not None or not isinstance(column, ImageFiles):
        return None
    root = column.root
    return [
        str(Path(file).relative_to(root)) if Path(file).is_relative_to(root) else file
        for file in column.files
    ]


# --------------------------------------------------------------------------- plain paths


def _from_path(path: Path, model: ir.Model, training: Training) -> RawData:
    if path.is_dir():
        return _image_folder(path, model, training)
    if not path.exists():
        raise DataError(
            "E0402",
            f"{path} does not exist",
            hint="--data takes a file (.npy, .npz, .csv, an image), a folder of images, or a "
            'data source such as npz("new.npz")',
        )
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy(path, model)
    if suffix == ".npz":
        return _npz(path, model, training)
    if suffix == ".csv":
        target = _training_param(training, "csv", "target")
        return sources.csv_inputs(str(path), training.features, target)
    if suffix in IMAGE_SUFFIXES:
        _image_input(model, f"{path} is an image")
        return _images((str(path),), path.parent, model, training, str(path))
    raise DataError(
        "E0402",
        f"netspec cannot tell what {path} holds from its suffix '{path.suffix}'",
        hint="--data reads .npy, .npz, .csv and image files ("
        + ", ".join(sorted(IMAGE_SUFFIXES))
        + "), and folders of images",
    )


def _training_param(training: Training, kind: str, name: str) -> Any:
    """A parameter of the run's training source, when it is of this kind."""
    if training.source is None or training.source.kind != kind:
        return None
    return getattr(training.source.params, name, None)


def _npy(path: Path, model: ir.Model) -> RawData:
    """One array of inputs, read whole when small, else by rows as batches need them."""
    from netspec.catalogue.columns import NpyRows

    if len(model.inputs) > 1:
        raise _several_inputs(model, f"{path} holds one array")
    try:
        rows = NpyRows(path)
        column = rows[slice(None)] if path.stat().st_size <= sources.NPY_IN_MEMORY_BYTES else rows
    except ColumnError as error:
        raise DataError("E0402", error.message, error.hint) from error
    return RawData(column, sources.no_targets(), description=f"npy file {path}")


def _npz(path: Path, model: ir.Model, training: Training) -> RawData:
    """The array `x`, or those named like the model's inputs, or those the run's own npz
    source named (`npz("train.npz", x=["a", "b"])`)."""
    import numpy as np

    x: str | tuple[str, ...] = "x"
    trained = _training_param(training, "npz", "x")
    if trained not in (None, "x"):
        try:
            with np.load(path, allow_pickle=False) as archive:
                present = set(archive.files)
        except sources.npz_errors() as error:
            from netspec.catalogue.columns import unreadable

            raise DataError("E0402", f"cannot read {path}: {unreadable(error, '.npz')}") from error
        wanted = (trained,) if isinstance(trained, str) else tuple(trained)
        if "x" not in present and set(wanted) <= present:
            x = trained
    params = sources.NpzParams(path=str(path), x=x, y=None)
    return sources.Npz().load_inputs(params, model.train.seed, model.inputs[0].shape)


def _image_folder(folder: Path, model: ir.Model, training: Training) -> RawData:
    from netspec.catalogue.columns import scan_images

    _image_input(model, f"{folder} holds images")
    try:
        files = scan_images(folder, "image folder")
    except ColumnError as error:
        raise DataError("E0402", error.message, error.hint) from error
    return _images(files, folder, model, training, f"image folder {folder}")


def _image_input(model: ir.Model, what: str) -> tuple[int, int, int]:
    """Height, width and channels of the model's image input, or a DataError."""
    if len(model.inputs) > 1:
        raise _several_inputs(model, what)
    shape = model.inputs[0].shape
    if len(shape) != 3 or shape[-1] not in MODES:
        raise DataError(
            "E0401",
            f"{what}, but the model's input is {fmt(shape)}, not an image "
            "[height, width, channels] with 1, 3 or 4 channels",
            hint=f"give the inputs as an .npy array of samples {fmt(shape)}",
        )
    height, width, channels = shape
    return height, width, channels


def _images(
    files: tuple[str, ...], root: Path, model: ir.Model, training: Training, description: str
) -> RawData:
    """Image files decoded to the model's input: resized as the run's image_folder resized
    its images; a run that trained on arrays saw no resizing, so sizes must match."""
    from netspec.catalogue.columns import check_images, unreadable_images

    height, width, _ = _image_input(model, f"{description} holds images")
    if len(files) == 1:  # one file: said of it alone
        for file, reason in unreadable_images(files):
            raise DataError("E0402", f"{file} cannot be read as an image ({reason})")
    try:
        check_images(files, root, "image folder")
    except ColumnError as error:
        raise DataError("E0402", error.message, error.hint) from error
    source = training.source
    if source is not None and source.kind == "image_folder":
        crop, interpolation = source.params.crop, source.params.interpolation  # type: ignore[attr-defined]
    else:
        crop, interpolation = False, "bilinear"
        _check_sizes(files, root, width, height)
    column = sources.image_files(files, model.inputs[0].shape, crop, interpolation, root)
    count = f"{len(files):,} image{'s' if len(files) != 1 else ''}"
    return RawData(
        column, sources.no_targets(), description=f"{description}: {count}", decodes=True
    )


def _check_sizes(files: tuple[str, ...], root: Path, width: int, height: int) -> None:
    """Every image is width × height (read from the headers)."""
    from PIL import Image

    wrong: list[tuple[str, tuple[int, int]]] = []
    for file in files:
        with Image.open(file) as image:
            if image.size != (width, height):
                wrong.append((file, image.size))
    if wrong:
        name, (w, h) = wrong[0]
        shown = Path(name).relative_to(root) if Path(name).is_relative_to(root) else name
        others = f" (and {len(wrong) - 1} other image{'s' if len(wrong) > 2 else ''})" if len(wrong) > 1 else ""
        raise DataError(
            "E0401",
            f"{shown} is {w}×{h} pixels{others}, the model's input is {width}×{height}",
            hint=f"the run trained on arrays, not on resized images: resize the images to "
            f"{width}×{height} first (a run trained on image_folder resizes them itself)",
        )


def _several_inputs(model: ir.Model, what: str) -> DataError:
    names = [source.name for source in model.inputs]
    keywords = ", ".join(f"{name}=…" for name in names)
    return DataError(
        "E0401",
        f"{what}, but the model has {len(names)} inputs ({', '.join(names)})",
        hint=f"save one array per input in an .npz, named like the inputs: "
        f'np.savez("new.npz", {keywords})',
    )


# --------------------------------------------------------------------------- checks


def _columns(raw: RawData, model: ir.Model) -> Any:
    """The source's inputs for the model: its x, or its arrays named like the inputs (a lone
    array for a model with one input)."""
    if raw.named is None:
        return raw.x
    names = [source.name for source in model.inputs]
    if len(names) == 1 and names[0] not in raw.named and len(raw.named) == 1:
        return next(iter(raw.named.values()))
    missing = [name for name in names if name not in raw.named]
    if missing:
        arrays = ", ".join(raw.named) or "none"
        raise DataError(
            "E0402",
            f"the data has no array named {missing[0]!r} for the model's input",
            hint=f"arrays: {arrays}; name the inputs array x"
            if len(names) == 1
            else f"arrays: {arrays}; give one array per model input, named like it: "
            + ", ".join(names),
        )
    columns = tuple(raw.named[name] for name in names)
    return columns[0] if len(columns) == 1 else columns


def _check_shapes(x: Any, model: ir.Model, training: Training, raw: RawData) -> None:
    """Each input's samples have the shape the run trained on: said in predict's words (the
    spec cannot change under a trained model)."""
    parts = x if isinstance(x, tuple) else (x,)
    rules = data.input_rules(model, model.train)
    if len(parts) != len(rules):
        raise _several_inputs(model, f"the data gives {len(parts)} input arrays")
    for rule, part in zip(rules, parts, strict=True):
        sample = tuple(part.shape[1:])
        if sample == rule.shape or (rule.reshape and math.prod(sample) == math.prod(rule.shape)):
            continue
        if raw.feature_names is not None and len(sample) == 1:
            trained = training.features
            hint = (
                f"the run trained on {len(trained)} columns: {', '.join(trained)}"
                if trained is not None
                else f"give {math.prod(rule.shape)} feature columns (and the target's, if any)"
            )
            raise DataError(
                "E0401",
                f"the CSV gives {sample[0]} feature column{'s' if sample[0] != 1 else ''} "
                f"({', '.join(raw.feature_names)}), {rule.what} takes {math.prod(rule.shape)}",
                hint=hint,
            )
        raise DataError(
            "E0401",
            f"the inputs have samples of shape {fmt(sample)}, {rule.what} takes "
            f"{fmt(rule.shape)}",
            hint=f"give samples of shape {fmt(rule.shape)}, as the run trained on",
        )
