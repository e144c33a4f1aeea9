"""Data for a spec: load its source, preprocess as declared, and check it fits the model.

Every mismatch between the data and the spec is found here, before the first training step,
and raised as a `DataError` with a hint (shown as a diagnostic on the spec's `data =` line):
inputs of the wrong shape, integer labels for a one-hot loss, labels outside the model's
classes, non-binary targets for binary cross-entropy.

Preprocessing is stated once per input and per output, as a rule (`InputRule`,
`TargetRule`) that checks a whole column before training and converts any batch of its rows.
A split (`Split`) applies the rules to the rows a batch asks for, so the same values reach
the model whether the whole set is converted up front (the in-memory pipeline, `arrays()`)
or batch by batch while training (the streaming pipeline, `split[rows]`): the conversions
are element-wise, so both give the same bits.

A model with several inputs or outputs takes one array per input and per output, in the
order of its inputs and outputs (a tuple each way); each array is checked as a lone one is,
and one permutation splits them all. `divide_by` and `standardize` scale every input except
those only Embedding layers read (token ids); each input is standardized on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from netspec import catalogue, ir
from netspec.catalogue.columns import ColumnError
from netspec.catalogue.data import DataError, RawData
from netspec.catalogue.shapes import flatten_hint, fmt
from netspec.catalogue.values import scan

__all__ = [
    "DataError",
    "InputRule",
    "Prepared",
    "Split",
    "Standardization",
    "TargetRule",
    "load",
    "prepare",
    "preprocess_inputs",
]

CHUNK = 8192
"""Rows converted at a time when a whole column is checked or converted: bounds the memory
of the float64 intermediates of a large memory-mapped column."""


@dataclass
class Standardization:
    """Per-feature mean and standard deviation, fitted on the training split (in float64)."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(len(x), math.prod(x.shape[1:]))  # also for no rows (a worker's empty share)
        return ((flat - self.mean) / self.std).astype(np.float32).reshape(x.shape)


Arrays = Any  # one array, or a tuple of arrays: one per model input (or output), in order


def _parts(a: Arrays, expected: int, what: str) -> tuple[Any, ...]:
    """The arrays of a split, one per input (or output): a DataError when they do not match."""
    parts = a if isinstance(a, tuple) else (a,)
    if len(parts) != expected:
        raise DataError(
            "E0401",
            f"the data gives {len(parts)} {what} array{'s' if len(parts) != 1 else ''}, "
            f"the model has {expected} {what}{'s' if expected != 1 else ''}",
            hint=f'list one array per model {what}, in order: npz("file", x=[…], y=[…])',
        )
    for part in parts:
        if not _shape(part):  # a 0-d array: one number, no samples to count
            raise DataError(
                "E0403",
                f"the {'inputs' if what == 'input' else 'targets'} are a single number "
                "(a 0-d array), not an array of samples",
                hint="give one row per sample: an array of shape [samples, …]",
            )
    lengths = {len(part) for part in parts}
    if len(lengths) > 1:
        raise DataError(
            "E0403", f"the {what} arrays differ in length: {', '.join(str(len(p)) for p in parts)}"
        )
    return tuple(parts)


def _shape(column: Any) -> tuple[int, ...]:
    """A column's shape, without reading it (a column that reads rows on demand has one)."""
    shape = getattr(column, "shape", None)
    return tuple(shape) if shape is not None else tuple(np.shape(column))


def _chunks(column: Any) -> Iterator[np.ndarray]:
    """A column's rows in order, CHUNK at a time."""
    for start in range(0, len(column), CHUNK):
        yield np.asarray(column[np.arange(start, min(start + CHUNK, len(column)))])


