"""Embedding: integer token ids → learned vectors."""

from __future__ import annotations

from pydantic import Field

from netspec import ir
from netspec.catalogue.base import InitializerName, PyCall, ShapeError, TorchLowering
from netspec.catalogue.core import init_call
from netspec.catalogue.layer import TOKEN_VOCABULARY, Example, LayerEntry, WeightMap, attr
from netspec.catalogue.shapes import fmt


class EmbeddingParams(ir.Params):
    input_dim: int = Field(
        gt=0, description="size of the vocabulary: token ids are 0 … input_dim - 1"
    )
    output_dim: int = Field(gt=0, description="size of each token's vector, a positive integer")
    embeddings_initializer: InitializerName = Field(
        "random_uniform", description="initializer of the table; Keras' U(-0.05, 0.05)"
    )


class Embedding(LayerEntry):
    """Looks each token id up in a table of `input_dim` vectors of `output_dim` values.

    The input is a sequence of integer token ids, [steps] per sample, fed as numbers (both
    modules take a float tensor and convert it to integers); the output is [steps, output_dim].
    The table is (input_dim, output_dim) on both targets; ids must lie in 0 … input_dim - 1.
    """

    kind = "Embedding"
    reads_token_ids = True
    Params = EmbeddingParams
    positional = ("input_dim", "output_dim")
    summary = "looks token ids up in a table of vectors"
    shape_rule = "`[steps]` → `[steps, output_dim]`"
    weights_rule = "`input_dim · output_dim`"
    notes = "Another rank is E0205. Token ids must lie in 0 … `input_dim` − 1; `divide_by` and `standardize` leave an input read only by Embedding layers as it is."

    examples = (
        Example("embedding", (6,), (f"Embedding({TOKEN_VOCABULARY}, 4)",), tokens=True),
        Example(
            "embedding_gru",
            (5,),
            (f"Embedding({TOKEN_VOCABULARY}, 3)", "GRU(4)"),
            tokens=True,
        ),
    )

    def output_shape(self, p: EmbeddingParams, shape: ir.Shape) -> ir.Shape:
        if len(shape) != 1:
            raise ShapeError(
                "E0205",
                f"Embedding needs a sequence of token ids [steps] per sample, got {fmt(shape)}",
                hint="an Embedding reads the model's input: input [steps], one token id per step",
            )
        return (shape[0], p.output_dim)

    def param_counts(self, p: EmbeddingParams, shape: ir.Shape) -> tuple[int, int]:
        return (p.input_dim * p.output_dim, 0)

    def keras(self, p: EmbeddingParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.Embedding",
            (p.input_dim, p.output_dim),
            {"embeddings_initializer": p.embeddings_initializer},
        )

    def torch(self, p: EmbeddingParams, layer: ir.Layer) -> TorchLowering:
        init = init_call(p.embeddings_initializer, attr(layer, "weight"), p.input_dim, p.output_dim)
        return TorchLowering(
            modules=((layer.name, PyCall("nn.Embedding", (p.input_dim, p.output_dim))),),
            init=(init,),
            expr="{m}({x}.long())",
        )

    def weights(self, p: EmbeddingParams, layer: ir.Layer) -> list[WeightMap]:
        return [WeightMap("embeddings", (p.input_dim, p.output_dim), "embeddings", ("weight",))]
