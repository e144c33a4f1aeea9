"""Convolution, pooling and padding layers over [steps, channels] and [height, width, channels].

Padding follows TensorFlow's `same` rule on both targets (the odd padding cell goes after:
bottom/right). PyTorch pads symmetrically, so where the padding is asymmetric the PyTorch
lowering pads explicitly: zeros before a convolution, -inf before max pooling, and for
average pooling a helper that leaves padded cells out of each window's mean, as Keras does.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from netspec import ir
from netspec.catalogue.base import (
    ActivationName,
    Code,
    InitializerName,
    Layout,
    PyCall,
    ShapeError,
    TorchLowering,
)
from netspec.catalogue.core import init_call, keras_activation
from netspec.catalogue.layer import (
    HWIO_TO_OIHW,
    TOKEN_VOCABULARY,
    Example,
    LayerEntry,
    Transform,
    WeightMap,
    attr,
    permute,
)
from netspec.catalogue.shapes import (
    effective_window,
    fmt,
    same_padding,
    transposed_output_length,
    transposed_overlap,
    window_output_length,
)


def _pair(value: Any) -> Any:
    """`3` means `(3, 3)`; lists from the spec become tuples."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, list):
        return tuple(value)
    return value


PositiveInt = Annotated[int, Field(gt=0)]
# A spec writes one integer for both axes or [height, width]; the IR holds the pair.
Pair = Annotated[
    tuple[PositiveInt, PositiveInt],
    BeforeValidator(_pair, json_schema_input_type=int | tuple[int, int]),
]
Padding = Literal["valid", "same"]


