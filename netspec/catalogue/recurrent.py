"""Recurrent layers over [steps, features] samples.

Weights are stated in Keras' layout: a kernel (features, gates·units), a recurrent kernel
(units, gates·units), gate blocks in Keras' order. PyTorch holds the transposes, LSTM gates
in the same order [i, f, c, o], GRU gates in another ([r, z, n] for Keras' [z, r, h]); the
weight maps reorder them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Literal

from pydantic import Field

from netspec import ir
from netspec.catalogue.base import (
    Code,
    InitializerName,
    PyCall,
    ShapeError,
    TorchLowering,
    lookup,
)
from netspec.catalogue.core import init_call
from netspec.catalogue.layer import (
    IDENTITY,
    TOKEN_VOCABULARY,
    TRANSPOSE,
    Example,
    LayerEntry,
    LayerValue,
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
    use_bias: bool = Field(True, description="add the bias vector")
    return_sequences: bool = Field(False, description="output every step, not only the last")
    kernel_initializer: InitializerName = Field(
        "glorot_uniform", description="initializer of the input kernel"
    )
    recurrent_initializer: InitializerName = Field(
        "orthogonal", description="initializer of the recurrent kernel"
    )
    bias_initializer: InitializerName = Field("zeros", description="initializer of the bias")


class Recurrent(LayerEntry):
    """Shared by the recurrent layers: shape rule, parameter count, the common lowering."""

    gates: ClassVar[int]
    keras_name: ClassVar[str]  # Keras' name for the layer, which names its cell `<name>_cell`
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

    def kernel_inits(self, p: RecurrentParams, layer: ir.Layer, suffix: str = "_l0") -> list[PyCall]:
        features, block = layer.input_shape[-1], self.gates * p.units
        return [
            init_call(p.kernel_initializer, attr(layer, "weight_ih" + suffix), features, block),
            init_call(p.recurrent_initializer, attr(layer, "weight_hh" + suffix), p.units, block),
        ]

    def torch(self, p: RecurrentParams, layer: ir.Layer) -> TorchLowering:
        module, init, helpers = self.torch_module(p, layer, bidirectional=False)
        return TorchLowering(
            modules=((layer.name, module),),
            init=tuple(init),
            forward=("{x}, _ = {m}({x})",),
            expr="{x}" if p.return_sequences else "{x}[:, -1, :]",
            helpers=helpers,
        )

    def torch_module(
        self, p: RecurrentParams, layer: ir.Layer, bidirectional: bool
    ) -> tuple[PyCall, list[PyCall], tuple[str, ...]]:
        """The PyTorch module (one or both directions), its initialisation, its helpers."""
        raise NotImplementedError

    def direction_weights(
        self, p: RecurrentParams, layer: ir.Layer, suffix: str = "_l0"
    ) -> list[WeightMap]:
        """The weights of one direction; `suffix` names PyTorch's tensors (`_l0_reverse`)."""
        raise NotImplementedError

    def weights(self, p: RecurrentParams, layer: ir.Layer) -> list[WeightMap]:
        return self.direction_weights(p, layer)


class LSTMParams(RecurrentParams):
    unit_forget_bias: bool = Field(True, description="start the forget-gate bias at 1")


class LSTM(Recurrent):
    """Long short-term memory, gates in the order [input, forget, cell, output], one bias."""

    kind = "LSTM"
    Params = LSTMParams
    summary = "long short-term memory"
    shape_rule = "`[steps, features]` → `[units]`, or `[steps, units]` with `return_sequences=true`"
    weights_rule = "`4 · units · (features + units) + 4 · units`"
    notes = "Any other rank is E0203 (an image `[h, w, 1]` needs `Reshape([h, w])` first)."
    keras_name = "lstm"
    gates = 4
    bias_vectors = 1

    examples = (
        Example("lstm_last", (5, 3), ("LSTM(4)",)),
        Example("lstm_sequences", (5, 3), ("LSTM(4, return_sequences=true)",)),
        Example("lstm_no_bias", (4, 3), ("LSTM(2, use_bias=false)",)),
    )

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

    def torch_module(
        self, p: LSTMParams, layer: ir.Layer, bidirectional: bool
    ) -> tuple[PyCall, list[PyCall], tuple[str, ...]]:
        features, units = layer.input_shape[-1], p.units
        init: list[PyCall] = []
        for suffix in _suffixes(bidirectional):
            init += self.kernel_inits(p, layer, suffix)
            if p.use_bias:
                bias = attr(layer, "bias_ih" + suffix)
                init.append(init_call(p.bias_initializer, bias, features, 4 * units))
                if p.unit_forget_bias:
                    forget = Code(f"{bias.text}[{units}:{2 * units}]")
                    init.append(PyCall("nn.init.ones_", (forget,)))
        kwargs: dict[str, object] = {"bias": p.use_bias, "batch_first": True}
        if bidirectional:
            kwargs["bidirectional"] = True
        module = PyCall("SingleBiasLSTM", (features, units), kwargs)
        return module, init, ("SingleBiasLSTM",)

    def direction_weights(
        self, p: LSTMParams, layer: ir.Layer, suffix: str = "_l0"
    ) -> list[WeightMap]:
        features, units = layer.input_shape[-1], p.units
        maps = [
            WeightMap(
                "kernel", (features, 4 * units), "kernel", ("weight_ih" + suffix,), TRANSPOSE
            ),
            WeightMap(
                "recurrent_kernel",
                (units, 4 * units),
                "recurrent_kernel",
                ("weight_hh" + suffix,),
                TRANSPOSE,
            ),
        ]
        if p.use_bias:  # PyTorch's second bias is SingleBiasLSTM's fixed zero buffer
            maps.append(WeightMap("bias", (4 * units,), "bias", ("bias_ih" + suffix,), IDENTITY))
        return maps


