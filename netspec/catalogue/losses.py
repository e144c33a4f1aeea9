"""Losses.

A loss knows what targets it expects (`target`), checks the model's output against itself,
and lowers to a Keras loss object and to a PyTorch loss (a built-in module where PyTorch has
the same function, else a small function of codegen/snippets/torch_losses.py that the
generator writes into the module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from netspec import ir
from netspec.catalogue.base import Code, Entry, PyCall
from netspec.catalogue.shapes import flatten_hint, fmt

# Probabilities are clipped to [EPSILON, 1 - EPSILON] before a logarithm (Keras' epsilon).
EPSILON = 1e-7

Target = Literal["sparse", "one_hot", "binary", "regression"]

# The class of each sample in the batch, by the kind of targets (for class weights).
CLASS_INDEX: dict[str, str] = {
    "sparse": "y_true",
    "one_hot": "y_true.argmax(dim=-1)",
    "binary": "y_true.reshape(-1).long()",
}


@dataclass(frozen=True)
class Finding:
    """A problem a loss finds with the model's output; the checker places it on the loss."""

    code: str
    message: str
    hint: str | None = None
    warning: bool = False


@dataclass(frozen=True)
class TorchLoss:
    """`build` makes the loss; `helper` names the function of snippets/torch_losses.py it
    needs, if any (the generator writes that function's source into the module).

    Class weights need each sample's loss: a built-in loss gives it with reduction="none", a
    helper function with its own `reduction` argument.
    """

    build: PyCall | Code
    helper: str | None = None

    def per_sample(self) -> tuple[PyCall | None, str]:
        """(a module to build first, or None; the expression of per-sample losses)."""
        if isinstance(self.build, Code):
            return None, f'{self.build.text}(y_pred, y_true, reduction="none")'
        call = PyCall(self.build.func, self.build.args, {**self.build.kwargs, "reduction": "none"})
        return call, "per_sample(y_pred, y_true)"


class LossEntry(Entry):
    family = "loss"
    target: ClassVar[Target]
    formula: ClassVar[str]

    def check_output(self, p: Any, shape: ir.Shape, activation: str | None) -> list[Finding]:
        return []

    def keras(self, p: Any) -> PyCall:
        raise NotImplementedError

    def torch(self, p: Any) -> TorchLoss:
        raise NotImplementedError


class NoParams(ir.Params):
    pass


class MeanSquaredError(LossEntry):
    kind = "mean_squared_error"
    aliases = ("mse",)
    Params = NoParams
    target = "regression"
    formula = "mean((y_pred - y_true)²)"

    def keras(self, p: NoParams) -> PyCall:
        return PyCall("keras.losses.MeanSquaredError")

    def torch(self, p: NoParams) -> TorchLoss:
        return TorchLoss(PyCall("nn.MSELoss"))


class MeanAbsoluteError(LossEntry):
    kind = "mean_absolute_error"
    aliases = ("mae",)
    Params = NoParams
    target = "regression"
    formula = "mean(|y_pred - y_true|)"

    def keras(self, p: NoParams) -> PyCall:
        return PyCall("keras.losses.MeanAbsoluteError")

    def torch(self, p: NoParams) -> TorchLoss:
        return TorchLoss(PyCall("nn.L1Loss"))


class HuberParams(ir.Params):
    delta: float = Field(1.0, gt=0, description="where the loss turns from quadratic to linear")


class Huber(LossEntry):
    kind = "huber"
    Params = HuberParams
    target = "regression"
    formula = "mean(½e² if |e| ≤ δ else δ(|e| - ½δ)), e = y_pred - y_true"

    def keras(self, p: HuberParams) -> PyCall:
        return PyCall("keras.losses.Huber", (), {"delta": p.delta})

    def torch(self, p: HuberParams) -> TorchLoss:
        return TorchLoss(PyCall("nn.HuberLoss", (), {"delta": p.delta}))


class LogitsParams(ir.Params):
    from_logits: bool = Field(
        False, description="true when the model outputs raw scores (no softmax/sigmoid)"
    )


