"""The base of layer entries: what a layer states besides its parameters."""

from __future__ import annotations

from typing import Any, ClassVar

from netspec import ir
from netspec.catalogue.base import Code, Entry, PyCall, TorchLowering


class LayerEntry(Entry):
    family = "layer"
    # A layer that passes its input's values through (Dropout, Flatten, Reshape): the output
    # activation of a model is then the one of the layer before it.
    transparent: ClassVar[bool] = False
    summary: ClassVar[str] = ""

    def output_shape(self, p: Any, shape: ir.Shape) -> ir.Shape:
        raise NotImplementedError

    def param_counts(self, p: Any, shape: ir.Shape) -> tuple[int, int]:
        """(trainable, non-trainable) parameters for an input of this shape."""
        return (0, 0)

    def activation(self, p: Any) -> str | None:
        """The activation this layer applies to its output, if any."""
        return getattr(p, "activation", None)

    def keras(self, p: Any, layer: ir.Layer) -> PyCall:
        raise NotImplementedError

    def torch(self, p: Any, layer: ir.Layer) -> TorchLowering:
        raise NotImplementedError


def attr(layer: ir.Layer, *path: str) -> Code:
    """`self.<layer>.<path>`: a tensor of a generated PyTorch module."""
    return Code(".".join(("self", layer.name, *path)))
