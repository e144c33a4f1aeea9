"""Metrics: figures reported beside the loss, lowered to Keras metrics and PyTorch expressions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from netspec.catalogue.base import Entry, PyCall
from netspec.catalogue.losses import Target


@dataclass(frozen=True)
class TorchMetric:
    doc: str
    expr: str  # of `y_pred` and `y_true`, the batch mean


class MetricEntry(Entry):
    family = "metric"
    targets: ClassVar[tuple[Target, ...]]
    higher_is_better: ClassVar[bool] = False  # how early stopping and the best checkpoint read it

    def keras(self, target: Target, from_logits: bool) -> PyCall:
        raise NotImplementedError

    def torch(self, target: Target, from_logits: bool) -> TorchMetric:
        raise NotImplementedError


class Accuracy(MetricEntry):
    """The fraction of samples whose highest-scoring class is the true one; for binary
    targets, the fraction of outputs on the target's side of 0.5 (of 0 with from_logits=true)."""

    kind = "accuracy"
    summary = "fraction of samples classified right"
    aliases = ("acc",)
    targets = ("sparse", "one_hot", "binary")
    higher_is_better = True

    def keras(self, target: Target, from_logits: bool) -> PyCall:
        if target == "sparse":
            return PyCall("keras.metrics.SparseCategoricalAccuracy", (), {"name": "accuracy"})
        if target == "one_hot":
            return PyCall("keras.metrics.CategoricalAccuracy", (), {"name": "accuracy"})
        threshold = 0.0 if from_logits else 0.5
        return PyCall("keras.metrics.BinaryAccuracy", (), {"name": "accuracy", "threshold": threshold})

    def torch(self, target: Target, from_logits: bool) -> TorchMetric:
        if target == "sparse":
            return TorchMetric(
                "Fraction of samples whose highest-scoring class is the true class index.",
                "(y_pred.argmax(dim=-1) == y_true).float().mean()",
            )
        if target == "one_hot":
            return TorchMetric(
                "Fraction of samples whose highest-scoring class is the one-hot target's class.",
                "(y_pred.argmax(dim=-1) == y_true.argmax(dim=-1)).float().mean()",
            )
        threshold = 0.0 if from_logits else 0.5
        return TorchMetric(
            f"Fraction of outputs on the target's side of {threshold}.",
            f"((y_pred > {threshold}).float() == (y_true > 0.5).float()).float().mean()",
        )


class MAEMetric(MetricEntry):
    """The mean of |y_pred - y_true|."""

    kind = "mean_absolute_error"
    summary = "mean absolute difference"
    aliases = ("mae",)
    targets = ("regression", "binary")

    def keras(self, target: Target, from_logits: bool) -> PyCall:
        return PyCall("keras.metrics.MeanAbsoluteError", (), {"name": "mean_absolute_error"})

    def torch(self, target: Target, from_logits: bool) -> TorchMetric:
        return TorchMetric("Mean absolute difference.", "(y_pred - y_true).abs().mean()")


class MSEMetric(MetricEntry):
    """The mean of (y_pred - y_true)²."""

    kind = "mean_squared_error"
    summary = "mean squared difference"
    aliases = ("mse",)
    targets = ("regression", "binary")

    def keras(self, target: Target, from_logits: bool) -> PyCall:
        return PyCall("keras.metrics.MeanSquaredError", (), {"name": "mean_squared_error"})

    def torch(self, target: Target, from_logits: bool) -> TorchMetric:
        return TorchMetric("Mean squared difference.", "((y_pred - y_true) ** 2).mean()")
