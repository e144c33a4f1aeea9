"""Normalization layers: BatchNormalization and LayerNormalization, over the channel (last) axis."""

from __future__ import annotations

from pydantic import Field

from netspec import ir
from netspec.catalogue.base import InitializerName, Layout, PyCall, ShapeError, TorchLowering
from netspec.catalogue.core import init_call
from netspec.catalogue.layer import Example, LayerEntry, WeightMap, attr
from netspec.catalogue.shapes import fmt

# PyTorch's module for a per-sample rank: [c] and [steps, c] → 1d, [h, w, c] → 2d, …
_BATCH_NORM_MODULES = {
    1: "nn.BatchNorm1d",
    2: "nn.BatchNorm1d",
    3: "nn.BatchNorm2d",
    4: "nn.BatchNorm3d",
}


def _torch_momentum(keras_momentum: float) -> float:
    """PyTorch's momentum is the weight of the new batch, Keras' the weight of the old value."""
    return float(f"{1.0 - keras_momentum:.12g}")


class BatchNormalizationParams(ir.Params):
    momentum: float = Field(
        0.99,
        ge=0.0,
        le=1.0,
        description="weight of the old value in each update of the moving statistics "
        "(Keras' meaning; PyTorch's momentum is 1 - this)",
    )
    epsilon: float = Field(1e-3, gt=0.0, description="added to the variance before the square root")
    gamma_initializer: InitializerName = Field("ones", description="initializer of the scale")
    beta_initializer: InitializerName = Field("zeros", description="initializer of the offset")
    moving_mean_initializer: InitializerName = Field(
        "zeros", description="initializer of the moving mean"
    )
    moving_variance_initializer: InitializerName = Field(
        "ones", description="initializer of the moving variance"
    )


