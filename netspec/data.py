"""Data for a spec: load its source, preprocess as declared, and check it fits the model.

Every mismatch between the data and the spec is found here, before the first training step,
and raised as a `DataError` with a hint (shown as a diagnostic on the spec's `data =` line):
inputs of the wrong shape, integer labels for a one-hot loss, labels outside the model's
classes, non-binary targets for binary cross-entropy.

A model with several inputs or outputs takes one array per input and per output, in the
order of its inputs and outputs (a tuple each way); each array is checked as a lone one is,
and one permutation splits them all. `divide_by` and `standardize` scale every input except
those only Embedding layers read (token ids); each input is standardized on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from netspec import catalogue, ir
from netspec.catalogue.data import DataError, RawData
from netspec.catalogue.shapes import fmt

__all__ = [
    "DataError", "Prepared", "Standardization", "count", "load", "prepare", "preprocess_inputs",
]


@dataclass
class Standardization:
    """Per-feature mean and standard deviation, fitted on the training split."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)


Arrays = Any  # one array, or a tuple of arrays: one per model input (or output), in order


@dataclass
class Prepared:
    """Arrays ready for training: inputs shaped as the spec's inputs, targets as its losses need.

    With one input and one output each split is an array; with several, a tuple of arrays.
    `standardization` holds one Standardization per standardized input, by input name.
    """

    x_train: Arrays
    y_train: Arrays
    x_val: Arrays | None
    y_val: Arrays | None
    x_test: Arrays | None
    y_test: Arrays | None
    description: str
    standardization: dict[str, Standardization] | None

    @property
    def samples(self) -> int:
        return count(self.x_train)

    def summary(self) -> dict[str, Any]:
        def shapes(a: Arrays) -> list[int] | list[list[int]]:
            if isinstance(a, tuple):
                return [list(part.shape[1:]) for part in a]
            return list(a.shape[1:])

        return {
            "source": self.description,
            "train": count(self.x_train),
            "validation": count(self.x_val),
            "test": count(self.x_test),
            "input_shape": shapes(self.x_train),
            "target_shape": shapes(self.y_train),
        }


def count(a: Arrays | None) -> int:
    """Samples in one array or in a tuple of them."""
    if a is None:
        return 0
    return len(a[0]) if isinstance(a, tuple) else len(a)


def scaled_inputs(model: ir.Model) -> list[str]:
    """The inputs that divide_by and standardize scale: all but token ids (read by Embeddings)."""
    names = []
    for source in model.inputs:
        readers = [layer for layer in model.layers if source.name in layer.inputs]
        if not readers or not all(_reads_token_ids(layer) for layer in readers):
            names.append(source.name)
    return names


def _reads_token_ids(layer: ir.Layer) -> bool:
    entry = catalogue.lookup("layer", layer.kind)
    return bool(getattr(entry, "reads_token_ids", False))


def load(source: ir.DataSource, seed: int) -> RawData:
    entry = catalogue.lookup("data", source.kind)
    assert entry is not None, source.kind  # validated by check
    return entry().load(source.params, seed)  # type: ignore[attr-defined]


def preprocess_inputs(
    x: Arrays,
    model: ir.Model,
    config: ir.TrainConfig,
    standardization: dict[str, Standardization] | None = None,
) -> Arrays:
    """Scale and reshape inputs as the spec declares, then check their shapes."""
    parts = _parts(x, len(model.inputs), "input")
    scaled = scaled_inputs(model)
    done = []
    for source, part in zip(model.inputs, parts, strict=True):
        what = "the model's input" if len(model.inputs) == 1 else f"input '{source.name}'"
        scale = source.name in scaled
        stats = (standardization or {}).get(source.name)
        done.append(_preprocess_input(part, source.shape, config, scale, stats, what))
    return done[0] if len(done) == 1 else tuple(done)


def _parts(a: Arrays, expected: int, what: str) -> tuple[np.ndarray, ...]:
    """The arrays of a split, one per input (or output): a DataError when they do not match."""
    parts = a if isinstance(a, tuple) else (a,)
    if len(parts) != expected:
        raise DataError(
            "E0401",
            f"the data gives {len(parts)} {what} array{'s' if len(parts) != 1 else ''}, "
            f"the model has {expected} {what}{'s' if expected != 1 else ''}",
            hint=f'list one array per model {what}, in order: npz("file", x=[…], y=[…])',
        )
    lengths = {len(part) for part in parts}
    if len(lengths) > 1:
        raise DataError(
            "E0403", f"the {what} arrays differ in length: {', '.join(str(len(p)) for p in parts)}"
        )
    return tuple(parts)