def _image(kind: str, shape: ir.Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        hint = "add Reshape([height, width, channels]) before it"
        if len(shape) == 1:
            hint = f"a flat input of {shape[0]} values needs Reshape([height, width, channels]) first"
        raise ShapeError(
            "E0205",
            f"{kind} needs a [height, width, channels] input per sample, got {fmt(shape)}",
            hint=hint,
        )
    return shape[0], shape[1], shape[2]


def _windowed(
    kind: str,
    shape: ir.Shape,
    window: tuple[int, int],
    strides: tuple[int, int],
    padding: str,
    dilation: tuple[int, int] = (1, 1),
    window_arg: str = "kernel_size",
) -> tuple[int, int]:
    height, width, _ = _image(kind, shape)
    out = []
    for axis, (length, w, s, d) in enumerate(zip((height, width), window, strides, dilation, strict=True)):
        effective = effective_window(w, d)
        if padding == "valid" and effective > length:
            which = "height" if axis == 0 else "width"
            raise ShapeError(
                "E0202",
                f"{kind} window {fmt(window)} is larger than its input {fmt(shape)} "
                f"({which} {length} < {effective})",
                hint=f"use a smaller {window_arg}, padding=same, or remove a pooling layer before it",
                arg=window_arg,
            )
        out.append(window_output_length(length, w, s, padding, d))
    return out[0], out[1]


def _no_strided_dilation(kind: str, strides: tuple[int, ...], dilation: tuple[int, ...]) -> None:
    """Keras refuses a window that is both strided and dilated; so does netspec, at check time."""
    if max(strides) > 1 and max(dilation) > 1:

        def show(values: tuple[int, ...]) -> str:
            return str(values[0]) if len(values) == 1 else fmt(values)

        raise ShapeError(
            "E0220",
            f"{kind} cannot combine strides > 1 with dilation_rate > 1 "
            f"(strides={show(strides)}, dilation_rate={show(dilation)})",
            hint="keep strides=1 for a dilated window, or dilation_rate=1 for a strided one",
            arg="dilation_rate",
        )


def _torch_padding(
    shape: ir.Shape, window: tuple[int, int], strides: tuple[int, int], dilation: tuple[int, int]
) -> tuple[int, int, int, int]:
    """`same` padding as (left, right, top, bottom), the order `nn.ZeroPad2d` takes."""
    top, bottom = same_padding(shape[0], window[0], strides[0], dilation[0])
    left, right = same_padding(shape[1], window[1], strides[1], dilation[1])
    return left, right, top, bottom


def _axes(value: int | tuple[int, ...]) -> tuple[int, ...]:
    """A window's sizes, strides or dilations, one per axis: Conv1D holds an integer."""
    return value if isinstance(value, tuple) else (value,)


class _Convolution(LayerEntry):
    """What Conv1D and Conv2D share: the same parameters, one or two spatial axes.

    The parameter count, the Keras layer, the PyTorch module (with TensorFlow's `same`
    padding, explicit where it is asymmetric) and the weight map are written once here, axis
    by axis; a subclass states its rank's input check and shape rule, the PyTorch names and
    the kernel's transform.
    """

    torch_module: ClassVar[str]  # nn.Conv1d, nn.Conv2d
    kernel_to_torch: ClassVar[Transform]  # Keras' (k…, in, filters) → PyTorch's (filters, in, k…)

    def param_counts(self, p: Any, shape: ir.Shape) -> tuple[int, int]:
        kernel = math.prod(_axes(p.kernel_size))
        return (kernel * shape[-1] * p.filters + (p.filters if p.use_bias else 0), 0)

    def keras(self, p: Any, layer: ir.Layer) -> PyCall:
        return PyCall(
            f"layers.{self.kind}",
            (p.filters,),
            {
                "kernel_size": p.kernel_size,
                "strides": p.strides,
                "padding": p.padding,
                "dilation_rate": p.dilation_rate,
                "activation": keras_activation(p.activation),
                "use_bias": p.use_bias,
                "kernel_initializer": p.kernel_initializer,
                "bias_initializer": p.bias_initializer,
            },
        )

    def _pad(self, pads: list[tuple[int, int]]) -> PyCall:
        """The module that pads (before, after) along each spatial axis."""
        raise NotImplementedError

    def torch(self, p: Any, layer: ir.Layer) -> TorchLowering:
        in_channels = layer.input_shape[-1]
        receptive = math.prod(_axes(p.kernel_size))
        fan_in, fan_out = in_channels * receptive, p.filters * receptive
        modules: list[tuple[str, PyCall]] = []
        forward: list[str] = []
        padding: Any = 0
        if p.padding == "same":
            axes = zip(
                layer.input_shape[:-1],
                _axes(p.kernel_size),
                _axes(p.strides),
                _axes(p.dilation_rate),
                strict=True,
            )
            pads = [same_padding(*axis) for axis in axes]
            if all(before == after for before, after in pads):
                before = tuple(b for b, _ in pads)
                padding = before[0] if len(before) == 1 else before
            else:  # TensorFlow puts the odd cell after; PyTorch's own padding is symmetric
                # `_pad_<name>`: no layer name starts with '_', so no layer can take it
                modules.append((f"_pad_{layer.name}", self._pad(pads)))
                forward.append(f"{{x}} = self._pad_{layer.name}({{x}})")
        conv = PyCall(
            self.torch_module,
            (in_channels, p.filters),
            {
                "kernel_size": p.kernel_size,
                "stride": p.strides,
                "padding": padding,
                "dilation": p.dilation_rate,
                "bias": p.use_bias,
            },
        )
        modules.append((layer.name, conv))
        init = [init_call(p.kernel_initializer, attr(layer, "weight"), fan_in, fan_out)]
        if p.use_bias:
            init.append(init_call(p.bias_initializer, attr(layer, "bias"), fan_in, fan_out))
        return TorchLowering(
            modules=tuple(modules),
            init=tuple(init),
            forward=tuple(forward),
            layout=Layout.CHANNELS_FIRST,
        )

    def weights(self, p: Any, layer: ir.Layer) -> list[WeightMap]:
        kernel = (*_axes(p.kernel_size), layer.input_shape[-1], p.filters)
        maps = [WeightMap("kernel", kernel, "kernel", ("weight",), self.kernel_to_torch)]
        if p.use_bias:
            maps.append(WeightMap("bias", (p.filters,), "bias", ("bias",)))
        return maps


class Conv2DParams(ir.Params):
    filters: int = Field(gt=0, description="number of output channels, a positive integer")
    kernel_size: Pair = Field(description="window size, an integer or [height, width], each > 0")
    strides: Pair = Field((1, 1), description="step of the window: an integer or [height, width]")
    padding: Padding = Field("valid", description="valid (no padding) or same")
    dilation_rate: Pair = Field(
        (1, 1), description="spacing between the window's cells: an integer or [height, width]"
    )
    activation: ActivationName = Field("linear", description="applied to the output")
    use_bias: bool = Field(True, description="add a bias per filter")
    kernel_initializer: InitializerName = Field("glorot_uniform", description="initializer of the kernel")
    bias_initializer: InitializerName = Field("zeros", description="initializer of the bias")


class Conv2D(_Convolution):
    """2-D convolution (cross-correlation) over [height, width, channels] samples."""

    kind = "Conv2D"
    channels_last_memory = True
    torch_module = "nn.Conv2d"
    kernel_to_torch = HWIO_TO_OIHW
    aliases = ("Conv2d",)
    Params = Conv2DParams
    positional = ("filters", "kernel_size")
    summary = "2-D convolution"
    shape_rule = "`[h, w, c]` → `[h', w', filters]`; per axis `valid`: `floor((n − k') / stride) + 1`, `same`: `ceil(n / stride)`, with `k' = (k − 1) · dilation + 1`"
    weights_rule = "`kh · kw · c · filters + filters`"
    notes = "`valid` needs `k' ≤ n` (E0202); `same` pads as TensorFlow does (the odd cell after). An input that is not rank 3 is an error (E0205); `strides` and `dilation_rate` both above 1 is E0220 (Keras refuses the pair)."

    examples = (
        Example("conv_valid", (6, 6, 2), ("Conv2D(3, 3)",)),
        Example("conv_same_s1", (6, 5, 2), ("Conv2D(3, 3, padding=same)",)),
        Example("conv_same_s2_odd", (7, 7, 2), ("Conv2D(3, 3, strides=2, padding=same)",)),
        Example("conv_same_s2_even", (8, 8, 2), ("Conv2D(3, 3, strides=2, padding=same)",)),
        Example("conv_same_s2_mixed", (8, 7, 2), ("Conv2D(3, 2, strides=2, padding=same)",)),
        Example("conv_same_k4_asymmetric", (6, 6, 1), ("Conv2D(2, 4, padding=same)",)),
        Example("conv_same_dilated", (7, 6, 2), ("Conv2D(2, 3, dilation_rate=2, padding=same)",)),
        Example(
            "conv_rect_strides",
            (7, 8, 2),
            ("Conv2D(3, [3, 2], strides=[2, 1], activation=tanh)",),
        ),
        Example("conv_softmax", (5, 5, 2), ("Conv2D(4, 3, activation=softmax)",)),
        Example("conv_no_bias", (5, 5, 2), ("Conv2D(2, 2, use_bias=false, activation=relu)",)),
    )

    def output_shape(self, p: Conv2DParams, shape: ir.Shape) -> ir.Shape:
        _no_strided_dilation("Conv2D", p.strides, p.dilation_rate)
        h, w = _windowed(
            "Conv2D", shape, p.kernel_size, p.strides, p.padding, p.dilation_rate
        )
        return (h, w, p.filters)

    def _pad(self, pads: list[tuple[int, int]]) -> PyCall:
        (top, bottom), (left, right) = pads
        return PyCall("nn.ZeroPad2d", ((left, right, top, bottom),))


def _one(value: Any) -> Any:
    """`[3]` means `3`: Keras accepts a 1-D window as an integer or a one-element list."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


Single = Annotated[PositiveInt, BeforeValidator(_one)]


def _steps(kind: str, shape: ir.Shape) -> tuple[int, int]:
    if len(shape) != 2:
        hint = "add Reshape([steps, channels]) before it"
        if len(shape) == 1:
            hint = f"a flat input of {shape[0]} values needs Reshape([{shape[0]}, 1]) first"
        elif len(shape) == 3:
            hint = (
                f"an image takes the 2-D layer; to read its rows as steps, "
                f"add Reshape([{shape[0]}, {shape[1] * shape[2]}]) before it"
            )
        raise ShapeError(
            "E0205",
            f"{kind} needs a [steps, channels] input per sample, got {fmt(shape)}",
            hint=hint,
        )
    return shape[0], shape[1]


class Conv1DParams(ir.Params):
    filters: int = Field(gt=0, description="number of output channels, a positive integer")
    kernel_size: Single = Field(description="window length, a positive integer")
    strides: Single = Field(1, description="step of the window")
    padding: Padding = Field("valid", description="valid (no padding) or same (TensorFlow's rule)")
    dilation_rate: Single = Field(1, description="spacing between the window's cells")
    activation: ActivationName = Field("linear", description="applied to the output")
    use_bias: bool = Field(True, description="add a bias per filter")
    kernel_initializer: InitializerName = Field("glorot_uniform", description="initializer of the kernel")
    bias_initializer: InitializerName = Field("zeros", description="initializer of the bias")


class Conv1D(_Convolution):
    """1-D convolution (cross-correlation) along the steps of [steps, channels] samples."""

    kind = "Conv1D"
    aliases = ("Conv1d",)
    torch_module = "nn.Conv1d"
    kernel_to_torch = permute((2, 1, 0))
    Params = Conv1DParams
    positional = ("filters", "kernel_size")
    summary = "1-D convolution"
    shape_rule = "`[steps, c]` → `[steps', filters]`, `steps'` as one axis of `Conv2D`"
    weights_rule = "`k · c · filters + filters`"
    notes = "Rank ≠ 2 is E0205, a window longer than the input with `valid` is E0202, `strides` and `dilation_rate` both above 1 is E0220."

    examples = (
        Example("conv1d_valid", (7, 3), ("Conv1D(4, 3)",)),
        Example("conv1d_same_s1", (6, 2), ("Conv1D(3, 3, padding=same)",)),
        Example("conv1d_same_k4_asymmetric", (6, 2), ("Conv1D(2, 4, padding=same)",)),
        Example("conv1d_same_s2_odd", (7, 2), ("Conv1D(3, 3, strides=2, padding=same)",)),
        Example("conv1d_same_s2_even", (8, 2), ("Conv1D(3, 3, strides=2, padding=same)",)),
        Example("conv1d_same_s3_k2", (8, 2), ("Conv1D(2, 2, strides=3, padding=same)",)),
        Example("conv1d_valid_s2", (9, 2), ("Conv1D(3, 3, strides=2, activation=tanh)",)),
        Example("conv1d_dilated_same", (9, 2), ("Conv1D(2, 3, dilation_rate=2, padding=same)",)),
        Example("conv1d_softmax", (6, 2), ("Conv1D(4, 2, activation=softmax)",)),
        Example("conv1d_no_bias_flatten", (6, 2), ("Conv1D(3, 2, use_bias=false)", "Flatten")),
        Example(
            "conv1d_after_embedding",
            (6,),
            (f"Embedding({TOKEN_VOCABULARY}, 3)", "Conv1D(2, 3)"),
            tokens=True,
        ),
        Example("conv1d_then_lstm", (6, 2), ("Conv1D(3, 2, padding=same)", "LSTM(2)")),
    )

    def output_shape(self, p: Conv1DParams, shape: ir.Shape) -> ir.Shape:
        steps, _ = _steps("Conv1D", shape)
        _no_strided_dilation("Conv1D", (p.strides,), (p.dilation_rate,))
        effective = effective_window(p.kernel_size, p.dilation_rate)
        if p.padding == "valid" and effective > steps:
            raise ShapeError(
                "E0202",
                f"Conv1D window {effective} is larger than its input {fmt(shape)} "
                f"(steps {steps} < {effective})",
                hint="use a smaller kernel_size or dilation_rate, or padding=same",
                arg="kernel_size",
            )
        out = window_output_length(steps, p.kernel_size, p.strides, p.padding, p.dilation_rate)
        return (out, p.filters)

    def _pad(self, pads: list[tuple[int, int]]) -> PyCall:
        return PyCall("nn.ConstantPad1d", (pads[0], 0.0))


class Conv2DTransposeParams(ir.Params):
    filters: int = Field(gt=0, description="number of output channels, a positive integer")
    kernel_size: Pair = Field(description="window size, an integer or [height, width], each > 0")
    strides: Pair = Field((1, 1), description="step of the window: an integer or [height, width]")
    padding: Padding = Field("valid", description="valid or same (output = input · strides)")
    activation: ActivationName = Field("linear", description="applied to the output")
    use_bias: bool = Field(True, description="add a bias per filter")
    kernel_initializer: InitializerName = Field("glorot_uniform", description="initializer of the kernel")
    bias_initializer: InitializerName = Field("zeros", description="initializer of the bias")


class Conv2DTranspose(LayerEntry):
    """Transposed 2-D convolution: the gradient of a Conv2D with the same window and strides.

    Output size per axis, as Keras computes it: `valid` n·s + max(k − s, 0), `same` n·s.
    The kernel is (kh, kw, filters, in) in Keras and (in, filters, kh, kw) in PyTorch, a
    transpose with no spatial flip: both are the adjoint of a cross-correlation. PyTorch's
    full output has (n − 1)·s + k positions; where the window is smaller than the stride,
    `output_padding` = s − k adds the missing trailing positions (they hold the bias alone, as
    in TensorFlow), and `same` crops TensorFlow's padding, the smaller half before, from the
    full output.
    """

    kind = "Conv2DTranspose"
    aliases = ("ConvTranspose2d", "Conv2DTranspose2D")
    Params = Conv2DTransposeParams
    positional = ("filters", "kernel_size")
    summary = "transposed 2-D convolution"
    shape_rule = "`[h, w, c]` → `[h', w', filters]`; per axis `valid`: `n · s + max(k − s, 0)`, `same`: `n · s` (Keras' rule)"
    weights_rule = "`kh · kw · c · filters + filters`"
    notes = "Rank ≠ 3 is E0205."

    examples = (
        Example("convt_valid", (3, 4, 2), ("Conv2DTranspose(3, 3)",)),
        Example("convt_valid_s2", (3, 4, 2), ("Conv2DTranspose(3, 3, strides=2)",)),
        Example("convt_valid_k2_s3", (3, 3, 2), ("Conv2DTranspose(2, 2, strides=3)",)),
        Example("convt_same_s1", (4, 3, 2), ("Conv2DTranspose(3, 3, padding=same)",)),
        Example("convt_same_s1_k4", (4, 3, 2), ("Conv2DTranspose(2, 4, padding=same)",)),
        Example("convt_same_s2_k3", (3, 4, 2), ("Conv2DTranspose(3, 3, strides=2, padding=same)",)),
        Example("convt_same_s2_k2", (3, 4, 2), ("Conv2DTranspose(3, 2, strides=2, padding=same)",)),
        Example("convt_same_s2_k4", (3, 3, 1), ("Conv2DTranspose(2, 4, strides=2, padding=same)",)),
        Example("convt_same_s3_k2", (3, 3, 2), ("Conv2DTranspose(2, 2, strides=3, padding=same)",)),
        Example(
            "convt_same_rect",
            (3, 4, 2),
            ("Conv2DTranspose(2, [5, 2], strides=[2, 3], padding=same, activation=relu)",),
        ),
        Example(
            "convt_no_bias_after_conv",
            (6, 6, 1),
            ("Conv2D(2, 3)", "Conv2DTranspose(1, 3, use_bias=false)"),
        ),
    )

    def output_shape(self, p: Conv2DTransposeParams, shape: ir.Shape) -> ir.Shape:
        height, width, _ = _image("Conv2DTranspose", shape)
        return (
            transposed_output_length(height, p.kernel_size[0], p.strides[0], p.padding),
            transposed_output_length(width, p.kernel_size[1], p.strides[1], p.padding),
            p.filters,
        )

    def param_counts(self, p: Conv2DTransposeParams, shape: ir.Shape) -> tuple[int, int]:
        kh, kw = p.kernel_size
        return (kh * kw * shape[2] * p.filters + (p.filters if p.use_bias else 0), 0)

    def keras(self, p: Conv2DTransposeParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.Conv2DTranspose",
            (p.filters,),
            {
                "kernel_size": p.kernel_size,
                "strides": p.strides,
                "padding": p.padding,
                "activation": keras_activation(p.activation),
                "use_bias": p.use_bias,
                "kernel_initializer": p.kernel_initializer,
                "bias_initializer": p.bias_initializer,
            },
        )

    def torch(self, p: Conv2DTransposeParams, layer: ir.Layer) -> TorchLowering:
        in_channels = layer.input_shape[2]
        receptive = p.kernel_size[0] * p.kernel_size[1]
        # Keras' fans for a (kh, kw, filters, in) kernel, which PyTorch computes alike
        fan_in, fan_out = p.filters * receptive, in_channels * receptive
        overlaps = [transposed_overlap(k, s) for k, s in zip(p.kernel_size, p.strides, strict=True)]
        extra = tuple(missing for missing, _ in overlaps)
        module = PyCall(
            "nn.ConvTranspose2d",
            (in_channels, p.filters),
            {
                "kernel_size": p.kernel_size,
                "stride": p.strides,
                "output_padding": extra,
                "bias": p.use_bias,
            },
        )
        expr = "{m}({x})"
        overlap = [beyond for _, beyond in overlaps]
        if p.padding == "same" and any(overlap):
            # TensorFlow's `same` padding cropped off the full output, the smaller half before
            top, left = overlap[0] // 2, overlap[1] // 2
            height, width = layer.output_shape[:2]
            expr += f"[:, :, {top}:{top + height}, {left}:{left + width}]"
        init = [init_call(p.kernel_initializer, attr(layer, "weight"), fan_in, fan_out)]
        if p.use_bias:
            init.append(init_call(p.bias_initializer, attr(layer, "bias"), fan_in, fan_out))
        return TorchLowering(
            modules=((layer.name, module),),
            init=tuple(init),
            expr=expr,
            layout=Layout.CHANNELS_FIRST,
        )

    def weights(self, p: Conv2DTransposeParams, layer: ir.Layer) -> list[WeightMap]:
        kh, kw = p.kernel_size
        kernel = (kh, kw, p.filters, layer.input_shape[2])
        # (kh, kw, filters, in) → (in, filters, kh, kw): the same axes as HWIO → OIHW
        maps = [WeightMap("kernel", kernel, "kernel", ("weight",), HWIO_TO_OIHW)]
        if p.use_bias:
            maps.append(WeightMap("bias", (p.filters,), "bias", ("bias",)))
        return maps


class PoolParams(ir.Params):
    pool_size: Pair = Field((2, 2), description="window size, an integer or [height, width]")
    strides: Pair = Field(
        description="step of the window: an integer or [height, width]; left out or none, pool_size",
        json_schema_extra={"default_text": "pool_size"},
    )
    padding: Padding = Field("valid", description="valid or same")

    @model_validator(mode="before")
    @classmethod
    def _strides_default_to_pool_size(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("strides") is None:
            data = {**data, "strides": data.get("pool_size", (2, 2))}
        return data


class Pooling2D(LayerEntry):
    """Shared by the 2-D poolings: parameters, shape rule and the Keras layer of the same name."""

    shape_rule = "`[h, w, c]` → `[h', w', c]`, each axis as for `Conv2D` (dilation 1)"
    notes = "Rank ≠ 3 is E0205; a window larger than the input with `valid` is E0202."

    Params = PoolParams
    positional = ("pool_size",)

    def output_shape(self, p: PoolParams, shape: ir.Shape) -> ir.Shape:
        h, w = _windowed(
            self.kind, shape, p.pool_size, p.strides, p.padding, window_arg="pool_size"
        )
        return (h, w, shape[2])

    def keras(self, p: PoolParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            f"layers.{self.kind}",
            (),
            {"pool_size": p.pool_size, "strides": p.strides, "padding": p.padding},
        )


class MaxPooling2D(Pooling2D):
    """The maximum over each window; padded cells never win."""

    kind = "MaxPooling2D"
    aliases = ("MaxPool2D", "MaxPool2d")
    summary = "2-D max pooling"

    examples = (
        Example("maxpool_valid", (6, 6, 2), ("MaxPooling2D(2)",)),
        Example("maxpool_valid_s2_k3", (7, 7, 2), ("MaxPooling2D(3, strides=2)",)),
        Example("maxpool_same_odd", (7, 7, 2), ("MaxPooling2D(2, padding=same)",)),
        Example(
            "maxpool_same_even_k3_s2",
            (8, 8, 2),
            ("MaxPooling2D(3, strides=2, padding=same)",),
        ),
        Example("maxpool_same_s1", (5, 6, 2), ("MaxPooling2D(3, strides=1, padding=same)",)),
        # a window of negative values beside padding: padded cells must never win
        Example(
            "maxpool_same_after_conv",
            (7, 6, 2),
            ("Conv2D(2, 2)", "MaxPooling2D(2, padding=same)"),
        ),
    )

    def torch(self, p: PoolParams, layer: ir.Layer) -> TorchLowering:
        modules: list[tuple[str, PyCall]] = []
        forward: list[str] = []
        if p.padding == "same":
            pads = _torch_padding(layer.input_shape, p.pool_size, p.strides, (1, 1))
            if any(pads):
                pad = PyCall("nn.ConstantPad2d", (pads, Code('float("-inf")')))
                modules.append((f"_pad_{layer.name}", pad))  # no layer name starts with '_'
                forward.append(f"{{x}} = self._pad_{layer.name}({{x}})")
        modules.append(
            (layer.name, PyCall("nn.MaxPool2d", (), {"kernel_size": p.pool_size, "stride": p.strides}))
        )
        return TorchLowering(
            modules=tuple(modules), forward=tuple(forward), layout=Layout.CHANNELS_FIRST
        )


class AveragePooling2D(Pooling2D):
    """The mean over each window; with `same` padding, padded cells are left out of the mean.

    Keras (TensorFlow) divides each window's sum by the number of real cells in it. Where the
    `same` padding is symmetric, PyTorch's `nn.AvgPool2d(count_include_pad=False)` does the
    same; where it is not (the odd cell after), the generated module uses the helper
    `SamePaddingAvgPool2d`: it pads explicitly, sums each window and divides by a count map
    computed once for the input size.
    """

    kind = "AveragePooling2D"
    aliases = ("AvgPool2D", "AvgPool2d")
    summary = "2-D average pooling"

    examples = (
        Example("avgpool_valid", (6, 6, 2), ("AveragePooling2D(2)",)),
        Example("avgpool_same_odd", (7, 7, 2), ("AveragePooling2D(2, padding=same)",)),
        Example("avgpool_same_even", (6, 6, 2), ("AveragePooling2D(2, padding=same)",)),
        Example("avgpool_same_k3_s1", (5, 6, 2), ("AveragePooling2D(3, strides=1, padding=same)",)),
        Example(
            "avgpool_same_k3_s2_odd",
            (7, 7, 2),
            ("AveragePooling2D(3, strides=2, padding=same)",),
        ),
        Example(
            "avgpool_same_k3_s2_even",
            (8, 8, 2),
            ("AveragePooling2D(3, strides=2, padding=same)",),
        ),
        Example("avgpool_same_k2_s1", (5, 4, 2), ("AveragePooling2D(2, strides=1, padding=same)",)),
        Example(
            "avgpool_same_rect",
            (5, 6, 3),
            ("AveragePooling2D([2, 3], strides=[1, 2], padding=same)",),
        ),
    )

    def torch(self, p: PoolParams, layer: ir.Layer) -> TorchLowering:
        kwargs: dict[str, Any] = {"kernel_size": p.pool_size, "stride": p.strides}
        if p.padding == "same":
            left, right, top, bottom = _torch_padding(layer.input_shape, p.pool_size, p.strides, (1, 1))
            if left != right or top != bottom:
                module = PyCall(
                    "SamePaddingAvgPool2d",
                    (),
                    {
                        **kwargs,
                        "padding": (left, right, top, bottom),
                        "input_size": tuple(layer.input_shape[:2]),
                    },
                )
                return TorchLowering(
                    modules=((layer.name, module),),
                    layout=Layout.CHANNELS_FIRST,
                    helpers=("SamePaddingAvgPool2d",),
                )
            kwargs.update(padding=(top, left), count_include_pad=False)
        return TorchLowering(
            modules=((layer.name, PyCall("nn.AvgPool2d", (), kwargs)),),
            layout=Layout.CHANNELS_FIRST,
        )


class _GlobalPooling(LayerEntry):
    """A reduction over the spatial axes, by rank: [steps, c] or [h, w, c] → [c]."""

    rank: ClassVar[int]  # spatial axes: 1 (steps) or 2 (height, width)
    reduction: ClassVar[str]

    def output_shape(self, p: ir.Params, shape: ir.Shape) -> ir.Shape:
        (_steps if self.rank == 1 else _image)(self.kind, shape)
        return (shape[-1],)

    def keras(self, p: ir.Params, layer: ir.Layer) -> PyCall:
        return PyCall(f"layers.{self.kind}")

    def torch(self, p: ir.Params, layer: ir.Layer) -> TorchLowering:
        # channels-first, as the convolutions before it leave the tensor: no permute needed;
        # the spatial axes follow batch and channels
        dims = tuple(range(2, 2 + self.rank))
        dim = repr(dims[0] if self.rank == 1 else dims)
        return TorchLowering(
            modules=(), expr="{x}." + self.reduction + f"(dim={dim})", layout=Layout.CHANNELS_FIRST
        )


class _GlobalPooling1D(_GlobalPooling):
    """A reduction over the steps: [steps, c] → [c]."""

    shape_rule = "`[steps, c]` → `[c]`"
    notes = "Rank ≠ 2 is E0205."
    rank = 1


class _GlobalPooling2D(_GlobalPooling):
    """A reduction over height and width: [h, w, c] → [c]."""

    shape_rule = "`[h, w, c]` → `[c]`"
    notes = "Rank ≠ 3 is E0205."
    rank = 2


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean of each channel over the steps."""

    kind = "GlobalAveragePooling1D"
    aliases = ("GlobalAvgPool1D",)
    summary = "mean of each channel over the steps"
    reduction = "mean"

    examples = (
        Example("gap1d", (5, 3), ("GlobalAveragePooling1D",)),
        Example("gap1d_after_conv1d", (6, 2), ("Conv1D(3, 3)", "GlobalAveragePooling1D")),
    )


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum of each channel over the steps."""

    kind = "GlobalMaxPooling1D"
    aliases = ("GlobalMaxPool1D",)
    summary = "maximum of each channel over the steps"
    reduction = "amax"

    examples = (
        Example("gmp1d", (5, 3), ("GlobalMaxPooling1D",)),
        Example("gmp1d_after_conv1d", (6, 2), ("Conv1D(3, 3)", "GlobalMaxPooling1D")),
    )


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel over the whole image."""

    kind = "GlobalAveragePooling2D"
    aliases = ("GlobalAvgPool2D",)
    summary = "mean of each channel over height and width"
    reduction = "mean"

    examples = (
        Example("gap", (5, 4, 3), ("GlobalAveragePooling2D",)),
        Example("gap_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "GlobalAveragePooling2D")),
    )


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum of each channel over the whole image."""

    kind = "GlobalMaxPooling2D"
    aliases = ("GlobalMaxPool2D",)
    summary = "maximum of each channel over height and width"
    reduction = "amax"

    examples = (
        Example("gmp", (5, 4, 3), ("GlobalMaxPooling2D",)),
        Example("gmp_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "GlobalMaxPooling2D")),
    )


def _padding_pairs(value: Any) -> Any:
    """`1`, `[1, 2]` or `[[1, 2], [3, 4]]` → ((top, bottom), (left, right)), Keras' three forms."""

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if count(value):
        return ((value, value), (value, value))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        if all(count(v) for v in value):
            return ((value[0], value[0]), (value[1], value[1]))
        if all(isinstance(v, (list, tuple)) and len(v) == 2 and all(map(count, v)) for v in value):
            return (tuple(value[0]), tuple(value[1]))
    raise PydanticCustomError(
        "padding_form",
        "expected an integer ≥ 0, [height, width] or [[top, bottom], [left, right]]",
    )


PaddingPairs = Annotated[
    tuple[tuple[int, int], tuple[int, int]],
    BeforeValidator(
        _padding_pairs,
        json_schema_input_type=int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]],
    ),
]


