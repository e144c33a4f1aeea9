"""Core layers: Dense, Flatten, Dropout, Activation, Reshape, Permute."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

from netspec import ir
from netspec.catalogue.activations import ActivationEntry
from netspec.catalogue.base import (
    ActivationName,
    InitializerName,
    Layout,
    PyCall,
    ShapeError,
    TorchLowering,
    lookup,
)
from netspec.catalogue.layer import TRANSPOSE, Example, LayerEntry, WeightMap, attr
from netspec.catalogue.shapes import fmt


def init_call(initializer: str, tensor, fan_in: int, fan_out: int) -> PyCall:
    """The PyTorch `nn.init` call for a named netspec initializer."""
    entry = lookup("initializer", initializer)
    assert entry is not None, initializer  # validated at check time
    return entry().torch(tensor, fan_in, fan_out)


def keras_activation(name: str) -> str:
    entry = lookup("activation", name)
    assert entry is not None and issubclass(entry, ActivationEntry), name
    return entry.keras_name


class DenseParams(ir.Params):
    units: int = Field(gt=0, description="number of output units, a positive integer")
    activation: ActivationName = Field("linear", description="applied to the output")
    use_bias: bool = Field(True, description="add a bias vector")
    kernel_initializer: InitializerName = Field(
        "glorot_uniform", description="initializer of the weight matrix"
    )
    bias_initializer: InitializerName = Field("zeros", description="initializer of the bias")


class Dense(LayerEntry):
    """y = activation(x · W + b), applied to the last axis."""

    kind = "Dense"
    aliases = ("Linear",)
    Params = DenseParams
    positional = ("units",)
    summary = "fully connected layer"
    shape_rule = "`[n]` → `[units]`; `[steps, n]` → `[steps, units]` (every step alike)"
    weights_rule = "`n · units + units` (no `+ units` with `use_bias=false`)"
    notes = "An input of rank 3 or more is an error (E0201: insert `Flatten`)."

    examples = (
        Example("dense", (5,), ("Dense(4)",)),
        Example("dense_no_bias", (5,), ("Dense(3, use_bias=false)",)),
        Example("dense_on_steps", (3, 5), ("Dense(4, activation=softmax)",)),
        Example(
            "dense_{activation}", (5,), ("Dense(4, activation={activation})",), each_activation=True
        ),
    )

    def output_shape(self, p: DenseParams, shape: ir.Shape) -> ir.Shape:
        if len(shape) > 2:
            raise ShapeError(
                "E0201",
                f"Dense needs a 1-D input per sample, got {fmt(shape)}",
                hint="insert Flatten before this layer",
            )
        if len(shape) == 0:
            raise ShapeError("E0205", "Dense needs at least a 1-D input per sample, got a scalar")
        return (*shape[:-1], p.units)

    def param_counts(self, p: DenseParams, shape: ir.Shape) -> tuple[int, int]:
        return (shape[-1] * p.units + (p.units if p.use_bias else 0), 0)

    def keras(self, p: DenseParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.Dense",
            (p.units,),
            {
                "activation": keras_activation(p.activation),
                "use_bias": p.use_bias,
                "kernel_initializer": p.kernel_initializer,
                "bias_initializer": p.bias_initializer,
            },
        )

    def torch(self, p: DenseParams, layer: ir.Layer) -> TorchLowering:
        fan_in = layer.input_shape[-1]
        init = [init_call(p.kernel_initializer, attr(layer, "weight"), fan_in, p.units)]
        if p.use_bias:
            init.append(init_call(p.bias_initializer, attr(layer, "bias"), fan_in, p.units))
        return TorchLowering(
            modules=((layer.name, PyCall("nn.Linear", (fan_in, p.units), {"bias": p.use_bias})),),
            init=tuple(init),
        )

    def weights(self, p: DenseParams, layer: ir.Layer) -> list[WeightMap]:
        fan_in = layer.input_shape[-1]
        maps = [WeightMap("kernel", (fan_in, p.units), "kernel", ("weight",), TRANSPOSE)]
        if p.use_bias:
            maps.append(WeightMap("bias", (p.units,), "bias", ("bias",)))
        return maps


class Flatten(LayerEntry):
    """Flattens each sample to one axis, in channels-last (row-major) order."""

    kind = "Flatten"
    transparent = True
    summary = "flattens each sample to a vector"
    shape_rule = "`[d1, …, dk]` → `[d1 · … · dk]`"

    examples = (
        Example("flatten", (3, 4, 2), ("Flatten",)),
        Example("flatten_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "Flatten", "Dense(4)")),
        Example("flatten_after_pool", (6, 6, 2), ("MaxPooling2D(2)", "Flatten")),
    )

    def output_shape(self, p: ir.Params, shape: ir.Shape) -> ir.Shape:
        return (math.prod(shape),)

    def keras(self, p: ir.Params, layer: ir.Layer) -> PyCall:
        return PyCall("layers.Flatten")

    def torch(self, p: ir.Params, layer: ir.Layer) -> TorchLowering:
        return TorchLowering(modules=((layer.name, PyCall("nn.Flatten")),))


class Identity(LayerEntry):
    """Passes its input on unchanged: names a tensor, e.g. the shortcut of a residual block."""

    kind = "Identity"
    transparent = True
    summary = "passes its input on unchanged"
    shape_rule = "unchanged"

    examples = (
        Example("identity", (6,), ("Identity",)),
        Example("identity_after_conv", (5, 5, 2), ("Conv2D(3, 2)", "Identity", "Flatten")),
    )

    def output_shape(self, p: ir.Params, shape: ir.Shape) -> ir.Shape:
        return shape

    def keras(self, p: ir.Params, layer: ir.Layer) -> PyCall:
        return PyCall("layers.Identity")

    def torch(self, p: ir.Params, layer: ir.Layer) -> TorchLowering:
        return TorchLowering(modules=(), expr="{x}", layout=Layout.ANY)


class DropoutParams(ir.Params):
    rate: float = Field(ge=0.0, lt=1.0, description="fraction of inputs dropped, in [0, 1)")


class Dropout(LayerEntry):
    """While training, zeroes each input with probability `rate` and scales the rest by 1/(1-rate)."""

    kind = "Dropout"
    Params = DropoutParams
    positional = ("rate",)
    transparent = True
    summary = "randomly zeroes inputs while training"
    shape_rule = "unchanged"
    notes = "At inference it passes its input through unchanged."

    examples = (
        Example("dropout", (6,), ("Dropout(0.5)",)),
        Example("dropout_after_conv", (5, 5, 2), ("Conv2D(3, 2)", "Dropout(0.3)")),
    )

    def output_shape(self, p: DropoutParams, shape: ir.Shape) -> ir.Shape:
        return shape

    def keras(self, p: DropoutParams, layer: ir.Layer) -> PyCall:
        return PyCall("layers.Dropout", (p.rate,))

    def torch(self, p: DropoutParams, layer: ir.Layer) -> TorchLowering:
        return TorchLowering(
            modules=((layer.name, PyCall("nn.Dropout", (), {"p": p.rate})),), layout=Layout.ANY
        )


class ActivationParams(ir.Params):
    activation: ActivationName = Field(description="the activation to apply, e.g. relu")


class Activation(LayerEntry):
    """Applies an activation to its input."""

    kind = "Activation"
    Params = ActivationParams
    positional = ("activation",)
    summary = "applies an activation function"
    shape_rule = "unchanged"

    examples = (
        Example("activation_{activation}", (6,), ("Activation({activation})",), each_activation=True),
        # after a convolution the PyTorch tensor is channels-first: softmax over axis 1
        Example("activation_softmax_after_conv", (5, 5, 2), ("Conv2D(3, 2)", "Activation(softmax)")),
        Example("activation_log_softmax_on_steps", (3, 4), ("Activation(log_softmax)",)),
    )

    def output_shape(self, p: ActivationParams, shape: ir.Shape) -> ir.Shape:
        return shape

    def keras(self, p: ActivationParams, layer: ir.Layer) -> PyCall:
        return PyCall("layers.Activation", (keras_activation(p.activation),))

    def torch(self, p: ActivationParams, layer: ir.Layer) -> TorchLowering:
        return TorchLowering(modules=(), expr="{x}", layout=Layout.ANY)


Dim = Annotated[int, Field(ge=-1)]


class ReshapeParams(ir.Params):
    target_shape: tuple[Dim, ...] = Field(
        min_length=1,
        description="the per-sample shape to produce; one axis may be -1 to be inferred",
    )


class Reshape(LayerEntry):
    """Reshapes each sample, in channels-last (row-major) order."""

    kind = "Reshape"
    Params = ReshapeParams
    positional = ("target_shape",)
    transparent = True
    summary = "reshapes each sample"
    shape_rule = "`[…]` → `target_shape`, a `-1` replaced by what makes the sizes agree"
    notes = "The sizes must multiply to the input's size, at most one axis may be `-1`, and no size may be 0 (E0204)."

    examples = (
        Example("reshape_to_image", (18,), ("Reshape([3, 3, 2])", "Conv2D(2, 2)")),
        Example("reshape_after_conv", (5, 5, 2), ("Conv2D(3, 2)", "Reshape([-1, 3])")),
    )

    def output_shape(self, p: ReshapeParams, shape: ir.Shape) -> ir.Shape:
        size = math.prod(shape)
        target = list(p.target_shape)
        unknown = [i for i, d in enumerate(target) if d == -1]
        if 0 in target:
            raise ShapeError("E0204", "Reshape target sizes must be positive", arg="target_shape")
        if len(unknown) > 1:
            raise ShapeError(
                "E0204", "Reshape can infer only one axis (-1)", arg="target_shape"
            )
        known = math.prod(d for d in target if d != -1)
        if unknown:
            if size % known:
                raise ShapeError(
                    "E0204",
                    f"Reshape cannot fit {size} values ({fmt(shape)}) into {fmt(p.target_shape)}",
                    hint=f"the known sizes multiply to {known}, which does not divide {size}",
                    arg="target_shape",
                )
            target[unknown[0]] = size // known
        elif known != size:
            raise ShapeError(
                "E0204",
                f"Reshape of {fmt(shape)} ({size} values) into {fmt(p.target_shape)} "
                f"({known} values): the sizes do not multiply out",
                hint=f"choose a target shape whose sizes multiply to {size}",
                arg="target_shape",
            )
        return tuple(target)

    def keras(self, p: ReshapeParams, layer: ir.Layer) -> PyCall:
        return PyCall("layers.Reshape", (tuple(layer.output_shape),))

    def torch(self, p: ReshapeParams, layer: ir.Layer) -> TorchLowering:
        dims = ", ".join(str(d) for d in layer.output_shape)
        return TorchLowering(modules=(), expr="{x}.reshape({x}.shape[0], " + dims + ")")


class PermuteParams(ir.Params):
    dims: tuple[Annotated[int, Field(gt=0)], ...] = Field(
        min_length=1,
        description="the new order of the per-sample axes, counted from 1 as in Keras",
    )


class Permute(LayerEntry):
    """Reorders the axes of each sample: output axis i is input axis dims[i] (from 1)."""

    kind = "Permute"
    Params = PermuteParams
    positional = ("dims",)
    transparent = True
    summary = "reorders the axes of each sample"
    shape_rule = "output axis `i` is input axis `dims[i]`: `Permute([2, 1])` turns `[steps, features]` into `[features, steps]`"
    notes = "`dims` must list each axis once (E0221)."

    examples = (
        Example("permute_2d", (3, 4), ("Permute([2, 1])",)),
        Example("permute_3d", (2, 3, 4), ("Permute([3, 1, 2])", "Flatten")),
        Example("permute_after_conv", (5, 4, 2), ("Conv2D(3, 2)", "Permute([2, 3, 1])", "Flatten")),
        Example("permute_then_dense", (3, 4), ("Permute([2, 1])", "Dense(2)")),
    )

    def output_shape(self, p: PermuteParams, shape: ir.Shape) -> ir.Shape:
        axes = list(range(1, len(shape) + 1))
        if sorted(p.dims) != axes:
            raise ShapeError(
                "E0221",
                f"Permute dims {fmt(p.dims)} are not an order of the {len(shape)} axes "
                f"of its input {fmt(shape)}",
                hint=f"list each axis 1 … {len(shape)} once, e.g. {fmt(tuple(reversed(axes)))}",
                arg="dims",
            )
        return tuple(shape[d - 1] for d in p.dims)

    def keras(self, p: PermuteParams, layer: ir.Layer) -> PyCall:
        return PyCall("layers.Permute", (p.dims,))

    def torch(self, p: PermuteParams, layer: ir.Layer) -> TorchLowering:
        order = ", ".join(str(d) for d in p.dims)
        return TorchLowering(modules=(), expr="{x}.permute(0, " + order + ")")