def _logit_findings(p: LogitsParams, activation: str | None, squash: str) -> list[Finding]:
    if p.from_logits and activation in ("softmax", "sigmoid"):
        return [
            Finding(
                "W0302",
                f"the model ends in {activation}, but the loss takes logits (from_logits=true): "
                f"{activation} would be applied twice",
                hint=f"remove activation={activation} from the last layer, or set from_logits=false",
                warning=True,
            )
        ]
    if not p.from_logits and activation == "linear":
        return [
            Finding(
                "W0303",
                f"the last layer has no {squash}, so the model outputs logits, "
                "but the loss expects probabilities",
                hint=f"set from_logits=true, or end the model with activation={squash}",
                warning=True,
            )
        ]
    return []



class BinaryCrossentropy(LossEntry):
    kind = "binary_crossentropy"
    aliases = ("bce",)
    Params = LogitsParams
    target = "binary"
    formula = "-mean(y log p + (1 - y) log(1 - p)), p = sigmoid(y_pred) with from_logits"

    def check_output(self, p: LogitsParams, shape: ir.Shape, activation: str | None):
        multilabel = activation == "sigmoid" or (p.from_logits and activation == "linear")
        if shape[-1] != 1 and not multilabel:
            return [
                Finding(
                    "E0301",
                    f"binary_crossentropy needs one output unit per label, but the model "
                    f"outputs {shape[-1]} units ending in {activation or 'no activation'}",
                    hint="for one class out of many use categorical_crossentropy or "
                    "sparse_categorical_crossentropy; for yes/no end with Dense(1, activation=sigmoid)",
                )
            ]
        return _logit_findings(p, activation, "sigmoid")

    def keras(self, p: LogitsParams) -> PyCall:
        return PyCall("keras.losses.BinaryCrossentropy", (), {"from_logits": p.from_logits})

    def torch(self, p: LogitsParams) -> TorchLoss:
        if p.from_logits:
            return TorchLoss(PyCall("nn.BCEWithLogitsLoss"))
        return TorchLoss(Code("binary_crossentropy"), "binary_crossentropy")


def _categorical_findings(kind: str, p: LogitsParams, shape: ir.Shape, activation: str | None):
    # A class per sample (the targets hold one index or one one-hot vector per sample): the
    # output must be [classes]; [28, 10] is a forgotten Flatten, not per-step classes.
    if len(shape) != 1:
        return [
            Finding(
                "E0301",
                f"{kind} needs one score per class for each sample, an output [classes], "
                f"but the model outputs {fmt(shape)}",
                hint=flatten_hint(shape),
            )
        ]
    if shape[-1] < 2:
        return [
            Finding(
                "E0301",
                f"{kind} needs one output unit per class, but the model outputs {shape[-1]} unit",
                hint="for two classes with one output use binary_crossentropy and "
                "activation=sigmoid; else give the last Dense one unit per class",
            )
        ]
    return _logit_findings(p, activation, "softmax")



class CategoricalCrossentropy(LossEntry):
    kind = "categorical_crossentropy"
    Params = LogitsParams
    target = "one_hot"
    formula = "-mean(Σᵢ yᵢ log pᵢ), p = softmax(y_pred) with from_logits; y one-hot"

    def check_output(self, p: LogitsParams, shape: ir.Shape, activation: str | None):
        return _categorical_findings(self.kind, p, shape, activation)

    def keras(self, p: LogitsParams) -> PyCall:
        return PyCall("keras.losses.CategoricalCrossentropy", (), {"from_logits": p.from_logits})

    def torch(self, p: LogitsParams) -> TorchLoss:
        if p.from_logits:  # CrossEntropyLoss takes class probabilities as targets too
            return TorchLoss(PyCall("nn.CrossEntropyLoss"))
        return TorchLoss(Code("categorical_crossentropy"), "categorical_crossentropy")


class SparseCategoricalCrossentropy(LossEntry):
    kind = "sparse_categorical_crossentropy"
    Params = LogitsParams
    target = "sparse"
    formula = "-mean(log p_y), p = softmax(y_pred) with from_logits; y a class index"

    def check_output(self, p: LogitsParams, shape: ir.Shape, activation: str | None):
        return _categorical_findings(self.kind, p, shape, activation)

    def keras(self, p: LogitsParams) -> PyCall:
        return PyCall(
            "keras.losses.SparseCategoricalCrossentropy", (), {"from_logits": p.from_logits}
        )

    def torch(self, p: LogitsParams) -> TorchLoss:
        if p.from_logits:
            return TorchLoss(PyCall("nn.CrossEntropyLoss"))
        return TorchLoss(Code("sparse_categorical_crossentropy"), "sparse_categorical_crossentropy")