class ZeroPadding2DParams(ir.Params):
    padding: PaddingPairs = Field(
        ((1, 1), (1, 1)),
        description="zeros to add: an integer, [height, width] or [[top, bottom], [left, right]]",
    )


class ZeroPadding2D(LayerEntry):
    """Adds rows and columns of zeros around each [height, width, channels] sample."""

    kind = "ZeroPadding2D"
    aliases = ("ZeroPad2d",)
    Params = ZeroPadding2DParams
    positional = ("padding",)
    summary = "pads the image with zeros"
    shape_rule = "`[h, w, c]` → `[h + top + bottom, w + left + right, c]`"
    notes = "Rank ≠ 3 is E0205; another form of `padding` is E0113."

    examples = (
        Example("zeropad_int", (3, 4, 2), ("ZeroPadding2D",)),
        Example("zeropad_hw", (3, 4, 2), ("ZeroPadding2D([2, 1])",)),
        Example("zeropad_pairs", (3, 4, 2), ("ZeroPadding2D([[0, 2], [3, 1]])",)),
        Example("zeropad_conv", (4, 4, 2), ("ZeroPadding2D([[1, 0], [0, 1]])", "Conv2D(2, 3)")),
    )

    def output_shape(self, p: ZeroPadding2DParams, shape: ir.Shape) -> ir.Shape:
        height, width, channels = _image("ZeroPadding2D", shape)
        (top, bottom), (left, right) = p.padding
        return (height + top + bottom, width + left + right, channels)

    def keras(self, p: ZeroPadding2DParams, layer: ir.Layer) -> PyCall:
        return PyCall("layers.ZeroPadding2D", (), {"padding": p.padding})

    def torch(self, p: ZeroPadding2DParams, layer: ir.Layer) -> TorchLowering:
        (top, bottom), (left, right) = p.padding
        module = PyCall("nn.ZeroPad2d", ((left, right, top, bottom),))
        return TorchLowering(modules=((layer.name, module),), layout=Layout.CHANNELS_FIRST)


