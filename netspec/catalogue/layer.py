"""The base of layer entries: what a layer states besides its parameters.

Besides its shape rule, parameter count and lowerings, a layer states its **weights**: one
`WeightMap` per tensor, in netspec's framework-neutral form. The neutral layout is Keras'
(a Dense kernel is (in, out), a Conv2D kernel (kh, kw, in, out), LSTM gates [i, f, c, o]);
each map names the Keras variable, the PyTorch tensor(s) and the exact transform between
them, so that `netspec.weights` can move weights between the two generated models.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SerializeAsAny

from netspec import ir
from netspec.catalogue.base import Code, Entry, PyCall, TorchLowering

if TYPE_CHECKING:
    import numpy as np


# --------------------------------------------------------------------------- weight maps


@dataclass(frozen=True)
class Transform:
    """How a neutral (Keras-layout) array becomes the PyTorch tensor(s), and back.

    `to_torch(array)` returns one array per PyTorch tensor of the map; `from_torch(*arrays)`
    takes them in the same order. Both only move or split values, never compute with them,
    so a round trip is bit-exact.
    """

    describe: str
    to_torch: Callable[[np.ndarray], tuple[np.ndarray, ...]]
    from_torch: Callable[..., np.ndarray]


IDENTITY = Transform("as is", lambda a: (a,), lambda a: a)


def permute(axes: tuple[int, ...]) -> Transform:
    """Neutral axes `axes` become PyTorch's axes 0, 1, …: `np.transpose(a, axes)`."""
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    return Transform(
        f"transpose {axes}",
        lambda a: (a.transpose(axes),),
        lambda t: t.transpose(inverse),
    )


TRANSPOSE = permute((1, 0))


def flat_kernel(shape: tuple[int, ...], split: int) -> Transform:
    """A kernel of several axes (Keras' EinsumDense) ↔ an `nn.Linear` weight.

    The neutral axes before `split` are the inputs, those after it the outputs: each group is
    flattened in row-major order, then the (inputs, outputs) matrix is transposed.
    """
    rows = math.prod(shape[:split])
    return Transform(
        f"axes [:{split}] and [{split}:] flattened, transposed",
        lambda a: (a.reshape(rows, -1).T,),
        lambda t: t.T.reshape(shape),
    )


def flat(shape: tuple[int, ...]) -> Transform:
    """A bias of several axes ↔ a vector, row-major."""
    return Transform("flattened", lambda a: (a.reshape(-1),), lambda t: t.reshape(shape))
HWIO_TO_OIHW = permute((3, 2, 0, 1))


def _reorder(a: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """Gate blocks of the last axis, taken in `order`."""
    import numpy as np

    blocks = np.split(a, len(order), axis=-1)
    return np.concatenate([blocks[i] for i in order], axis=-1)


def _inverse(order: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(range(len(order)), key=order.__getitem__))


def gate_kernel(order: tuple[int, ...]) -> Transform:
    """A recurrent kernel (in, g·u): gate blocks reordered to PyTorch's order, transposed.

    `order[i]` is the neutral gate block that becomes PyTorch's block i.
    """
    back = _inverse(order)
    return Transform(
        f"gate blocks {order}, transposed",
        lambda a: (_reorder(a, order).T,),
        lambda t: _reorder(t.T, back),
    )


def gate_bias(order: tuple[int, ...]) -> Transform:
    """A (g·u,) bias: gate blocks reordered to PyTorch's order."""
    back = _inverse(order)
    return Transform(
        f"gate blocks {order}",
        lambda a: (_reorder(a, order),),
        lambda t: _reorder(t, back),
    )


def split_gate_bias(order: tuple[int, ...]) -> Transform:
    """A (2, g·u) bias (input bias, recurrent bias) → two PyTorch vectors, gates reordered."""
    back = _inverse(order)

    def from_torch(ih: np.ndarray, hh: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.stack([_reorder(ih, back), _reorder(hh, back)])

    return Transform(
        f"rows split, gate blocks {order}",
        lambda a: (_reorder(a[0], order), _reorder(a[1], order)),
        from_torch,
    )


@dataclass(frozen=True)
class WeightMap:
    """One weight tensor of a layer, framework-neutral, and where each framework keeps it.

    * `name`: the neutral name (`kernel`, `bias`, `recurrent_kernel`, `gamma`, `beta`,
      `moving_mean`, `moving_variance`, `embeddings`); a checkpoint calls it `<layer>.<name>`.
    * `shape`: the neutral shape, Keras' layout.
    * `keras`: the variable's name within the Keras layer (`variable.name`).
    * `torch`: the tensor(s) of the PyTorch layer module `self.<layer>`, as attribute paths
      (`weight`; an LSTM's `weight_ih_l0`; a GRU bias is two tensors).
    * `transform`: neutral → PyTorch and back.
    * `trainable`: False for statistics (moving mean and variance), which PyTorch keeps as
      buffers and Keras as non-trainable variables.
    """

    name: str
    shape: ir.Shape
    keras: str
    torch: tuple[str, ...]
    transform: Transform = IDENTITY
    trainable: bool = True


# --------------------------------------------------------------------------- layer entries


class LayerEntry(Entry):
    family = "layer"
    # A layer that passes its input's values through (Dropout, Flatten, Reshape): the output
    # activation of a model is then the one of the layer before it.
    transparent: ClassVar[bool] = False
    # The shape rule in one line, per sample (`netspec layers`, docs/language.md), e.g.
    # "`[n]` → `[units]`"; `output_shape` is the rule itself.
    shape_rule: ClassVar[str] = ""
    # The parameter count (weights) in one line, e.g. "`n · units + units`"; "" for none.
    weights_rule: ClassVar[str] = ""
    # A layer that reads integer ids (Embedding): divide_by and standardize leave its input be.
    reads_token_ids: ClassVar[bool] = False
    # A layer whose PyTorch module runs faster on CPU with its tensors in channels-last memory
    # (Conv2D, measured in bench/README.md): the generated prepare() then converts the model.
    channels_last_memory: ClassVar[bool] = False
    # How many tensors the layer reads: one, except for merges (Add, Concatenate, …).
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1

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

    def weights(self, p: Any, layer: ir.Layer) -> list[WeightMap]:
        """The layer's weight tensors, in Keras' order; their sizes add up to `param_counts`."""
        return []

    def keras_helpers(self, p: Any) -> tuple[str, ...]:
        """Names of module-level helper classes the Keras lowering uses (codegen/keras.py)."""
        return ()


class LayerValue(ir.Params):
    """A layer given as the argument of another, e.g. the LSTM of Bidirectional(LSTM(32))."""

    kind: str
    params: SerializeAsAny[ir.Params]


def attr(layer: ir.Layer, *path: str) -> Code:
    """`self.<layer>.<path>`: a tensor of a generated PyTorch module."""
    return Code(".".join(("self", layer.name, *path)))
