"""Weight initializers: one netspec meaning, a Keras name and a PyTorch `nn.init` call.

netspec's defaults follow Keras (Glorot-uniform kernels, zero biases, orthogonal recurrent
kernels); the PyTorch generator writes the matching `nn.init` call explicitly, so a PyTorch
model built from a spec starts from the same distribution as its Keras twin. Fans are those
of the framework-neutral kernel: fan_in = inputs × receptive field, fan_out = outputs ×
receptive field, which both frameworks compute alike for their own layouts.
"""

from __future__ import annotations

import math
from typing import ClassVar

from netspec.catalogue.base import Code, Entry, PyCall

# Keras draws truncated normals at ±2σ; this rescales σ so the variance is the target one.
_TRUNCATION_STD = 0.87962566103423978


class InitializerEntry(Entry):
    family = "initializer"
    keras_name: ClassVar[str]
    formula: ClassVar[str]

    def torch(self, tensor: Code, fan_in: int, fan_out: int) -> PyCall:
        raise NotImplementedError


class Zeros(InitializerEntry):
    kind = "zeros"
    keras_name = "zeros"
    formula = "0"

    def torch(self, tensor: Code, fan_in: int, fan_out: int) -> PyCall:
        return PyCall("nn.init.zeros_", (tensor,))


class Ones(InitializerEntry):
    kind = "ones"
    keras_name = "ones"
    formula = "1"

    def torch(self, tensor: Code, fan_in: int, fan_out: int) -> PyCall:
        return PyCall("nn.init.ones_", (tensor,))


class GlorotUniform(InitializerEntry):
    kind = "glorot_uniform"
    aliases = ("xavier_uniform",)
    keras_name = "glorot_uniform"
    formula = "U(-a, a), a = sqrt(6 / (fan_in + fan_out))"

    def torch(self, tensor: Code, fan_in: int, fan_out: int) -> PyCall:
        return PyCall("nn.init.xavier_uniform_", (tensor,))


class HeUniform(InitializerEntry):
    kind = "he_uniform"
    aliases = ("kaiming_uniform",)
    keras_name = "he_uniform"
    formula = "U(-a, a), a = sqrt(6 / fan_in)"

    def torch(self, tensor: Code, fan_in: int, fan_out: int) -> PyCall:
        return PyCall("nn.init.kaiming_uniform_", (tensor,), {"nonlinearity": "relu"})


class _TruncatedNormal(InitializerEntry):
    """Variance scaling with a normal truncated at two standard deviations."""

    variance_numerator: ClassVar[float]

    def fan(self, fan_in: int, fan_out: int) -> float:
        return float(fan_in)

    def torch(self, tensor: Code, fan_in: int, fan_out: int) -> PyCall:
        std = math.sqrt(self.variance_numerator / self.fan(fan_in, fan_out)) / _TRUNCATION_STD
        std = float(f"{std:.9g}")
        return PyCall("nn.init.trunc_normal_", (tensor,), {"std": std, "a": -2 * std, "b": 2 * std})


class GlorotNormal(_TruncatedNormal):
    kind = "glorot_normal"
    aliases = ("xavier_normal",)
    keras_name = "glorot_normal"
    formula = "truncated N(0, s²) at ±2s, s = sqrt(2 / (fan_in + fan_out)) / 0.8796"
    variance_numerator = 2.0

    def fan(self, fan_in: int, fan_out: int) -> float:
        return float(fan_in + fan_out)


class HeNormal(_TruncatedNormal):
    kind = "he_normal"
    aliases = ("kaiming_normal",)
    keras_name = "he_normal"
    formula = "truncated N(0, s²) at ±2s, s = sqrt(2 / fan_in) / 0.8796"
    variance_numerator = 2.0


class LecunNormal(_TruncatedNormal):
    kind = "lecun_normal"
    keras_name = "lecun_normal"
    formula = "truncated N(0, s²) at ±2s, s = sqrt(1 / fan_in) / 0.8796"
    variance_numerator = 1.0


class Orthogonal(InitializerEntry):
    kind = "orthogonal"
    keras_name = "orthogonal"
    formula = "a (semi-)orthogonal matrix from the QR decomposition of a normal matrix, gain 1"

    def torch(self, tensor: Code, fan_in: int, fan_out: int) -> PyCall:
        return PyCall("nn.init.orthogonal_", (tensor,))


class RandomUniform(InitializerEntry):
    """Keras' `uniform`: U(-0.05, 0.05), whatever the fans (the default for embeddings)."""

    kind = "random_uniform"
    aliases = ("uniform",)
    keras_name = "random_uniform"
    formula = "U(-0.05, 0.05)"

    def torch(self, tensor: Code, fan_in: int, fan_out: int) -> PyCall:
        return PyCall("nn.init.uniform_", (tensor,), {"a": -0.05, "b": 0.05})