def _numeric(dtype: np.dtype) -> bool:
    """Real numbers: complex ones would lose their imaginary part, silently."""
    return bool(np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.complexfloating))


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class InputRule:
    """How one input's raw samples become what the model reads: float32, divided by
    `divide_by`, reshaped to the spec's shape, standardized with the training statistics."""

    name: str
    what: str  # how messages name the input: "the model's input" or "input 'profile'"
    shape: ir.Shape
    divide_by: float | None
    reshape: bool
    standardization: Standardization | None = None

    def check(self, column: Any) -> None:
        """Numbers of the input's shape (or of its size, with `reshape`): from the column's
        dtype and shape alone, without reading it."""
        dtype = np.dtype(column.dtype)
        if not _numeric(dtype):
            raise DataError(
                "E0403",
                f"inputs must be numbers, got {dtype} for {self.what}",
                hint="give real and imaginary parts as features of their own"
                if np.issubdtype(dtype, np.complexfloating)
                else None,
            )
        sample = tuple(column.shape[1:])
        expected = self.shape
        if sample == expected or (self.reshape and math.prod(sample) == math.prod(expected)):
            return
        if math.prod(sample) == math.prod(expected):
            raise DataError(
                "E0401",
                f"the data has samples of shape {fmt(sample)}, {self.what} is {fmt(expected)}",
                hint="the sizes agree: add `reshape = true` to the train block",
            )
        raise DataError(
            "E0401",
            f"the data has samples of shape {fmt(sample)} ({math.prod(sample)} values), "
            f"{self.what} is {fmt(expected)} ({math.prod(expected)} values)",
            hint="change the spec's input shape to match the data",
        )

    def apply(self, rows: np.ndarray) -> np.ndarray:
        x = np.asarray(rows).astype(np.float32)  # a new array: divided in place
        if self.divide_by is not None:
            x /= np.float32(self.divide_by)
        if tuple(x.shape[1:]) != self.shape:
            x = x.reshape((len(x), *self.shape))
        if self.standardization is not None:
            x = self.standardization.apply(x)
        return x

    def with_statistics(self, stats: Standardization | None) -> InputRule:
        return InputRule(self.name, self.what, self.shape, self.divide_by, self.reshape, stats)


def scaled_inputs(model: ir.Model) -> list[str]:
    """The inputs that divide_by and standardize scale: all but token ids (read by Embeddings)."""
    names = []
    for source in model.inputs:
        readers = [layer for layer in model.layers if source.name in layer.inputs]
        if not readers or not all(_reads_token_ids(layer) for layer in readers):
            names.append(source.name)
    return names


def _reads_token_ids(layer: ir.Layer) -> bool:
    return catalogue.layer(layer.kind).reads_token_ids


def input_rules(
    model: ir.Model,
    config: ir.TrainConfig,
    standardization: dict[str, Standardization] | None = None,
) -> tuple[InputRule, ...]:
    scaled = scaled_inputs(model)
    rules = []
    for source in model.inputs:
        what = "the model's input" if len(model.inputs) == 1 else f"input '{source.name}'"
        scale = source.name in scaled
        rules.append(
            InputRule(
                source.name,
                what,
                source.shape,
                config.divide_by if scale else None,
                config.reshape,
                (standardization or {}).get(source.name),
            )
        )
    return tuple(rules)


