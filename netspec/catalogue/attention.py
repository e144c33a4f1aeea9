"""Attention over [steps, features] samples: MultiHeadAttention (self-attention) and the
learned PositionalEmbedding of the Keras transformer tutorials.

Keras holds the projections of MultiHeadAttention as EinsumDense kernels with a heads axis
((features, heads, key_dim), …); the generated PyTorch module holds one `nn.Linear` per
projection, so the weight maps only flatten the heads axis and transpose.
"""

from __future__ import annotations

from pydantic import Field

from netspec import ir
from netspec.catalogue.base import InitializerName, PyCall, ShapeError, TorchLowering
from netspec.catalogue.core import init_call
from netspec.catalogue.layer import (
    TOKEN_VOCABULARY,
    Example,
    LayerEntry,
    WeightMap,
    attr,
    flat,
    flat_kernel,
)
from netspec.catalogue.shapes import fmt


def _sequence(kind: str, shape: ir.Shape) -> tuple[int, int]:
    if len(shape) != 2:
        hint = "it reads [steps, features]; add Reshape([steps, features]) before it"
        if len(shape) == 1:
            hint = "token ids [steps] need an Embedding before it"
        raise ShapeError(
            "E0203",
            f"{kind} needs a sequence [steps, features] per sample, got {fmt(shape)}",
            hint=hint,
        )
    return shape[0], shape[1]


class MultiHeadAttentionParams(ir.Params):
    num_heads: int = Field(gt=0, description="number of attention heads, a positive integer")
    key_dim: int = Field(gt=0, description="size of each head's queries and keys")
    value_dim: int | None = Field(
        None, gt=0, description="size of each head's values; none: key_dim"
    )
    output_shape: int | None = Field(
        None, gt=0, description="size of each output step; none: the input's feature size"
    )
    use_bias: bool = Field(True, description="add biases to the projections")
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="dropout on the attention weights while training"
    )
    kernel_initializer: InitializerName = Field(
        "glorot_uniform", description="initializer of the projection kernels"
    )
    bias_initializer: InitializerName = Field("zeros", description="initializer of the biases")


class MultiHeadAttention(LayerEntry):
    """Self-attention: queries, keys and values are all the layer's input (Keras' mha(x, x)).

    Per head h: q = x·Wq + bq, k = x·Wk + bk, v = x·Wv + bv;
    a = softmax((q / sqrt(key_dim)) · kᵀ) over the steps; the heads' a·v are concatenated and
    projected: y = concat(…)·Wo + bo. No mask: every step attends to every step.
    """

    kind = "MultiHeadAttention"
    aliases = ("MultiheadAttention",)
    Params = MultiHeadAttentionParams
    positional = ("num_heads", "key_dim")
    summary = "multi-head self-attention"
    shape_rule = "`[steps, f]` → `[steps, output_shape]` (`output_shape` none: `f`)"
    weights_rule = "`2 · (f + 1) · heads · key_dim + (f + 1) · heads · value_dim + heads · value_dim · out + out` (the `+ 1` and `+ out` terms only with `use_bias`)"
    notes = "Any other rank is E0203."

    examples = (
        Example("mha", (5, 6), ("MultiHeadAttention(2, 3)",)),
        Example(
            "mha_value_output",
            (4, 6),
            ("MultiHeadAttention(3, 2, value_dim=4, output_shape=5)",),
        ),
        Example("mha_one_head_no_bias", (5, 4), ("MultiHeadAttention(1, 4, use_bias=false)",)),
        Example("mha_dropout_inference", (5, 4), ("MultiHeadAttention(2, 2, dropout=0.3)",)),
        Example(
            "mha_transformer_block",
            (6,),
            (
                f"Embedding({TOKEN_VOCABULARY}, 8)",
                "PositionalEmbedding(10, 8)",
                "MultiHeadAttention(2, 4)",
                "LayerNormalization",
                "GlobalAveragePooling1D",
                "Dense(3)",
            ),
            tokens=True,
        ),
    )

    @staticmethod
    def dims(p: MultiHeadAttentionParams, shape: ir.Shape) -> tuple[int, int, int]:
        """(input features, value size per head, output features)."""
        features = shape[-1]
        return features, p.value_dim or p.key_dim, p.output_shape or features

    def output_shape(self, p: MultiHeadAttentionParams, shape: ir.Shape) -> ir.Shape:
        steps, _ = _sequence("MultiHeadAttention", shape)
        return (steps, self.dims(p, shape)[2])

    def param_counts(self, p: MultiHeadAttentionParams, shape: ir.Shape) -> tuple[int, int]:
        features, value_dim, out = self.dims(p, shape)
        heads, bias = p.num_heads, int(p.use_bias)
        query_key = 2 * (features + bias) * heads * p.key_dim
        value = (features + bias) * heads * value_dim
        output = heads * value_dim * out + bias * out
        return (query_key + value + output, 0)

    def keras(self, p: MultiHeadAttentionParams, layer: ir.Layer) -> PyCall:
        _, value_dim, out = self.dims(p, layer.input_shape)
        return PyCall(
            "SelfAttention",
            (),
            {
                "num_heads": p.num_heads,
                "key_dim": p.key_dim,
                "value_dim": value_dim,
                "output_shape": out,
                "use_bias": p.use_bias,
                "dropout": p.dropout,
                "kernel_initializer": p.kernel_initializer,
                "bias_initializer": p.bias_initializer,
            },
        )

    def keras_helpers(self, p: MultiHeadAttentionParams) -> tuple[str, ...]:
        return ("SelfAttention",)

    def torch(self, p: MultiHeadAttentionParams, layer: ir.Layer) -> TorchLowering:
        features, value_dim, out = self.dims(p, layer.input_shape)
        heads = p.num_heads
        module = PyCall(
            "MultiHeadSelfAttention",
            (features, heads, p.key_dim, value_dim, out),
            {"bias": p.use_bias, "dropout": p.dropout},
        )
        # Keras' EinsumDense counts a kernel's fans over its input and output axes, which is
        # what nn.init computes for the nn.Linear weight: (features, heads·size) and so on.
        fans = {
            "query": (features, heads * p.key_dim),
            "key": (features, heads * p.key_dim),
            "value": (features, heads * value_dim),
            "attention_output": (heads * value_dim, out),
        }
        init = []
        for name, (fan_in, fan_out) in fans.items():
            weight, bias = attr(layer, name, "weight"), attr(layer, name, "bias")
            init.append(init_call(p.kernel_initializer, weight, fan_in, fan_out))
            if p.use_bias:
                init.append(init_call(p.bias_initializer, bias, fan_in, fan_out))
        return TorchLowering(
            modules=((layer.name, module),), init=tuple(init), helpers=("MultiHeadSelfAttention",)
        )

    def weights(self, p: MultiHeadAttentionParams, layer: ir.Layer) -> list[WeightMap]:
        features, value_dim, out = self.dims(p, layer.input_shape)
        heads = p.num_heads
        maps = []
        for name, size in (("query", p.key_dim), ("key", p.key_dim), ("value", value_dim)):
            kernel = (features, heads, size)
            maps.append(
                WeightMap(
                    f"{name}.kernel", kernel, f"{name}/kernel", (f"{name}.weight",), flat_kernel(kernel, 1)
                )
            )
            if p.use_bias:
                maps.append(
                    WeightMap(
                        f"{name}.bias", (heads, size), f"{name}/bias", (f"{name}.bias",), flat((heads, size))
                    )
                )
        kernel = (heads, value_dim, out)
        maps.append(
            WeightMap(
                "attention_output.kernel",
                kernel,
                "attention_output/kernel",
                ("attention_output.weight",),
                flat_kernel(kernel, 2),
            )
        )
        if p.use_bias:
            maps.append(
                WeightMap(
                    "attention_output.bias", (out,), "attention_output/bias", ("attention_output.bias",)
                )
            )
        return maps