def _preprocess_input(
    x: np.ndarray,
    expected: tuple[int, ...],
    config: ir.TrainConfig,
    scale: bool,
    standardization: Standardization | None,
    what: str,
) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number):
        raise DataError("E0403", f"inputs must be numbers, got {x.dtype} for {what}")
    x = x.astype(np.float32)
    if config.divide_by is not None and scale:
        x = x / np.float32(config.divide_by)
    sample = tuple(x.shape[1:])
    if sample != expected:
        if config.reshape and math.prod(sample) == math.prod(expected):
            x = x.reshape((len(x), *expected))
        elif math.prod(sample) == math.prod(expected):
            raise DataError(
                "E0401",
                f"the data has samples of shape {fmt(sample)}, {what} is {fmt(expected)}",
                hint="the sizes agree: add `reshape = true` to the train block",
            )
        else:
            raise DataError(
                "E0401",
                f"the data has samples of shape {fmt(sample)} ({math.prod(sample)} values), "
                f"{what} is {fmt(expected)} ({math.prod(expected)} values)",
                hint="change the spec's input shape to match the data",
            )
    if standardization is not None:
        flat = x.reshape(len(x), -1)
        x = standardization.apply(flat).reshape(x.shape)
    return x


def _as_class_indices(y: np.ndarray, what: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            "E0404",
            f"{what} takes one class index per sample, but the targets have shape "
            f"{fmt(y.shape[1:])} per sample",
            hint="for one-hot targets use categorical_crossentropy",
        )
    if y.dtype.kind == "f":
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError(
                "E0404",
                f"{what} needs integer class labels, but the targets have fractions",
                hint="for continuous targets use a regression loss such as mean_squared_error",
            )
        y = y.astype(np.int64)
    return y


def _check_classes(y: np.ndarray, classes: int, what: str) -> None:
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= classes:
        raise DataError(
            "E0404",
            f"the labels range from {low} to {high}, but the model outputs {classes} classes "
            f"(0 to {classes - 1}) for {what}",
            hint=f"give the last layer {high + 1} units"
            if low >= 0
            else "class labels must be 0, 1, 2, …",
        )


def prepare_targets(y: Arrays, model: ir.Model, config: ir.TrainConfig) -> Arrays:
    """Targets in the form the spec's losses take, or a DataError saying why they do not fit."""
    parts = _parts(y, len(model.outputs), "output")
    done = []
    for loss, part in zip(model.losses, parts, strict=True):
        try:
            done.append(_prepare_target(part, loss.kind, model.shape_of(loss.output), config))
        except DataError as error:
            if len(model.outputs) > 1:
                error.message = f"output '{loss.output}': {error.message}"
            raise
    return done[0] if len(done) == 1 else tuple(done)


def _prepare_target(
    y: np.ndarray, kind: str, out_shape: tuple[int, ...], config: ir.TrainConfig
) -> np.ndarray:
    loss_entry = catalogue.lookup("loss", kind)
    assert loss_entry is not None
    target = loss_entry.target  # type: ignore[attr-defined]
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.number):
        raise DataError("E0403", f"targets must be numbers, got {y.dtype}")
    if target == "sparse":
        if config.one_hot:
            raise DataError(
                "E0404",
                f"one_hot = true makes one-hot targets, but {kind} takes class indices",
                hint="remove one_hot = true, or use categorical_crossentropy",
            )
        y = _as_class_indices(y, kind)
        _check_classes(y, out_shape[-1], kind)
        return y.astype(np.int64)
    if target == "one_hot":
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and out_shape[-1] > 1):
            if not config.one_hot:
                raise DataError(
                    "E0404",
                    f"the targets are class indices, but {kind} takes one-hot vectors",
                    hint="use sparse_categorical_crossentropy, or add one_hot = true to the "
                    "train block",
                )
            y = _as_class_indices(y, kind)
            _check_classes(y, out_shape[-1], kind)
            return np.eye(out_shape[-1], dtype=np.float32)[y]
        if tuple(y.shape[1:]) != out_shape:
            raise DataError(
                "E0404",
                f"the targets have shape {fmt(y.shape[1:])} per sample, the model outputs "
                f"{fmt(out_shape)}",
                hint="give the last layer one unit per class",
            )
        return y.astype(np.float32)
    # binary and regression: targets shaped like the output
    if y.ndim == 1 and out_shape == (1,):
        y = y[:, None]
    if tuple(y.shape[1:]) != out_shape:
        raise DataError(
            "E0404",
            f"the targets have shape {fmt(y.shape[1:])} per sample, the model outputs "
            f"{fmt(out_shape)}",
            hint="make the last layer's units match the targets",
        )
    if target == "binary":
        values = np.unique(y)
        if not np.all(np.isin(values, (0, 1))):
            shown = ", ".join(str(v) for v in values[:5])
            raise DataError(
                "E0404",
                f"{kind} needs targets 0 or 1, but the targets include {shown}",
                hint="for several classes use sparse_categorical_crossentropy with one unit "
                "per class",
            )
    return y.astype(np.float32)


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    held = round(n * fraction)
    return order[held:], order[:held]