def check_values(column: Any, what: str, description: str = "") -> None:
    """No NaN, infinity or huge number in a column (values.py says why): a DataError that
    names the array, the count and the first one's index."""
    found = scan(column)
    if found is not None:
        source = f" ({description})" if description else ""
        raise DataError("E0405", f"{what}{source} hold {found.describe()}", hint=found.hint)


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class TargetRule:
    """How one output's targets become what its loss takes, and what they must satisfy.

    `form` is decided from the targets' shape when the rule is made: `indices` (class
    indices, kept or turned one-hot), `values` (arrays shaped like the output).
    """

    loss: str
    target: str  # the loss's kind of targets: sparse, one_hot, binary or regression
    out_shape: ir.Shape
    form: str  # "indices", "one_hot_from_indices" or "values"
    squeeze: bool  # (N, 1) class indices become (N,)
    expand: bool  # (N,) values for a one-unit output become (N, 1)
    output: str = ""  # the output's name, for messages of a model with several
    hard: bool = False  # binary targets must be exactly 0 or 1 (class weights need a class)

    @classmethod
    def of(cls, column: Any, loss: ir.Loss, out_shape: ir.Shape, config: ir.TrainConfig) -> TargetRule:
        """The rule for a column of targets: a DataError when their shape cannot fit."""
        target = catalogue.loss(loss.kind).target
        shape = tuple(column.shape)
        if not _numeric(np.dtype(column.dtype)):
            raise DataError("E0403", f"targets must be numbers, got {column.dtype}")
        squeeze = len(shape) == 2 and shape[1] == 1
        ndim = len(shape) - (1 if squeeze else 0)
        if target == "sparse":
            if config.one_hot:
                raise DataError(
                    "E0404",
                    f"one_hot = true makes one-hot targets, but {loss.kind} takes class indices",
                    hint="remove one_hot = true, or use categorical_crossentropy",
                )
            _one_index_per_sample(shape, ndim, loss.kind)
            return cls(loss.kind, target, out_shape, "indices", squeeze, False)
        if target == "one_hot":
            if len(shape) == 1 or (squeeze and out_shape[-1] > 1):
                if not config.one_hot:
                    raise DataError(
                        "E0404",
                        f"the targets are class indices, but {loss.kind} takes one-hot vectors",
                        hint="use sparse_categorical_crossentropy, or add one_hot = true to the "
                        "train block",
                    )
                return cls(loss.kind, target, out_shape, "one_hot_from_indices", squeeze, False)
            if shape[1:] != out_shape:
                raise DataError(
                    "E0404",
                    f"the targets have shape {fmt(shape[1:])} per sample, the model outputs "
                    f"{fmt(out_shape)}",
                    hint="give the last layer one unit per class",
                )
            return cls(loss.kind, target, out_shape, "values", False, False)
        expand = len(shape) == 1 and out_shape == (1,)
        sample = (1,) if expand else shape[1:]
        if sample != out_shape:
            # [28, 28] into Dense(1) outputs [28, 1]: one target per sample asks for a Flatten
            unflattened = len(out_shape) > 1 and sample in ((), out_shape[-1:])
            given = "one value" if sample == () else f"shape {fmt(sample)}"
            raise DataError(
                "E0404",
                f"the targets have {given} per sample, the model outputs {fmt(out_shape)}",
                hint=flatten_hint(out_shape) if unflattened
                else "make the last layer's units match the targets",
            )
        hard = target == "binary" and config.class_weight is not None
        return cls(loss.kind, target, out_shape, "values", False, expand, hard=hard)

    @property
    def sample_shape(self) -> ir.Shape:
        """The shape of one converted target."""
        if self.form == "indices":
            return ()
        return self.out_shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.int64 if self.form == "indices" else np.float32)

    def check(self, column: Any) -> None:
        """Every target's values, read a chunk at a time: whole class indices inside the
        model's classes, 0 or 1 for binary cross-entropy."""
        if self.form in ("indices", "one_hot_from_indices"):
            low, high = None, None
            for chunk in _chunks(column):
                chunk = chunk.reshape(len(chunk))
                if chunk.dtype.kind == "f" and not np.all(np.equal(np.mod(chunk, 1), 0)):
                    raise DataError(
                        "E0404",
                        f"{self.loss} needs integer class labels, but the targets have fractions",
                        hint="for continuous targets use a regression loss such as "
                        "mean_squared_error",
                    )
                if len(chunk):
                    low = int(chunk.min()) if low is None else min(low, int(chunk.min()))
                    high = int(chunk.max()) if high is None else max(high, int(chunk.max()))
            if low is not None and high is not None:
                self._check_classes(low, high)
        elif self.target == "binary":
            self._check_binary(column)

    def _check_binary(self, column: Any) -> None:
        """Targets in [0, 1]: hard labels, or soft ones (probabilities, label smoothing), as
        Keras and PyTorch take them; exactly 0 or 1 when class weights need each class."""
        total = outside = 0
        wrong: set[float] = set()  # a few of the values outside [0, 1], to show
        soft: set[float] = set()  # a few of those strictly between 0 and 1
        for chunk in _chunks(column):
            values = chunk.reshape(-1).astype(np.float64, copy=False)
            inside = (values >= 0) & (values <= 1)  # false for NaN too
            total += values.size
            outside += int(values.size - np.count_nonzero(inside))
            if len(wrong) < 20:
                wrong.update(np.unique(values[~inside])[:20].tolist())
            if self.hard and len(soft) < 20:
                soft.update(np.unique(values[inside & (values != 0) & (values != 1)])[:20].tolist())
        if outside:
            shown = _few(wrong)
            whole = all(v == int(v) and v > 1 for v in wrong if np.isfinite(v))
            if wrong == {-1.0}:
                hint = "the targets look like -1/1 labels: map them to 0/1, (y + 1) / 2"
            elif whole and max(wrong) == 255:
                hint = "the targets look like 8-bit masks (0 and 255): divide them by 255"
            elif whole:
                hint = ("for several classes use sparse_categorical_crossentropy with one unit "
                        "per class; for real values a regression loss such as mean_squared_error")
            else:
                hint = ("clip or rescale the targets into [0, 1] (e.g. numpy.clip(y, 0, 1)); for "
                        "real values use a regression loss such as mean_squared_error")
            raise DataError(
                "E0404",
                f"{self.loss} needs targets in [0, 1], but {outside:,} of {total:,} targets are "
                f"outside it: {shown}",
                hint=hint,
            )
        if soft:
            raise DataError(
                "E0404",
                f"class_weight weighs each sample by its class, 0 or 1, but the targets include "
                f"soft values: {_few(soft)}",
                hint="remove class_weight, or round the targets to 0 or 1",
            )

    def _check_classes(self, low: int, high: int) -> None:
        classes = self.out_shape[-1]
        if low < 0 or high >= classes:
            raise DataError(
                "E0404",
                f"the labels range from {low} to {high}, but the model outputs {classes} classes "
                f"(0 to {classes - 1}) for {self.loss}",
                hint=f"give the last layer {high + 1} units"
                if low >= 0
                else "class labels must be 0, 1, 2, …",
            )

    def apply(self, rows: np.ndarray) -> np.ndarray:
        y = np.asarray(rows)
        if self.squeeze:
            y = y[:, 0]
        if self.form == "indices":
            return y.astype(np.int64)
        if self.form == "one_hot_from_indices":
            return np.eye(self.out_shape[-1], dtype=np.float32)[y.astype(np.int64)]
        if self.expand:
            y = y[:, None]
        return y.astype(np.float32)