def _suffixes(bidirectional: bool) -> tuple[str, ...]:
    """PyTorch's name endings of the tensors of each direction."""
    return ("_l0", "_l0_reverse") if bidirectional else ("_l0",)


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
    shape_rule = "`[steps, features]` → `[units]`, or `[steps, units]` with `return_sequences=true`"
    weights_rule = "`3 · units · (features + units) + 2 · 3 · units` (an input and a recurrent bias)"
    notes = "Any other rank is E0203 (an image `[h, w, 1]` needs `Reshape([h, w])` first)."
    keras_name = "gru"
    gates = 3
    bias_vectors = 2

    examples = (
        Example("gru_last", (5, 3), ("GRU(4)",)),
        Example("gru_sequences", (5, 3), ("GRU(4, return_sequences=true)",)),
        Example("gru_no_bias", (4, 3), ("GRU(2, use_bias=false)",)),
    )

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

    def torch_module(
        self, p: GRUParams, layer: ir.Layer, bidirectional: bool
    ) -> tuple[PyCall, list[PyCall], tuple[str, ...]]:
        features, units = layer.input_shape[-1], p.units
        init: list[PyCall] = []
        for suffix in _suffixes(bidirectional):
            init += self.kernel_inits(p, layer, suffix)
            if p.use_bias:
                ih, hh = attr(layer, "bias_ih" + suffix), attr(layer, "bias_hh" + suffix)
                init.append(init_call(p.bias_initializer, ih, features, 3 * units))
                init.append(init_call(p.bias_initializer, hh, units, 3 * units))
        kwargs: dict[str, object] = {"bias": p.use_bias, "batch_first": True}
        if bidirectional:
            kwargs["bidirectional"] = True
        return PyCall("nn.GRU", (features, units), kwargs), init, ()

    def direction_weights(
        self, p: GRUParams, layer: ir.Layer, suffix: str = "_l0"
    ) -> list[WeightMap]:
        features, units = layer.input_shape[-1], p.units
        maps = [
            WeightMap(
                "kernel",
                (features, 3 * units),
                "kernel",
                ("weight_ih" + suffix,),
                gate_kernel(_GRU_GATES),
            ),
            WeightMap(
                "recurrent_kernel",
                (units, 3 * units),
                "recurrent_kernel",
                ("weight_hh" + suffix,),
                gate_kernel(_GRU_GATES),
            ),
        ]
        if p.use_bias:
            maps.append(
                WeightMap(
                    "bias",
                    (2, 3 * units),
                    "bias",
                    ("bias_ih" + suffix, "bias_hh" + suffix),
                    split_gate_bias(_GRU_GATES),
                )
            )
        return maps

class SimpleRNNParams(ir.Params):
    units: int = Field(gt=0, description="size of the hidden state, a positive integer")
    activation: Literal["tanh", "relu"] = Field(
        "tanh", description="activation of the new state; tanh or relu, the two nn.RNN has"
    )
    use_bias: bool = Field(True, description="add the bias vector")
    return_sequences: bool = Field(False, description="output every step, not only the last")
    kernel_initializer: InitializerName = Field(
        "glorot_uniform", description="initializer of the input kernel"
    )
    recurrent_initializer: InitializerName = Field(
        "orthogonal", description="initializer of the recurrent kernel"
    )
    bias_initializer: InitializerName = Field("zeros", description="initializer of the bias")


