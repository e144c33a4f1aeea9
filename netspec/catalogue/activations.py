"""Activations: the name a spec uses, the Keras name, and the PyTorch expression.

An activation is element-wise, except softmax and log_softmax, which normalise over the
channel axis: the last axis as the spec states shapes, axis 1 in a channels-first tensor.
"""

from __future__ import annotations

from typing import ClassVar

from netspec.catalogue.base import Entry


class ActivationEntry(Entry):
    """f(x) as netspec defines it; `torch` wraps an expression in the PyTorch equivalent."""

    family = "activation"
    keras_name: ClassVar[str]
    formula: ClassVar[str]
    torch_template: ClassVar[str]  # `{x}` is the input expression, `{dim}` the channel axis

    def torch(self, x: str, channel_dim: int = -1) -> str:
        return self.torch_template.format(x=x, dim=channel_dim)


class Linear(ActivationEntry):
    kind = "linear"
    aliases = ("identity",)
    keras_name = "linear"
    formula = "x"
    torch_template = "{x}"


class ReLU(ActivationEntry):
    kind = "relu"
    keras_name = "relu"
    formula = "max(x, 0)"
    torch_template = "torch.relu({x})"


class Sigmoid(ActivationEntry):
    kind = "sigmoid"
    keras_name = "sigmoid"
    formula = "1 / (1 + exp(-x))"
    torch_template = "torch.sigmoid({x})"


class Tanh(ActivationEntry):
    kind = "tanh"
    keras_name = "tanh"
    formula = "tanh(x)"
    torch_template = "torch.tanh({x})"


class Softmax(ActivationEntry):
    kind = "softmax"
    keras_name = "softmax"
    formula = "exp(x_i) / Σ_j exp(x_j), over the channel (last) axis"
    torch_template = "torch.softmax({x}, dim={dim})"


class LogSoftmax(ActivationEntry):
    kind = "log_softmax"
    keras_name = "log_softmax"
    formula = "x_i - log(Σ_j exp(x_j)), over the channel (last) axis"
    torch_template = "torch.log_softmax({x}, dim={dim})"


class GELU(ActivationEntry):
    kind = "gelu"
    keras_name = "gelu"
    formula = "x · Φ(x), the exact (erf) form"
    torch_template = "nn.functional.gelu({x})"


class ELU(ActivationEntry):
    kind = "elu"
    keras_name = "elu"
    formula = "x if x > 0 else exp(x) - 1"
    torch_template = "nn.functional.elu({x}, alpha=1.0)"


class SELU(ActivationEntry):
    kind = "selu"
    keras_name = "selu"
    formula = "1.0507 · (x if x > 0 else 1.67326 · (exp(x) - 1))"
    torch_template = "nn.functional.selu({x})"


class Softplus(ActivationEntry):
    kind = "softplus"
    keras_name = "softplus"
    formula = "log(1 + exp(x))"
    torch_template = "nn.functional.softplus({x})"


class Softsign(ActivationEntry):
    kind = "softsign"
    keras_name = "softsign"
    formula = "x / (1 + |x|)"
    torch_template = "nn.functional.softsign({x})"


class SiLU(ActivationEntry):
    kind = "silu"
    aliases = ("swish",)
    keras_name = "silu"
    formula = "x · sigmoid(x)"
    torch_template = "nn.functional.silu({x})"


class LeakyReLU(ActivationEntry):
    kind = "leaky_relu"
    keras_name = "leaky_relu"
    formula = "x if x > 0 else 0.2 · x (netspec's slope, Keras' activation default)"
    torch_template = "nn.functional.leaky_relu({x}, negative_slope=0.2)"


class HardSigmoid(ActivationEntry):
    kind = "hard_sigmoid"
    keras_name = "hard_sigmoid"
    formula = "relu6(x + 3) / 6"
    torch_template = "nn.functional.hardsigmoid({x})"