def _few(values: set[float], limit: int = 5) -> str:
    """Some of a set of numbers, sorted and written short: `-0.5, 1.5, 3, …`."""
    ordered = sorted(values, key=lambda v: (np.isnan(v), v))
    shown = ", ".join(f"{v:g}" for v in ordered[:limit])
    return shown + (", …" if len(ordered) > limit else "")


def _one_index_per_sample(shape: tuple[int, ...], ndim: int, kind: str) -> None:
    if ndim != 1:
        raise DataError(
            "E0404",
            f"{kind} takes one class index per sample, but the targets have shape "
            f"{fmt(shape[1:])} per sample",
            hint="for one-hot targets use categorical_crossentropy",
        )


def target_rules(y: Arrays, model: ir.Model, config: ir.TrainConfig) -> tuple[TargetRule, ...]:
    """A rule per output for these targets (checked against the losses by shape and dtype)."""
    parts = _parts(y, len(model.outputs), "output")
    rules = []
    for loss, part in zip(model.losses, parts, strict=True):
        with _naming(model, loss.output):
            rule = TargetRule.of(part, loss, model.shape_of(loss.output), config)
        rules.append(rule if len(model.outputs) == 1 else replace(rule, output=loss.output))
    return tuple(rules)


class _naming:
    """Prefixes a DataError's message with the output it is about (several outputs)."""

    def __init__(self, model: ir.Model, output: str) -> None:
        self.prefix = f"output '{output}': " if len(model.outputs) > 1 else ""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> bool:
        if isinstance(error, DataError) and self.prefix and not error.message.startswith(self.prefix):
            error.message = self.prefix + error.message
        return False


def check_targets(columns: Arrays, rules: tuple[TargetRule, ...], model: ir.Model) -> None:
    parts = columns if isinstance(columns, tuple) else (columns,)
    for rule, part in zip(rules, parts, strict=True):
        with _naming(model, rule.output or model.outputs[0]):
            rule.check(part)


# --------------------------------------------------------------------------- splits


