"""Data for a spec: load its source, preprocess as declared, and check it fits the model.

Every mismatch between the data and the spec is found here, before the first training step,
and raised as a `DataError` with a hint (shown as a diagnostic on the spec's `data =` line):
inputs of the wrong shape, integer labels for a one-hot loss, labels outside the model's
classes, non-binary targets for binary cross-entropy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from netspec import catalogue, ir
from netspec.catalogue.data import DataError, RawData
from netspec.catalogue.shapes import fmt

__all__ = ["DataError", "Prepared", "Standardization", "load", "prepare", "preprocess_inputs"]


@dataclass
class Standardization:
    """Per-feature mean and standard deviation, fitted on the training split."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)


@dataclass
class Prepared:
    """Arrays ready for training: inputs shaped as the spec's input, targets as its loss needs."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    description: str
    standardization: Standardization | None

    def summary(self) -> dict[str, Any]:
        def count(a: np.ndarray | None) -> int:
            return 0 if a is None else len(a)

        return {
            "source": self.description,
            "train": count(self.x_train),
            "validation": count(self.x_val),
            "test": count(self.x_test),
            "input_shape": list(self.x_train.shape[1:]),
            "target_shape": list(self.y_train.shape[1:]),
        }


def load(source: ir.DataSource, seed: int) -> RawData:
    entry = catalogue.lookup("data", source.kind)
    assert entry is not None, source.kind  # validated by check
    return entry().load(source.params, seed)  # type: ignore[attr-defined]


def preprocess_inputs(
    x: np.ndarray,
    model: ir.Model,
    config: ir.TrainConfig,
    standardization: Standardization | None = None,
) -> np.ndarray:
    """Scale and reshape inputs as the spec declares, then check their shape."""
    x = np.asarray(x, dtype=np.float32)
    if config.divide_by is not None:
        x = x / np.float32(config.divide_by)
    expected = model.inputs[0].shape
    sample = tuple(x.shape[1:])
    if sample != expected:
        if config.reshape and math.prod(sample) == math.prod(expected):
            x = x.reshape((len(x), *expected))
        elif math.prod(sample) == math.prod(expected):
            raise DataError(
                "E0401",
                f"the data has samples of shape {fmt(sample)}, the model's input is {fmt(expected)}",
                hint="the sizes agree: add `reshape = true` to the train block",
            )
        else:
            raise DataError(
                "E0401",
                f"the data has samples of shape {fmt(sample)} ({math.prod(sample)} values), "
                f"the model's input is {fmt(expected)} ({math.prod(expected)} values)",
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


def prepare_targets(y: np.ndarray, model: ir.Model, config: ir.TrainConfig) -> np.ndarray:
    """Targets in the form the spec's loss takes, or a DataError saying why they do not fit."""
    loss_entry = catalogue.lookup("loss", model.loss.kind)
    assert loss_entry is not None
    target = loss_entry.target  # type: ignore[attr-defined]
    out_shape = model.output_shape
    kind = model.loss.kind
    y = np.asarray(y)
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
    y = prepare_targets(raw.y, model, config)
    x = preprocess_inputs(raw.x, model, config)
    if raw.x_test is not None and raw.y_test is not None:
        x_test = preprocess_inputs(raw.x_test, model, config)
        y_test = prepare_targets(raw.y_test, model, config)
    elif config.test_split > 0:
        keep, held = _split(len(x), config.test_split, rng)
        x, y, x_test, y_test = x[keep], y[keep], x[held], y[held]
    else:
        x_test = y_test = None
    x_val = y_val = None
    if config.validation_split > 0:
        keep, held = _split(len(x), config.validation_split, rng)
        x, y, x_val, y_val = x[keep], y[keep], x[held], y[held]
    if len(x) == 0:
        raise DataError(
            "E0403", "no training samples are left after the test and validation splits"
        )
    standardization = None
    if config.standardize:
        flat = x.reshape(len(x), -1)
        std = flat.std(axis=0)
        standardization = Standardization(flat.mean(axis=0), np.where(std > 0, std, 1.0))

        def apply(a: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            return standardization.apply(a.reshape(len(a), -1)).reshape(a.shape)

        x, x_val, x_test = apply(x), apply(x_val), apply(x_test)
    return Prepared(
        x_train=np.ascontiguousarray(x, dtype=np.float32),
        y_train=np.ascontiguousarray(y),
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        description=raw.description,
        standardization=standardization,
    )