class BatchNormalization(LayerEntry):
    """Normalises each channel (the last axis) by batch statistics while training, and by
    moving statistics at inference: y = gamma · (x - mean) / sqrt(var + epsilon) + beta.

    netspec's defaults are Keras': momentum 0.99 (PyTorch momentum 0.01, the weight of the new
    batch) and epsilon 1e-3 (PyTorch's own default is 1e-5); both modules state them. On
    [h, w, c] images the PyTorch module is `nn.BatchNorm2d` and runs channels-first; on [c]
    and [steps, c] it is `nn.BatchNorm1d`.

    Parameters: gamma and beta (2 · c trainable) and the moving mean and variance (2 · c
    non-trainable); Keras counts the moving statistics as non-trainable parameters, PyTorch
    holds them as buffers (`running_mean`, `running_var`) besides `num_batches_tracked`,
    which netspec does not use.

    Inference is the same function on both targets. Training normalises alike (by the
    biased batch variance) but updates the moving variance differently: PyTorch folds in the
    *unbiased* batch variance (divided by n - 1), Keras the biased one (divided by n), so the
    moving variances drift apart by a factor n / (n - 1) per update, n being the values per
    channel in the batch.
    """

    kind = "BatchNormalization"
    aliases = ("BatchNorm",)
    Params = BatchNormalizationParams
    summary = "normalises each channel by batch, then moving, statistics"
    shape_rule = "unchanged: `[c]`, `[steps, c]`, `[h, w, c]` or `[d, h, w, c]`, channels last"
    weights_rule = "`2 · c` trainable (gamma, beta) and `2 · c` non-trainable (the moving mean and variance)"
    notes = "Another rank is E0205. The defaults are Keras' (momentum 0.99, epsilon 1e-3) on both targets. A frozen BatchNormalization (`trainable=false`) keeps its moving statistics in training, as in Keras."

    examples = (
        Example("bn_flat", (6,), ("BatchNormalization",)),
        Example("bn_steps", (4, 5), ("BatchNormalization",)),
        Example("bn_image", (5, 5, 3), ("BatchNormalization",)),
        Example("bn_volume", (2, 3, 3, 2), ("BatchNormalization",)),
        Example("bn_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "BatchNormalization(epsilon=0.01)")),
        Example("bn_then_dense", (6,), ("BatchNormalization(momentum=0.9)", "Dense(3)")),
    )

    def output_shape(self, p: BatchNormalizationParams, shape: ir.Shape) -> ir.Shape:
        if len(shape) not in _BATCH_NORM_MODULES:
            raise ShapeError(
                "E0205",
                f"BatchNormalization needs an input of 1 to 4 axes per sample, got {fmt(shape)}",
                hint="channels are the last axis: [c], [steps, c], [h, w, c] or [d, h, w, c]",
            )
        return shape

    def param_counts(self, p: BatchNormalizationParams, shape: ir.Shape) -> tuple[int, int]:
        return (2 * shape[-1], 2 * shape[-1])

    def keras(self, p: BatchNormalizationParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.BatchNormalization",
            (),
            {
                "axis": -1,
                "momentum": p.momentum,
                "epsilon": p.epsilon,
                "gamma_initializer": p.gamma_initializer,
                "beta_initializer": p.beta_initializer,
                "moving_mean_initializer": p.moving_mean_initializer,
                "moving_variance_initializer": p.moving_variance_initializer,
            },
        )

    def torch(self, p: BatchNormalizationParams, layer: ir.Layer) -> TorchLowering:
        channels = layer.input_shape[-1]
        module = PyCall(
            _BATCH_NORM_MODULES[len(layer.input_shape)],
            (channels,),
            {"eps": p.epsilon, "momentum": _torch_momentum(p.momentum)},
        )
        init = (
            init_call(p.gamma_initializer, attr(layer, "weight"), channels, channels),
            init_call(p.beta_initializer, attr(layer, "bias"), channels, channels),
            init_call(p.moving_mean_initializer, attr(layer, "running_mean"), channels, channels),
            init_call(
                p.moving_variance_initializer, attr(layer, "running_var"), channels, channels
            ),
        )
        return TorchLowering(
            modules=((layer.name, module),), init=init, layout=Layout.CHANNELS_FIRST
        )

    def weights(self, p: BatchNormalizationParams, layer: ir.Layer) -> list[WeightMap]:
        c = (layer.input_shape[-1],)
        return [
            WeightMap("gamma", c, "gamma", ("weight",)),
            WeightMap("beta", c, "beta", ("bias",)),
            WeightMap("moving_mean", c, "moving_mean", ("running_mean",), trainable=False),
            WeightMap("moving_variance", c, "moving_variance", ("running_var",), trainable=False),
        ]


class LayerNormalizationParams(ir.Params):
    epsilon: float = Field(1e-3, gt=0.0, description="added to the variance before the square root")
    gamma_initializer: InitializerName = Field("ones", description="initializer of the scale")
    beta_initializer: InitializerName = Field("zeros", description="initializer of the offset")


class LayerNormalization(LayerEntry):
    """Normalises each sample over its last axis: y = gamma · (x - mean) / sqrt(var + epsilon) + beta.

    The same in training and inference. netspec's epsilon is Keras' 1e-3 (PyTorch's default
    is 1e-5); both modules state it. Parameters: gamma and beta, 2 · (last axis) trainable.
    Keras gets `StableLayerNormalization` (snippets/keras_layers.py): Keras' layer with its
    weights and config, computed as PyTorch's nn.LayerNorm is (normalize, then scale and
    shift), since Keras' own x·inv + (beta - mean·inv) loses up to 1e-4 over 1-2 features.
    """

    kind = "LayerNormalization"
    aliases = ("LayerNorm",)
    Params = LayerNormalizationParams
    summary = "normalises each sample over its last axis"
    shape_rule = "unchanged, any rank"
    weights_rule = "`2 · n`, `n` the size of the last axis"
    notes = "The same in training and inference; the epsilon is Keras' 1e-3 on both targets."

    examples = (
        Example("ln_flat", (6,), ("LayerNormalization",)),
        Example("ln_steps", (4, 5), ("LayerNormalization",)),
        Example("ln_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "LayerNormalization(epsilon=1e-5)")),
        # a narrow axis and a small epsilon: Keras' own x·inv + (beta - mean·inv) cancels badly
        Example("ln_one_feature", (3, 1), ("LayerNormalization(epsilon=1e-6)",)),
        Example("ln_two_features", (5, 2), ("LayerNormalization(epsilon=1e-5)",)),
    )

    def output_shape(self, p: LayerNormalizationParams, shape: ir.Shape) -> ir.Shape:
        return shape

    def param_counts(self, p: LayerNormalizationParams, shape: ir.Shape) -> tuple[int, int]:
        return (2 * shape[-1], 0)

    def keras(self, p: LayerNormalizationParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "StableLayerNormalization",
            (),
            {
                "axis": -1,
                "epsilon": p.epsilon,
                "gamma_initializer": p.gamma_initializer,
                "beta_initializer": p.beta_initializer,
            },
        )

    def keras_helpers(self, p: LayerNormalizationParams) -> tuple[str, ...]:
        return ("StableLayerNormalization",)

    def torch(self, p: LayerNormalizationParams, layer: ir.Layer) -> TorchLowering:
        size = layer.input_shape[-1]
        module = PyCall("nn.LayerNorm", (size,), {"eps": p.epsilon})
        init = (
            init_call(p.gamma_initializer, attr(layer, "weight"), size, size),
            init_call(p.beta_initializer, attr(layer, "bias"), size, size),
        )
        return TorchLowering(modules=((layer.name, module),), init=init, layout=Layout.SPEC)

    def weights(self, p: LayerNormalizationParams, layer: ir.Layer) -> list[WeightMap]:
        c = (layer.input_shape[-1],)
        return [
            WeightMap("gamma", c, "gamma", ("weight",)),
            WeightMap("beta", c, "beta", ("bias",)),
        ]