@dataclass
class Split:
    """The samples of one split, converted when read: `split[positions]` gives the batch
    `(x, y)` of those positions (0 … len - 1, in the order asked), as the model takes it.

    It is what the generated modules' streaming pipelines read (a DataLoader's dataset, a
    `tf.data` source), and `arrays()` is the whole split at once, for the in-memory one.
    """

    x: tuple[Any, ...]  # a column per input
    y: tuple[Any, ...] | None  # a column per output; None for inputs alone
    rows: np.ndarray | None  # the columns' rows this split holds, in order; None: all
    inputs: tuple[InputRule, ...]
    targets: tuple[TargetRule, ...]
    tuples: bool = False  # x and y as tuples even of one array (a model with several in or out)
    _arrays: tuple[Arrays, Arrays] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.x[0]) if self.rows is None else len(self.rows)

    def __getitem__(self, positions: Any) -> tuple[Arrays, Arrays]:
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        rows = positions if self.rows is None else self.rows[positions]
        try:
            xs = tuple(rule.apply(column[rows]) for rule, column in zip(self.inputs, self.x, strict=True))
            ys = (
                tuple(rule.apply(column[rows]) for rule, column in zip(self.targets, self.y, strict=True))
                if self.y is not None
                else None
            )
        except ColumnError as error:
            raise DataError("E0402", error.message, error.hint) from None
        if self.tuples:
            return xs, ys
        return _single(xs), (_single(ys) if ys is not None else None)

    def arrays(self) -> tuple[Arrays, Arrays]:
        """(x, y) of every sample, converted CHUNK rows at a time (cached)."""
        if self._arrays is None:
            n = len(self)
            xs: list[np.ndarray] = []
            ys: list[np.ndarray] = []
            for start in range(0, max(n, 1), CHUNK):
                x, y = self[np.arange(start, min(start + CHUNK, n))]
                x_parts = x if isinstance(x, tuple) else (x,)
                y_parts = (y if isinstance(y, tuple) else (y,)) if y is not None else ()
                if start == 0:
                    xs = [np.empty((n, *p.shape[1:]), p.dtype) for p in x_parts]
                    ys = [np.empty((n, *p.shape[1:]), p.dtype) for p in y_parts]
                for whole, part in zip([*xs, *ys], [*x_parts, *y_parts], strict=True):
                    whole[start : start + len(part)] = part
            x_all, y_all = tuple(xs), (tuple(ys) if self.y is not None else None)
            if not self.tuples:
                x_all, y_all = _single(x_all), (_single(y_all) if y_all is not None else None)
            self._arrays = (x_all, y_all)
        return self._arrays

    @property
    def sample_bytes(self) -> int:
        """Bytes one converted sample takes (inputs float32, targets as converted)."""
        size = sum(4 * math.prod(rule.shape) for rule in self.inputs)
        size += sum(rule.dtype.itemsize * math.prod(rule.sample_shape) for rule in self.targets)
        return size

    def with_inputs(self, inputs: tuple[InputRule, ...]) -> Split:
        return Split(self.x, self.y, self.rows, inputs, self.targets, self.tuples)


def _single(parts: tuple[np.ndarray, ...]) -> Arrays:
    return parts[0] if len(parts) == 1 else parts


def _columns(a: Arrays) -> tuple[Any, ...]:
    return a if isinstance(a, tuple) else (a,)


# --------------------------------------------------------------------------- prepared data


@dataclass
class Prepared:
    """The splits of a spec's data, checked against the model, ready to read.

    `x_train`, `y_train`, … are the splits converted whole (the in-memory pipeline): one
    array each with one input and one output, a tuple of arrays with several. The splits
    themselves (`train`, `validation`, `test`) read batches on demand (the streaming one).
    `standardization` holds one Standardization per standardized input, by input name.
    """

    train: Split
    validation: Split | None
    test: Split | None
    description: str
    standardization: dict[str, Standardization] | None
    class_names: tuple[str, ...] | None = None
    decodes: bool = False  # reading a sample decodes a file (an image folder)
    feature_names: tuple[str, ...] | None = None  # the inputs' columns, where named (a CSV)

    @property
    def samples(self) -> int:
        return len(self.train)

    @property
    def x_train(self) -> Arrays:
        return self.train.arrays()[0]

    @property
    def y_train(self) -> Arrays:
        return self.train.arrays()[1]

    @property
    def x_val(self) -> Arrays | None:
        return self.validation.arrays()[0] if self.validation is not None else None

    @property
    def y_val(self) -> Arrays | None:
        return self.validation.arrays()[1] if self.validation is not None else None

    @property
    def x_test(self) -> Arrays | None:
        return self.test.arrays()[0] if self.test is not None else None

    @property
    def y_test(self) -> Arrays | None:
        return self.test.arrays()[1] if self.test is not None else None

    def nbytes(self) -> int:
        """Bytes of every split converted whole: what the in-memory pipeline holds."""
        splits = [s for s in (self.train, self.validation, self.test) if s is not None]
        return sum(len(s) * s.sample_bytes for s in splits)

    def summary(self) -> dict[str, Any]:
        def shapes(rules: tuple[Any, ...], attribute: str) -> list[int] | list[list[int]]:
            found = [list(getattr(rule, attribute)) for rule in rules]
            return found[0] if len(found) == 1 else found

        result: dict[str, Any] = {
            "source": self.description,
            "train": len(self.train),
            "validation": len(self.validation) if self.validation is not None else 0,
            "test": len(self.test) if self.test is not None else 0,
            "input_shape": shapes(self.train.inputs, "shape"),
            "target_shape": shapes(self.train.targets, "sample_shape"),
        }
        if self.class_names is not None:
            result["classes"] = list(self.class_names)
        if self.feature_names is not None:  # what `netspec predict` reads a CSV's columns by
            result["features"] = list(self.feature_names)
        return result


