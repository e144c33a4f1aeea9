"""`netspec predict`: a trained run's model on new inputs, its outputs saved as .npy, .npz or .csv.

The inputs are what `--data` names (netspec/inputs.py: a data source, or a plain file or folder,
labels never needed), converted as in training with the run's standardization statistics.
The outputs go to the file `--output` names, in the format its suffix says:

- `.npy`: the output array (a model with one output);
- `.npz`: one array per output, by output name; for a classifier also `<output>.top_class`
  (class indices) and, where the run knows them, `<output>.class_names`; `files` for images;
- `.csv`: a row per sample: its file (images), then per output a column per class named by the
  class names (or indices) and `top_class`, or a column per value (named by the CSV target the
  run trained on, or the output); with several outputs each column starts with `<output>.`.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netspec import catalogue, inputs, ir
from netspec.data import DataError, Prepared
from netspec.diagnostics import Span
from netspec.train import (
    Outcome,
    TrainOptions,
    _backend,
    _check,
    _class_names,
    _context,
    _data_span,
    _inference_plan,
    _load_run,
    _load_standardization,
    origins,
)
from netspec.train.context import TrainError

SUFFIXES = (".npy", ".npz", ".csv")


@dataclass(frozen=True)
class OutputKind:
    """What one model output holds, for naming its columns: class scores, a binary
    classifier's one score, or values."""

    name: str  # the output's name
    form: str  # "classes", "binary" or "values"
    shape: ir.Shape
    labels: tuple[str, ...] | None = None  # class names, where the run knows them
    logits: bool = False  # scores before softmax/sigmoid (from_logits = true)
    column: str | None = None  # how a one-value output's column is named (a CSV's target)


def predict(
    run_dir: Path, overrides: Mapping[str, str], options: TrainOptions, output: Path | None
) -> Outcome:
    """Outputs of the run's model for every sample `--data` names (or of the spec's data)."""
    overrides = dict(overrides)
    text = overrides.pop("data", None)
    if output is not None and output.suffix.lower() not in SUFFIXES:
        raise TrainError(
            f"--output {output}: netspec writes predictions as .npy, .npz or .csv, "
            f"not '{output.suffix or output.name}'",
            hint="end the file's name in .npy, .npz or .csv",
        )
    run, record, model, diagnostics, sources, weights, module = _load_run(
        run_dir, overrides, options
    )
    if model is None:
        return Outcome(1, diagnostics, sources)
    training = inputs.Training(model.train.data, _features(record))
    path = inputs.path_of(text) if text is not None else None
    source = None
    if text is not None and path is None:  # a data source expression, checked as in the spec
        spec = (run / "spec.net").read_text(encoding="utf-8")
        merged = {**record.get("overrides", {}), **overrides, "data": text}
        parsed, diagnostics, sources = _check(spec, record["spec"], merged)
        if parsed is None:
            return Outcome(1, diagnostics, sources)
        source = parsed.train.data
    span = _data_span(model)
    if text is not None:
        sources["--data"] = text
        span = Span(file="--data", line=1, column=1, end_line=1, end_column=len(text) + 1)
    kinds = output_kinds(model, _class_names(run), training)
    output = output or run / ("predictions.npy" if len(model.outputs) == 1 else "predictions.npz")
    _check_output(output, kinds)
    try:
        raw = inputs.load(model, training, source, path)
        split = inputs.split(raw, model, _load_standardization(run, model), training)
    except DataError as error:
        diagnostics.error(error.code, error.message, span, error.hint)
        return Outcome(1, diagnostics, sources)
    backend = _backend(record["backend"])
    prepared = Prepared(split, None, None, raw.description, None, decodes=raw.decodes)
    plan = _inference_plan(model, options, prepared, backend)
    ctx = _context(run, record, module, model, options, prepared, plan)
    try:
        outputs = backend.predict_run(ctx, weights, split)
    except Exception as error:  # a file that breaks while decoding, here or in a worker
        failure = error if isinstance(error, DataError) else DataError.from_worker(str(error))
        if failure is None:
            origins.name_spec_line(error, ctx.module_path, ctx.module_source)
            raise
        diagnostics.error(failure.code, failure.message, span, failure.hint)
        return Outcome(1, diagnostics, sources)
    arrays = outputs if isinstance(outputs, tuple) else (outputs,)
    save(output, arrays, kinds, inputs.sample_names(raw))
    return Outcome(0, diagnostics, sources, run.path, _result(arrays, kinds, output))


def _features(record: dict[str, Any]) -> tuple[str, ...] | None:
    """The feature columns the run trained on (recorded for a CSV source)."""
    names = (record.get("data") or {}).get("features")
    return tuple(str(n) for n in names) if isinstance(names, list) else None


def output_kinds(
    model: ir.Model, class_names: list[str] | None, training: inputs.Training
) -> tuple[OutputKind, ...]:
    """Each output's kind, from its loss: the columns a CSV of predictions gives it."""
    target = None
    if training.source is not None and training.source.kind == "csv" and len(model.outputs) == 1:
        target = getattr(training.source.params, "target", None)
    kinds = []
    for loss in model.losses:
        shape = model.shape_of(loss.output)
        logits = bool(getattr(loss.params, "from_logits", False))
        units = shape[-1] if len(shape) == 1 else 0
        target_kind = catalogue.loss(loss.kind).target
        if target_kind in ("sparse", "one_hot") and units > 1:
            form = "classes"
        elif target_kind == "binary" and units == 1:
            form = "binary"
        else:
            form = "values"
        named = {"classes": units, "binary": 2}.get(form)  # how many names a form takes
        labels = None
        if class_names is not None and len(model.outputs) == 1 and len(class_names) == named:
            labels = tuple(class_names)
        kinds.append(OutputKind(loss.output, form, shape, labels, logits, target))
    return tuple(kinds)