class SimpleRNN(Recurrent):
    """The plain recurrent cell: h ← activation(x·W + h·U + b), one bias.

    PyTorch's `nn.RNN` adds two biases (b_ih + b_hh) of which only the sum matters; the
    generated `SingleBiasRNN` keeps b_hh as a fixed zero buffer, as `SingleBiasLSTM` does.
    """

    kind = "SimpleRNN"
    aliases = ("RNN",)
    Params = SimpleRNNParams
    summary = "fully connected recurrent layer"
    shape_rule = "`[steps, features]` → `[units]`, or `[steps, units]` with `return_sequences=true`"
    weights_rule = "`units · (features + units) + units`"
    notes = "Any other rank is E0203."
    keras_name = "simple_rnn"
    gates = 1
    bias_vectors = 1

    examples = (
        Example("rnn_last", (5, 3), ("SimpleRNN(4)",)),
        Example("rnn_sequences", (5, 3), ("SimpleRNN(4, return_sequences=true)",)),
        Example("rnn_relu_no_bias", (4, 3), ("SimpleRNN(2, activation=relu, use_bias=false)",)),
        Example("rnn_after_conv1d", (6, 2), ("Conv1D(3, 2)", "SimpleRNN(3)")),
    )

    def keras(self, p: SimpleRNNParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.SimpleRNN",
            (p.units,),
            {
                "activation": p.activation,
                "use_bias": p.use_bias,
                "kernel_initializer": p.kernel_initializer,
                "recurrent_initializer": p.recurrent_initializer,
                "bias_initializer": p.bias_initializer,
                "return_sequences": p.return_sequences,
            },
        )

    def torch_module(
        self, p: SimpleRNNParams, layer: ir.Layer, bidirectional: bool
    ) -> tuple[PyCall, list[PyCall], tuple[str, ...]]:
        features, units = layer.input_shape[-1], p.units
        init: list[PyCall] = []
        for suffix in _suffixes(bidirectional):
            init += self.kernel_inits(p, layer, suffix)  # type: ignore[arg-type]
            if p.use_bias:
                bias = attr(layer, "bias_ih" + suffix)
                init.append(init_call(p.bias_initializer, bias, features, units))
        kwargs: dict[str, object] = {
            "nonlinearity": p.activation,
            "bias": p.use_bias,
            "batch_first": True,
        }
        if bidirectional:
            kwargs["bidirectional"] = True
        return PyCall("SingleBiasRNN", (features, units), kwargs), init, ("SingleBiasRNN",)

    def direction_weights(
        self, p: SimpleRNNParams, layer: ir.Layer, suffix: str = "_l0"
    ) -> list[WeightMap]:
        features, units = layer.input_shape[-1], p.units
        maps = [
            WeightMap("kernel", (features, units), "kernel", ("weight_ih" + suffix,), TRANSPOSE),
            WeightMap(
                "recurrent_kernel",
                (units, units),
                "recurrent_kernel",
                ("weight_hh" + suffix,),
                TRANSPOSE,
            ),
        ]
        if p.use_bias:  # PyTorch's second bias is SingleBiasRNN's fixed zero buffer
            maps.append(WeightMap("bias", (units,), "bias", ("bias_ih" + suffix,)))
        return maps


class BidirectionalParams(ir.Params):
    layer: LayerValue = Field(
        description="the recurrent layer to run both ways: LSTM(..), GRU(..) or SimpleRNN(..)"
    )
    merge_mode: Literal["concat"] = Field(
        "concat", description="how the two directions' outputs combine; concat is the one value"
    )