class UpSampling2DParams(ir.Params):
    size: Pair = Field((2, 2), description="factor for rows and columns: an integer or [height, width]")
    interpolation: Literal["nearest", "bilinear"] = Field(
        "nearest", description="nearest (repeat each cell) or bilinear (half-pixel centres)"
    )


class UpSampling2D(LayerEntry):
    """Enlarges each [height, width, channels] sample by whole factors.

    `nearest` repeats every cell size[0] × size[1] times. `bilinear` interpolates with
    half-pixel centres (TensorFlow's `resize` and PyTorch's `align_corners=False` alike; no
    antialiasing is involved when enlarging).
    """

    kind = "UpSampling2D"
    aliases = ("Upsample2D",)
    Params = UpSampling2DParams
    positional = ("size",)
    summary = "enlarges the image by whole factors"
    shape_rule = "`[h, w, c]` → `[h · size[0], w · size[1], c]`"
    notes = "Rank ≠ 3 is E0205."

    examples = (
        Example("upsample_nearest", (3, 4, 2), ("UpSampling2D",)),
        Example("upsample_nearest_rect", (3, 2, 2), ("UpSampling2D([3, 2])",)),
        Example("upsample_bilinear", (3, 4, 2), ("UpSampling2D(2, interpolation=bilinear)",)),
        Example(
            "upsample_bilinear_rect",
            (3, 3, 1),
            ("UpSampling2D([3, 2], interpolation=bilinear)",),
        ),
        Example("upsample_after_conv", (4, 4, 1), ("Conv2D(2, 3)", "UpSampling2D", "Flatten")),
    )

    def output_shape(self, p: UpSampling2DParams, shape: ir.Shape) -> ir.Shape:
        height, width, channels = _image("UpSampling2D", shape)
        return (height * p.size[0], width * p.size[1], channels)

    def keras(self, p: UpSampling2DParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.UpSampling2D", (), {"size": p.size, "interpolation": p.interpolation}
        )

    def torch(self, p: UpSampling2DParams, layer: ir.Layer) -> TorchLowering:
        rows, columns = p.size
        if p.interpolation == "nearest":  # whole repeats: exact, with no scale arithmetic
            expr = (
                f"{{x}}.repeat_interleave({rows}, dim=2).repeat_interleave({columns}, dim=3)"
            )
            return TorchLowering(modules=(), expr=expr, layout=Layout.CHANNELS_FIRST)
        module = PyCall(
            "nn.Upsample",
            (),
            {"scale_factor": (float(rows), float(columns)), "mode": "bilinear", "align_corners": False},
        )
        return TorchLowering(modules=((layer.name, module),), layout=Layout.CHANNELS_FIRST)
