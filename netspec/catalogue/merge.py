"""Merge layers: Add, Multiply, Average and Concatenate combine two or more tensors.

Shapes are channels-last, as everywhere in a spec. Add, Multiply and Average need operands of
one shape and combine them element-wise, left to right, as Keras does; Concatenate joins them
along `axis`, counted as Keras counts it (0 is the batch axis, -1 the channels). A generated
PyTorch model may hold a feature map channels-first; the generator brings every operand of a
merge to one layout and maps Concatenate's axis to it (`torch_merge`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from netspec import ir
from netspec.catalogue.base import Layout, PyCall, ShapeError, TorchLowering
from netspec.catalogue.layer import Example, LayerEntry
from netspec.catalogue.shapes import fmt

# The examples' operands: merges read named tensors (`input` is the model input). After a
# convolution the PyTorch operands are channels-first: a merge of two feature maps stays so
# (Concatenate's axis mapped to it); a feature map merged with a channels-last tensor is
# permuted back first.
_TWO_DENSE = ("a = Dense(4)", "b = Dense(4, activation=tanh)(input)")
_TWO_MAPS = ("a = Conv2D(3, 3, padding=same)", "b = Conv2D(3, 1, activation=relu)(input)")


class MergeShapeError(ShapeError):
    """Two operands of a merge do not fit together; `operands` are their positions."""

    def __init__(self, message: str, operands: tuple[int, int], hint: str | None = None):
        super().__init__("E0210", message, hint=hint)
        self.operands = operands


class MergeEntry(LayerEntry):
    """A layer that reads two or more tensors; it has no weights and no activation."""

    min_inputs = 2
    max_inputs = None
    keras_class: ClassVar[str] = ""

    def output_shape(self, p: Any, shape: ir.Shape) -> ir.Shape:
        return self.merged_shape(p, [shape])

    def merged_shape(self, p: Any, shapes: list[ir.Shape]) -> ir.Shape:
        raise NotImplementedError

    def activation(self, p: Any) -> str | None:
        return None

    def keras(self, p: Any, layer: ir.Layer) -> PyCall:
        return PyCall(self.keras_class)

    def torch(self, p: Any, layer: ir.Layer) -> TorchLowering:
        return TorchLowering(modules=(), layout=Layout.ANY)

    def torch_merge(self, p: Any, layer: ir.Layer, operands: list[str], channels_first: bool) -> str:
        """The PyTorch expression of the merge; all operands are in one layout."""
        raise NotImplementedError


class _ElementWise(MergeEntry):
    """Add, Multiply, Average: inputs of one shape, combined element-wise, left to right."""

    operator: ClassVar[str] = ""
    shape_rule = "inputs of one shape → that shape"
    notes = "Reads two or more tensors: `Add()(a, b)`. Inputs of different shapes are E0210, naming both operands and where each is made."

    def merged_shape(self, p: ir.Params, shapes: list[ir.Shape]) -> ir.Shape:
        for i, shape in enumerate(shapes[1:], start=1):
            if shape != shapes[0]:
                raise MergeShapeError(
                    f"{self.kind} needs inputs of one shape",
                    (0, i),
                    hint="bring them to one shape first, e.g. with Dense or Reshape; "
                    "Concatenate joins tensors of different sizes",
                )
        return shapes[0]

    def torch_merge(self, p: ir.Params, layer: ir.Layer, operands: list[str], channels_first: bool) -> str:
        return f" {self.operator} ".join(operands)


class Add(_ElementWise):
    """The element-wise sum of its inputs, added left to right."""

    kind = "Add"
    keras_class = "layers.Add"
    operator = "+"
    summary = "adds its inputs element-wise"

    examples = (
        Example("add_dense", (5,), (*_TWO_DENSE, "Add()(a, b)")),
        Example("add_maps", (5, 6, 2), (*_TWO_MAPS, "Add()(a, b)")),
        Example("add_map_and_input", (5, 6, 3), (*_TWO_MAPS, "Add()(a, input, b)")),
    )


class Multiply(_ElementWise):
    """The element-wise product of its inputs, multiplied left to right."""

    kind = "Multiply"
    keras_class = "layers.Multiply"
    operator = "*"
    summary = "multiplies its inputs element-wise"

    examples = (
        Example("multiply_dense", (5,), (*_TWO_DENSE, "Multiply()(a, b)")),
        Example("multiply_maps", (5, 6, 2), (*_TWO_MAPS, "Multiply()(a, b)")),
    )


class Average(_ElementWise):
    """The element-wise mean of its inputs: their sum, left to right, divided by their count."""

    kind = "Average"
    keras_class = "layers.Average"
    summary = "averages its inputs element-wise"

    examples = (
        Example("average_dense", (5,), (*_TWO_DENSE, "Average()(a, b, a)")),
        Example("average_map_and_input", (5, 6, 3), (*_TWO_MAPS, "Average()(b, input, a)")),
    )

    def torch_merge(self, p: ir.Params, layer: ir.Layer, operands: list[str], channels_first: bool) -> str:
        return f"({' + '.join(operands)}) / {len(operands)}"


class ConcatenateParams(ir.Params):
    axis: int = Field(
        -1, description="the axis to join along, counting the batch as 0; -1 is the last (channels)"
    )


class Concatenate(MergeEntry):
    """Joins its inputs along one axis; every other axis must have the same size."""

    kind = "Concatenate"
    Params = ConcatenateParams
    positional = ("axis",)
    keras_class = "layers.Concatenate"
    summary = "joins its inputs along an axis"
    shape_rule = "inputs of one rank whose sizes agree except along `axis` → their sizes along `axis` added"
    notes = "Reads two or more tensors: `Concatenate(axis=-1)(a, b)`. `axis` counts as Keras counts it: 0 is the batch, −1 the channels. Inputs of different ranks, or sizes that differ off the axis, are E0210, naming both operands."

    examples = (
        Example("concat_dense", (5,), (*_TWO_DENSE, "Concatenate()(a, b, input)")),
        Example("concat_steps", (3, 5), ("a = Dense(2)", "Concatenate(axis=1)(a, a)")),
        *(
            Example(f"concat_maps_axis_{name}", (5, 6, 2), (*_TWO_MAPS, f"Concatenate({axis})(a, b)"))
            for name, axis in (("m1", -1), ("3", 3), ("1", 1), ("2", 2), ("m2", -2), ("m3", -3))
        ),
        Example("concat_map_and_input", (5, 6, 2), (*_TWO_MAPS, "Concatenate()(a, input)")),
        Example("concat_map_and_input_rows", (5, 6, 3), (*_TWO_MAPS, "Concatenate(1)(input, b)")),
    )

    @staticmethod
    def sample_axis(axis: int, rank: int) -> int | None:
        """The per-sample axis (0-based) that `axis` names, or None for the batch or out of range."""
        full = axis + rank + 1 if axis < 0 else axis
        return full - 1 if 1 <= full <= rank else None

    def merged_shape(self, p: ConcatenateParams, shapes: list[ir.Shape]) -> ir.Shape:
        first = shapes[0]
        for i, shape in enumerate(shapes[1:], start=1):
            if len(shape) != len(first):
                raise MergeShapeError(
                    "Concatenate needs inputs of one rank", (0, i),
                    hint="Flatten or Reshape one of them first",
                )
        axis = self.sample_axis(p.axis, len(first))
        if axis is None:
            valid = f"1 to {len(first)} or -1 to -{len(first)}"
            raise ShapeError(
                "E0210",
                f"Concatenate axis {p.axis} is not an axis of its inputs {fmt(first)} "
                f"(the batch is axis 0)",
                hint=f"for inputs of rank {len(first)} use an axis from {valid}",
                arg="axis",
            )
        for i, shape in enumerate(shapes[1:], start=1):
            if any(a != b for k, (a, b) in enumerate(zip(first, shape, strict=True)) if k != axis):
                raise MergeShapeError(
                    f"Concatenate along axis {p.axis} needs inputs whose other axes match",
                    (0, i),
                    hint="concatenate along the axis where they differ, or reshape one of them",
                )
        joined = sum(shape[axis] for shape in shapes)
        return (*first[:axis], joined, *first[axis + 1:])

    def keras(self, p: ConcatenateParams, layer: ir.Layer) -> PyCall:
        return PyCall(self.keras_class, (), {"axis": p.axis})

    def torch_merge(
        self, p: ConcatenateParams, layer: ir.Layer, operands: list[str], channels_first: bool
    ) -> str:
        rank = len(layer.input_shape)
        axis = self.sample_axis(p.axis, rank)
        assert axis is not None  # checked by merged_shape
        dim = axis + 1  # past the batch axis
        if channels_first and rank >= 2:  # (N, C, *spatial): channels at 1, spatial axes after
            dim = 1 if axis == rank - 1 else axis + 2
        return f"torch.cat(({', '.join(operands)}), dim={dim})"