def load(source: ir.DataSource, seed: int, input_shape: ir.Shape | None = None) -> RawData:
    entry = catalogue.data_source(source.kind)  # validated by check
    if entry.needs_input_shape:
        if input_shape is None:
            raise DataError("E0402", f"data source '{source.kind}' needs the model's input shape")
        return entry.load_shaped(source.params, seed, input_shape)
    return entry.load(source.params, seed)


def load_for(model: ir.Model, source: ir.DataSource) -> RawData:
    """The source's data, loaded for the model (image sources take its input's shape)."""
    return load(source, model.train.seed, model.inputs[0].shape)


def preprocess_inputs(
    x: Arrays,
    model: ir.Model,
    config: ir.TrainConfig,
    standardization: dict[str, Standardization] | None = None,
) -> Arrays:
    """Scale and reshape inputs as the spec declares, after checking their shapes."""
    model = model if config is model.train else model.model_copy(update={"train": config})
    return input_split(x, model, standardization).arrays()[0]


def input_split(
    x: Arrays,
    model: ir.Model,
    standardization: dict[str, Standardization] | None = None,
    description: str = "",
) -> Split:
    """Inputs alone (for predict), checked, converted as in training when read; messages
    name the source by `description`."""
    parts = _parts(x, len(model.inputs), "input")
    rules = input_rules(model, model.train, standardization)
    for rule, part in zip(rules, parts, strict=True):
        rule.check(part)
    for rule, part in zip(rules, parts, strict=True):
        what = f"the '{rule.name}' inputs" if len(rules) > 1 else "the inputs"
        check_values(part, what, description)
    return Split(parts, None, None, rules, (), not model.single_io)


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    held = round(n * fraction)
    return order[held:], order[:held]


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
    raw = load_for(model, config.data)
    return prepare_raw(raw, model, config)


def prepare_raw(raw: RawData, model: ir.Model, config: ir.TrainConfig) -> Prepared:
    """Check the source's columns against the model and split them; nothing is converted
    yet except what the checks read (targets, and the training inputs for standardize)."""
    rng = np.random.default_rng(config.seed)
    tuples = not model.single_io
    raw_x, raw_y = _by_name(raw, model) if raw.named is not None else (raw.x, raw.y)
    inputs = input_rules(model, config)

    def checked(x: Arrays, y: Arrays, split: str) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[TargetRule, ...]]:
        """The columns of one split and their target rules, every check passed: shapes,
        lengths, values (no NaN, infinity or huge number), targets against the loss."""
        rules = target_rules(y, model, config)
        xs, ys = _parts(x, len(model.inputs), "input"), _columns(y)
        for rule, column in zip(rules, ys, strict=True):
            named = f" '{rule.output}'" if rule.output else ""
            check_values(column, f"the{split}{named} targets", raw.description)
        check_targets(y, rules, model)
        for rule, column in zip(inputs, xs, strict=True):
            rule.check(column)
        if len(xs[0]) != len(ys[0]):
            raise DataError("E0403", f"{len(xs[0])} inputs but {len(ys[0])} targets")
        for rule, column in zip(inputs, xs, strict=True):
            named = f" '{rule.name}'" if len(inputs) > 1 else ""
            check_values(column, f"the{split}{named} inputs", raw.description)
        return xs, ys, rules

    x_columns, y_columns, rules_y = checked(raw_x, raw_y, "")
    _check_class_names(raw, rules_y)

    def own(x: Arrays | None, y: Arrays | None, split: str) -> Split | None:
        if x is None or y is None:
            return None
        xs, ys, own_rules = checked(x, y, f" {split}")
        return Split(xs, ys, None, inputs, own_rules, tuples)

    test = own(raw.x_test, raw.y_test, "test")
    validation = own(raw.x_val, raw.y_val, "validation")
    samples = len(x_columns[0])
    if samples == 0:
        raise DataError(
            "E0403",
            f"{raw.description or 'the data'} holds no samples",
            hint="a CSV needs rows below its header; arrays need at least one row",
        )
    keep = np.arange(samples)
    if test is None and config.test_split > 0:
        kept, held = _split(samples, config.test_split, rng)
        _held_some(held, samples, config.test_split, "test_split")
        keep, test = kept, Split(x_columns, y_columns, held, inputs, rules_y, tuples)
    if config.validation_split > 0:
        if validation is not None:
            raise DataError(
                "E0402",
                "the data source has a validation set of its own, and validation_split "
                "asks for another",
                hint="remove validation_split from the train block",
            )
        kept, held = _split(len(keep), config.validation_split, rng)
        _held_some(held, len(keep), config.validation_split, "validation_split")
        validation = Split(x_columns, y_columns, keep[held], inputs, rules_y, tuples)
        keep = keep[kept]
    if len(keep) == 0:
        raise DataError(
            "E0403", "no training samples are left after the test and validation splits"
        )
    train = Split(x_columns, y_columns, keep, inputs, rules_y, tuples)
    standardization = None
    if config.standardize:
        standardization = fit_standardization(train, scaled_inputs(model))
        inputs = tuple(rule.with_statistics(standardization.get(rule.name)) for rule in inputs)
        train, validation, test = (
            None if s is None else s.with_inputs(inputs) for s in (train, validation, test)
        )
        assert train is not None
    return Prepared(
        train=train,
        validation=validation,
        test=test,
        description=raw.description,
        standardization=standardization,
        class_names=raw.class_names,
        decodes=raw.decodes,
        feature_names=raw.feature_names,
    )