class Bidirectional(LayerEntry):
    """Runs a recurrent layer forwards and a copy of it backwards; concatenates their outputs.

    Each direction has its own weights, shaped as the wrapped layer's. With
    `return_sequences` the backward outputs are put back in time order, so step t holds
    [forward state after t, backward state after reading t … the end]; without it the output
    is [forward state after the last step, backward state after the first step]. PyTorch's
    `bidirectional=True` module keeps the backward tensors under `*_l0_reverse`; Keras names
    the two copies `forward_<layer>` and `backward_<layer>`.
    """

    kind = "Bidirectional"
    Params = BidirectionalParams
    positional = ("layer",)
    layer_args = ("layer",)
    summary = "runs a recurrent layer both ways"
    shape_rule = "the wrapped layer's, with twice its units: `Bidirectional(LSTM(32))` on `[steps, f]` gives `[64]`, or `[steps, 64]` with `return_sequences=true`"
    weights_rule = "twice the wrapped layer's"
    notes = "The wrapped layer's arguments are checked as a layer's; a layer that is not recurrent is E0222."

    examples = (
        Example("bidi_lstm", (5, 3), ("Bidirectional(LSTM(4))",)),
        Example("bidi_lstm_sequences", (5, 3), ("Bidirectional(LSTM(3, return_sequences=true))",)),
        Example("bidi_gru", (5, 3), ("Bidirectional(layer=GRU(4))",)),
        Example("bidi_gru_sequences", (4, 2), ("Bidirectional(GRU(3, return_sequences=true))",)),
        Example("bidi_rnn", (5, 3), ("Bidirectional(SimpleRNN(4))",)),
        Example(
            "bidi_rnn_sequences_relu",
            (4, 3),
            ("Bidirectional(SimpleRNN(2, activation=relu, return_sequences=true))",),
        ),
        Example("bidi_lstm_no_bias", (4, 3), ("Bidirectional(LSTM(2, use_bias=false))",)),
        Example(
            "bidi_stacked",
            (5, 2),
            ("Bidirectional(LSTM(3, return_sequences=true))", "Bidirectional(GRU(2))", "Dense(2)"),
        ),
        Example(
            "bidi_twice_same_kind",
            (5, 2),
            ("Bidirectional(LSTM(2, return_sequences=true))", "Bidirectional(LSTM(3))"),
        ),
        Example(
            "bidi_after_embedding",
            (6,),
            (f"Embedding({TOKEN_VOCABULARY}, 3)", "Bidirectional(LSTM(2))"),
            tokens=True,
        ),
    )

    @staticmethod
    def wrapped(p: BidirectionalParams) -> Recurrent:
        entry = lookup("layer", p.layer.kind)
        assert entry is not None  # resolved at check time
        instance = entry()
        if not isinstance(instance, Recurrent):
            raise ShapeError(
                "E0222",
                f"Bidirectional wraps a recurrent layer, not {p.layer.kind}",
                hint="wrap LSTM(..), GRU(..) or SimpleRNN(..), e.g. Bidirectional(LSTM(32))",
                arg="layer",
            )
        return instance

    def output_shape(self, p: BidirectionalParams, shape: ir.Shape) -> ir.Shape:
        inner = self.wrapped(p).output_shape(p.layer.params, shape)  # type: ignore[arg-type]
        return (*inner[:-1], 2 * inner[-1])

    def param_counts(self, p: BidirectionalParams, shape: ir.Shape) -> tuple[int, int]:
        trainable, frozen = self.wrapped(p).param_counts(p.layer.params, shape)  # type: ignore[arg-type]
        return (2 * trainable, 2 * frozen)

    def activation(self, p: BidirectionalParams) -> str | None:
        return None

    def keras(self, p: BidirectionalParams, layer: ir.Layer) -> PyCall:
        inner = self.wrapped(p)
        call = inner.keras(p.layer.params, layer)
        named = PyCall(call.func, call.args, {**call.kwargs, "name": inner.keras_name})
        return PyCall("layers.Bidirectional", (named,), {"merge_mode": p.merge_mode})

    def torch(self, p: BidirectionalParams, layer: ir.Layer) -> TorchLowering:
        params = p.layer.params
        module, init, helpers = self.wrapped(p).torch_module(params, layer, bidirectional=True)  # type: ignore[arg-type]
        units = params.units  # type: ignore[attr-defined]
        expr = "{x}"
        if not params.return_sequences:  # type: ignore[attr-defined]
            # the forward direction ends at the last step, the backward one at the first
            expr = f"torch.cat(({{x}}[:, -1, :{units}], {{x}}[:, 0, {units}:]), dim=-1)"
        return TorchLowering(
            modules=((layer.name, module),),
            init=tuple(init),
            forward=("{x}, _ = {m}({x})",),
            expr=expr,
            helpers=helpers,
        )

    def weights(self, p: BidirectionalParams, layer: ir.Layer) -> list[WeightMap]:
        inner = self.wrapped(p)
        maps = []
        for direction, suffix in (("forward", "_l0"), ("backward", "_l0_reverse")):
            path = f"{direction}_{inner.keras_name}/{inner.keras_name}_cell/"
            for weight in inner.direction_weights(p.layer.params, layer, suffix):  # type: ignore[arg-type]
                maps.append(
                    replace(weight, name=f"{direction}.{weight.name}", keras=path + weight.keras)
                )
        return maps