def _take(a: Arrays, index: np.ndarray) -> Arrays:
    """The samples at `index` of one array, or of each array of a tuple (one permutation)."""
    return tuple(part[index] for part in a) if isinstance(a, tuple) else a[index]


def inputs_of(raw: RawData, model: ir.Model) -> Arrays:
    """The inputs a source gives for a model: its x, or its arrays named like the inputs."""
    return _by_name(raw, model, outputs=False)[0] if raw.named is not None else raw.x


def _by_name(raw: RawData, model: ir.Model, outputs: bool = True) -> tuple[Arrays, Arrays]:
    """x and y from a source's named arrays: those named like the model's inputs and outputs."""
    assert raw.named is not None
    names = [source.name for source in model.inputs] + (list(model.outputs) if outputs else [])
    missing = [name for name in names if name not in raw.named]
    if missing:
        raise DataError(
            "E0402",
            f"the data has no array named {missing[0]!r} for the model's "
            f"{'input' if missing[0] in names[: len(model.inputs)] else 'output'}",
            hint=f"arrays: {', '.join(raw.named) or 'none'}; name the model's inputs and "
            'outputs like them, or list them: npz("file", x=[…], y=[…])',
        )
    xs = tuple(raw.named[source.name] for source in model.inputs)
    ys = tuple(raw.named[name] for name in model.outputs) if outputs else (None,)
    return (xs[0] if len(xs) == 1 else xs), (ys[0] if len(ys) == 1 else ys)


def prepare(model: ir.Model, config: ir.TrainConfig) -> Prepared:
    """Load the spec's data and make it ready for training, or raise a DataError."""
    if config.data is None:
        raise DataError(
            "E0402",
            "the spec names no training data",
            hint="add `data = digits` (or another source) to the train block, or pass --data",
        )
    raw = load(config.data, config.seed)
    return prepare_raw(raw, model, config)


def prepare_raw(raw: RawData, model: ir.Model, config: ir.TrainConfig) -> Prepared:
    rng = np.random.default_rng(config.seed)
    raw_x, raw_y = _by_name(raw, model) if raw.named is not None else (raw.x, raw.y)
    y = prepare_targets(raw_y, model, config)
    x = preprocess_inputs(raw_x, model, config)
    if count(x) != count(y):
        raise DataError("E0403", f"{count(x)} inputs but {count(y)} targets")
    if raw.x_test is not None and raw.y_test is not None:
        x_test = preprocess_inputs(raw.x_test, model, config)
        y_test = prepare_targets(raw.y_test, model, config)
    elif config.test_split > 0:
        keep, held = _split(count(x), config.test_split, rng)
        x, y, x_test, y_test = _take(x, keep), _take(y, keep), _take(x, held), _take(y, held)
    else:
        x_test = y_test = None
    x_val = y_val = None
    if config.validation_split > 0:
        keep, held = _split(count(x), config.validation_split, rng)
        x, y, x_val, y_val = _take(x, keep), _take(y, keep), _take(x, held), _take(y, held)
    if count(x) == 0:
        raise DataError(
            "E0403", "no training samples are left after the test and validation splits"
        )
    standardization = None
    if config.standardize:
        standardization = {}
        parts = x if isinstance(x, tuple) else (x,)
        for source, part in zip(model.inputs, parts, strict=True):
            if source.name in scaled_inputs(model):
                flat = part.reshape(len(part), -1)
                std = flat.std(axis=0)
                standardization[source.name] = Standardization(
                    flat.mean(axis=0), np.where(std > 0, std, 1.0)
                )
        x, x_val, x_test = (_standardize(a, model, standardization) for a in (x, x_val, x_test))
    return Prepared(
        x_train=_contiguous(x, np.float32),
        y_train=_contiguous(y, None),
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        description=raw.description,
        standardization=standardization,
    )


def _standardize(
    a: Arrays | None, model: ir.Model, stats: dict[str, Standardization]
) -> Arrays | None:
    if a is None:
        return None
    parts = a if isinstance(a, tuple) else (a,)
    done = []
    for source, part in zip(model.inputs, parts, strict=True):
        if source.name in stats:
            part = stats[source.name].apply(part.reshape(len(part), -1)).reshape(part.shape)
        done.append(part)
    return tuple(done) if isinstance(a, tuple) else done[0]


def _contiguous(a: Arrays, dtype: Any) -> Arrays:
    if isinstance(a, tuple):
        return tuple(np.ascontiguousarray(part, dtype=dtype) for part in a)
    return np.ascontiguousarray(a, dtype=dtype)
