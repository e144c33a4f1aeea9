"""Recurrent layers over [steps, features] samples.

Weights are stated in Keras' layout: a kernel (features, gates·units), a recurrent kernel
(units, gates·units), gate blocks in Keras' order. PyTorch holds the transposes, LSTM gates
in the same order [i, f, c, o], GRU gates in another ([r, z, n] for Keras' [z, r, h]); the
weight maps reorder them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from netspec import ir
from netspec.catalogue.base import Code, InitializerName, PyCall, ShapeError, TorchLowering
from netspec.catalogue.core import init_call
from netspec.catalogue.layer import (
    IDENTITY,
    TRANSPOSE,
    LayerEntry,
    WeightMap,
    attr,
    gate_kernel,
    split_gate_bias,
)
from netspec.catalogue.shapes import fmt


def _sequence(kind: str, shape: ir.Shape) -> tuple[int, int]:
    if len(shape) != 2:
        hint = "a recurrent layer reads [steps, features]; add Reshape([steps, features]) before it"
        if len(shape) == 3 and shape[2] == 1:
            hint = f"add Reshape([{shape[0]}, {shape[1]}]) before it to read rows as steps"
        raise ShapeError(
            "E0203",
            f"{kind} needs a sequence [steps, features] per sample, got {fmt(shape)}",
            hint=hint,
        )
    return shape[0], shape[1]


class RecurrentParams(ir.Params):
    """What every recurrent layer takes; only tanh/sigmoid, the pair both frameworks implement."""

    units: int = Field(gt=0, description="size of the hidden state, a positive integer")
    activation: Literal["tanh"] = Field(
        "tanh", description="cell activation; tanh is the one both frameworks implement"
    )
    recurrent_activation: Literal["sigmoid"] = Field(
        "sigmoid", description="gate activation; sigmoid is the one both frameworks implement"
    )
    use_bias: bool = True
    return_sequences: bool = Field(False, description="output every step, not only the last")
    kernel_initializer: InitializerName = "glorot_uniform"
    recurrent_initializer: InitializerName = "orthogonal"
    bias_initializer: InitializerName = "zeros"


class Recurrent(LayerEntry):
    """Shared by the recurrent layers: shape rule, parameter count, the common lowering."""

    gates: ClassVar[int]
    bias_vectors: ClassVar[int]  # bias vectors of gates·units each: 1 for the LSTM, 2 for the GRU
    positional = ("units",)

    def output_shape(self, p: RecurrentParams, shape: ir.Shape) -> ir.Shape:
        steps, _ = _sequence(self.kind, shape)
        return (steps, p.units) if p.return_sequences else (p.units,)

    def param_counts(self, p: RecurrentParams, shape: ir.Shape) -> tuple[int, int]:
        block = self.gates * p.units
        return (block * (shape[-1] + p.units) + (self.bias_vectors * block if p.use_bias else 0), 0)

    def activation(self, p: RecurrentParams) -> str | None:
        return None

    def keras_kwargs(self, p: RecurrentParams) -> dict[str, object]:
        return {
            "activation": p.activation,
            "recurrent_activation": p.recurrent_activation,
            "use_bias": p.use_bias,
            "kernel_initializer": p.kernel_initializer,
            "recurrent_initializer": p.recurrent_initializer,
            "bias_initializer": p.bias_initializer,
        }

    def kernel_inits(self, p: RecurrentParams, layer: ir.Layer) -> list[PyCall]:
        features, block = layer.input_shape[-1], self.gates * p.units
        return [
            init_call(p.kernel_initializer, attr(layer, "weight_ih_l0"), features, block),
            init_call(p.recurrent_initializer, attr(layer, "weight_hh_l0"), p.units, block),
        ]

    def lowering(
        self,
        p: RecurrentParams,
        layer: ir.Layer,
        module: PyCall,
        init: list[PyCall],
        **extra: object,
    ) -> TorchLowering:
        return TorchLowering(
            modules=((layer.name, module),),
            init=tuple(init),
            forward=("{x}, _ = {m}({x})",),
            expr="{x}" if p.return_sequences else "{x}[:, -1, :]",
            **extra,  # type: ignore[arg-type]
        )


class LSTMParams(RecurrentParams):
    unit_forget_bias: bool = Field(True, description="start the forget-gate bias at 1")


class LSTM(Recurrent):
    """Long short-term memory, gates in the order [input, forget, cell, output], one bias."""

    kind = "LSTM"
    Params = LSTMParams
    summary = "long short-term memory"
    gates = 4
    bias_vectors = 1

    def keras(self, p: LSTMParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.LSTM",
            (p.units,),
            {
                **self.keras_kwargs(p),
                "unit_forget_bias": p.unit_forget_bias,
                "return_sequences": p.return_sequences,
            },
        )

    def torch(self, p: LSTMParams, layer: ir.Layer) -> TorchLowering:
        features, units = layer.input_shape[-1], p.units
        init = self.kernel_inits(p, layer)
        if p.use_bias:
            init.append(
                init_call(p.bias_initializer, attr(layer, "bias_ih_l0"), features, 4 * units)
            )
            if p.unit_forget_bias:
                forget = Code(f"self.{layer.name}.bias_ih_l0[{units}:{2 * units}]")
                init.append(PyCall("nn.init.ones_", (forget,)))
        module = PyCall(
            "SingleBiasLSTM", (features, units), {"bias": p.use_bias, "batch_first": True}
        )
        return self.lowering(p, layer, module, init, helpers=("SingleBiasLSTM",))

    def weights(self, p: LSTMParams, layer: ir.Layer) -> list[WeightMap]:
        features, units = layer.input_shape[-1], p.units
        maps = [
            WeightMap("kernel", (features, 4 * units), "kernel", ("weight_ih_l0",), TRANSPOSE),
            WeightMap(
                "recurrent_kernel",
                (units, 4 * units),
                "recurrent_kernel",
                ("weight_hh_l0",),
                TRANSPOSE,
            ),
        ]
        if p.use_bias:  # PyTorch's second bias is SingleBiasLSTM's fixed zero buffer
            maps.append(WeightMap("bias", (4 * units,), "bias", ("bias_ih_l0",), IDENTITY))
        return maps


# Keras orders a GRU's gate blocks [update z, reset r, candidate h]; PyTorch [r, z, n]:
# PyTorch's block i is Keras' block _GRU_GATES[i].
_GRU_GATES = (1, 0, 2)


class GRUParams(RecurrentParams):
    reset_after: Literal[True] = Field(
        True,
        description="apply the reset gate after the recurrent product (with its own bias), "
        "the GRU PyTorch implements; true is the only value",
    )


class GRU(Recurrent):
    """Gated recurrent unit, Keras' `reset_after=True` form, which is PyTorch's `nn.GRU`.

    z = σ(x·Wz + bz + h·Uz + b'z), r = σ(x·Wr + br + h·Ur + b'r),
    ĥ = tanh(x·Wh + bh + r ⊙ (h·Uh + b'h)), h ← z ⊙ h + (1 - z) ⊙ ĥ.
    The input bias b and the recurrent bias b' are both parameters: with the reset gate
    applied after the recurrent product they do not add up to one bias (unlike the LSTM's),
    so both frameworks hold 2 · 3 · units of bias, Keras as one (2, 3·units) tensor.
    """

    kind = "GRU"
    Params = GRUParams
    summary = "gated recurrent unit"
    gates = 3
    bias_vectors = 2

    def keras(self, p: GRUParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.GRU",
            (p.units,),
            {
                **self.keras_kwargs(p),
                "return_sequences": p.return_sequences,
                "reset_after": p.reset_after,
            },
        )

    def torch(self, p: GRUParams, layer: ir.Layer) -> TorchLowering:
        features, units = layer.input_shape[-1], p.units
        init = self.kernel_inits(p, layer)
        if p.use_bias:
            init.append(
                init_call(p.bias_initializer, attr(layer, "bias_ih_l0"), features, 3 * units)
            )
            init.append(init_call(p.bias_initializer, attr(layer, "bias_hh_l0"), units, 3 * units))
        module = PyCall("nn.GRU", (features, units), {"bias": p.use_bias, "batch_first": True})
        return self.lowering(p, layer, module, init)

    def weights(self, p: GRUParams, layer: ir.Layer) -> list[WeightMap]:
        features, units = layer.input_shape[-1], p.units
        maps = [
            WeightMap(
                "kernel",
                (features, 3 * units),
                "kernel",
                ("weight_ih_l0",),
                gate_kernel(_GRU_GATES),
            ),
            WeightMap(
                "recurrent_kernel",
                (units, 3 * units),
                "recurrent_kernel",
                ("weight_hh_l0",),
                gate_kernel(_GRU_GATES),
            ),
        ]
        if p.use_bias:
            maps.append(
                WeightMap(
                    "bias",
                    (2, 3 * units),
                    "bias",
                    ("bias_ih_l0", "bias_hh_l0"),
                    split_gate_bias(_GRU_GATES),
                )
            )
        return maps