def _held_some(held: np.ndarray, samples: int, fraction: float, setting: str) -> None:
    """A split asked for holds at least one sample: an empty one would report a NaN loss."""
    if len(held) == 0:
        least = math.floor(0.5 / fraction) + 1  # round() of half a sample is 0
        raise DataError(
            "E0403",
            f"{setting} = {fraction:g} of {samples} sample{'s' if samples != 1 else ''} "
            "holds none",
            hint=f"give at least {least} samples, or set {setting} = 0",
        )


def _check_class_names(raw: RawData, rules: tuple[TargetRule, ...]) -> None:
    """A source that names its classes (an image folder) must have the model's number."""
    if raw.class_names is None or len(rules) != 1 or rules[0].form == "values":
        return
    classes = rules[0].out_shape[-1]
    if len(raw.class_names) != classes:
        names = ", ".join(raw.class_names[:6]) + (", …" if len(raw.class_names) > 6 else "")
        raise DataError(
            "E0404",
            f"the data has {len(raw.class_names)} classes ({names}), but the model outputs "
            f"{classes}",
            hint=f"give the last layer {len(raw.class_names)} units",
        )


def fit_standardization(train: Split, names: list[str]) -> dict[str, Standardization]:
    """Mean and standard deviation of each scaled input over the training split, per feature,
    accumulated in float64 a chunk at a time (Chan et al.'s pairwise update)."""
    positions = {rule.name: k for k, rule in enumerate(train.inputs)}
    wanted = [name for name in names if name in positions]
    totals: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
    unscaled = Split(train.x, None, train.rows, train.inputs, (), train.tuples)
    for start in range(0, len(train), CHUNK):
        x, _ = unscaled[np.arange(start, min(start + CHUNK, len(train)))]
        parts = x if isinstance(x, tuple) else (x,)
        for name in wanted:
            flat = parts[positions[name]].reshape(len(parts[positions[name]]), -1).astype(np.float64)
            n_b, mean_b = len(flat), flat.mean(axis=0)
            m2_b = ((flat - mean_b) ** 2).sum(axis=0)
            if name not in totals:
                totals[name] = (n_b, mean_b, m2_b)
                continue
            n_a, mean_a, m2_a = totals[name]
            n = n_a + n_b
            delta = mean_b - mean_a
            totals[name] = (n, mean_a + delta * n_b / n, m2_a + m2_b + delta**2 * n_a * n_b / n)
    stats = {}
    for name, (n, mean, m2) in totals.items():
        std = np.sqrt(m2 / n)
        stats[name] = Standardization(mean, np.where(std > 0, std, 1.0))
    return stats