def _check_output(output: Path, kinds: tuple[OutputKind, ...]) -> None:
    """The output file's format can hold these outputs (before any prediction is made)."""
    suffix = output.suffix.lower()
    if suffix == ".npy" and len(kinds) > 1:
        raise TrainError(
            f"--output {output}: a .npy file holds one array, the model has {len(kinds)} outputs "
            f"({', '.join(k.name for k in kinds)})",
            hint="write an .npz (one array per output) or a .csv",
        )
    if suffix == ".csv":
        for kind in kinds:
            if len(kind.shape) != 1:
                raise TrainError(
                    f"--output {output}: a CSV holds a row of values per sample, but output "
                    f"'{kind.name}' is {list(kind.shape)} per sample",
                    hint="write .npy or .npz",
                )


def top_classes(kind: OutputKind, values: np.ndarray) -> np.ndarray | None:
    """The class each sample's scores pick (an index), for a classifier's output."""
    if kind.form == "classes":
        return values.argmax(axis=1).astype(np.int64)
    if kind.form == "binary":
        threshold = 0.0 if kind.logits else 0.5
        return (values[:, 0] > threshold).astype(np.int64)
    return None


def save(
    output: Path,
    arrays: tuple[np.ndarray, ...],
    kinds: tuple[OutputKind, ...],
    names: list[str] | None,
) -> None:
    """Writes the outputs in the format the file's suffix says."""
    from netspec.train.atomic import replacing

    suffix = output.suffix.lower()
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TrainError(f"cannot write {output}: {error.strerror or error}") from error
    with replacing(output) as partial:  # whole or not at all: an old file stays until then
        if suffix == ".npy":
            np.save(partial, arrays[0])
        elif suffix == ".npz":
            np.savez(partial, **_npz_arrays(arrays, kinds, names))
        else:
            _write_csv(partial, arrays, kinds, names)


def _npz_arrays(
    arrays: tuple[np.ndarray, ...], kinds: tuple[OutputKind, ...], names: list[str] | None
) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for kind, values in zip(kinds, arrays, strict=True):
        found[kind.name] = values
        top = top_classes(kind, values)
        if top is not None:
            found[f"{kind.name}.top_class"] = top
        if kind.labels is not None:
            found[f"{kind.name}.class_names"] = np.asarray(kind.labels, dtype=np.str_)
    if names is not None:
        found["files"] = np.asarray(names, dtype=np.str_)
    return found


def csv_header(kinds: tuple[OutputKind, ...], files: bool) -> list[str]:
    """The columns of a CSV of predictions."""
    header = ["file"] if files else []
    for kind in kinds:
        prefix = f"{kind.name}." if len(kinds) > 1 else ""
        header += [prefix + column for column in _columns(kind)]
    return header


def _columns(kind: OutputKind) -> list[str]:
    units = kind.shape[0]
    if kind.form == "classes":
        labels = kind.labels or tuple(str(k) for k in range(units))
        return [*labels, "top_class"]
    if kind.form == "binary":
        return ["logit" if kind.logits else "probability", "top_class"]
    base = kind.column or kind.name
    return [base] if units == 1 else [f"{base}_{k}" for k in range(units)]


def _write_csv(
    output: Path,
    arrays: tuple[np.ndarray, ...],
    kinds: tuple[OutputKind, ...],
    names: list[str] | None,
) -> None:
    pieces: list[list[list[str]]] = []
    for kind, values in zip(kinds, arrays, strict=True):
        values = np.asarray(values, dtype=np.float32).reshape(len(values), -1)
        cells = [[str(v) for v in row] for row in values]
        top = top_classes(kind, values)
        if top is not None:
            labels = kind.labels or tuple(str(k) for k in range(max(kind.shape[0], 2)))
            for row, index in zip(cells, top.tolist(), strict=True):
                row.append(labels[index])
        pieces.append(cells)
    with open(output, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(csv_header(kinds, names is not None))
        for k in range(len(arrays[0])):
            row = [names[k]] if names is not None else []
            for cells in pieces:
                row += cells[k]
            writer.writerow(row)


def _result(
    arrays: tuple[np.ndarray, ...], kinds: tuple[OutputKind, ...], output: Path
) -> dict[str, Any]:
    """What the command line shows: the count, the shapes and the first few predictions."""
    samples = len(arrays[0])
    if len(arrays) > 1:
        shapes = {kind.name: list(a.shape[1:]) for kind, a in zip(kinds, arrays, strict=True)}
        return {"samples": samples, "output_shapes": shapes, "saved": str(output)}
    values, kind = arrays[0], kinds[0]
    result: dict[str, Any] = {
        "samples": samples,
        "output_shape": list(values.shape[1:]),
        "saved": str(output),
    }
    top = top_classes(kind, values) if values.ndim == 2 else None
    if top is not None:
        result["classes"] = top[:20].tolist()
        if kind.labels is not None:
            result["class_names"] = [kind.labels[k] for k in result["classes"]]
    else:
        result["values"] = values.reshape(len(values), -1)[:20, 0].tolist()
    return result