class PositionalEmbeddingParams(ir.Params):
    sequence_length: int = Field(gt=0, description="the most steps an input may have")
    output_dim: int = Field(gt=0, description="size of each position's vector: the input's features")
    embeddings_initializer: InitializerName = Field(
        "random_uniform", description="initializer of the table; Keras' U(-0.05, 0.05)"
    )


class PositionalEmbedding(LayerEntry):
    """Adds a learned vector per position to a [steps, output_dim] input: y[t] = x[t] + P[t].

    The position table P is (sequence_length, output_dim); steps 0 … steps - 1 use its first
    rows. With Embedding before it, this is the token-and-position embedding of the Keras
    transformer tutorials. Keras has no such layer: the generated module defines one.
    """

    kind = "PositionalEmbedding"
    Params = PositionalEmbeddingParams
    positional = ("sequence_length", "output_dim")
    summary = "adds a learned vector per position"
    shape_rule = "unchanged, `[steps, output_dim]`"
    weights_rule = "`sequence_length · output_dim`"
    notes = "`output_dim` must equal the input's features (E0223), and the steps must not exceed `sequence_length` (E0224). After `Embedding(vocab, 64)`, write `PositionalEmbedding(steps, 64)`."

    examples = (
        Example("posemb", (5, 4), ("PositionalEmbedding(5, 4)",)),
        Example("posemb_shorter_input", (3, 4), ("PositionalEmbedding(8, 4)",)),
        Example(
            "posemb_tokens",
            (6,),
            (f"Embedding({TOKEN_VOCABULARY}, 4)", "PositionalEmbedding(6, 4)"),
            tokens=True,
        ),
    )

    def output_shape(self, p: PositionalEmbeddingParams, shape: ir.Shape) -> ir.Shape:
        steps, features = _sequence("PositionalEmbedding", shape)
        if features != p.output_dim:
            raise ShapeError(
                "E0223",
                f"PositionalEmbedding adds vectors of {p.output_dim} values to steps of "
                f"{features} values (input {fmt(shape)})",
                hint=f"set output_dim={features}, the input's feature size",
                arg="output_dim",
            )
        if steps > p.sequence_length:
            raise ShapeError(
                "E0224",
                f"PositionalEmbedding has {p.sequence_length} positions, its input "
                f"{fmt(shape)} has {steps} steps",
                hint=f"set sequence_length to at least {steps}",
                arg="sequence_length",
            )
        return shape

    def param_counts(self, p: PositionalEmbeddingParams, shape: ir.Shape) -> tuple[int, int]:
        return (p.sequence_length * p.output_dim, 0)

    def keras(self, p: PositionalEmbeddingParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "PositionalEmbedding",
            (p.sequence_length, p.output_dim),
            {"embeddings_initializer": p.embeddings_initializer},
        )

    def keras_helpers(self, p: PositionalEmbeddingParams) -> tuple[str, ...]:
        return ("PositionalEmbedding",)

    def torch(self, p: PositionalEmbeddingParams, layer: ir.Layer) -> TorchLowering:
        table = attr(layer, "embeddings")
        init = init_call(p.embeddings_initializer, table, p.sequence_length, p.output_dim)
        module = PyCall("PositionalEmbedding", (p.sequence_length, p.output_dim))
        return TorchLowering(
            modules=((layer.name, module),), init=(init,), helpers=("PositionalEmbedding",)
        )

    def weights(self, p: PositionalEmbeddingParams, layer: ir.Layer) -> list[WeightMap]:
        table = (p.sequence_length, p.output_dim)
        return [WeightMap("embeddings", table, "embeddings", ("embeddings",))]
