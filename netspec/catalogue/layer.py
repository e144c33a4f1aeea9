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
from dataclasses import dataclass, replace
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


# --------------------------------------------------------------------------- parity examples

# The token ids of an example that reads them (`tokens=True`) are 0 … TOKEN_VOCABULARY - 1.
TOKEN_VOCABULARY = 11


@dataclass(frozen=True)
class Example:
    """A small spec that shows a layer, run on both targets by the per-layer parity harness.

    Plain data, so that netspec imports no framework to state it: `layers` are the spec's
    layer lines (the entry's layer alone, or after the layers its input needs), `input` the
    per-sample input shape. tests/test_parity_layers.py builds the Keras and the PyTorch
    module, moves the same weights into both, and compares their outputs (within `atol`,
    plus `rtol` relative), their output shapes with the shape rule's, and their parameter
    counts with `param_counts`. With `each_activation`, `{activation}` in `id` and `layers`
    stands for each activation of the catalogue: one example per activation.
    """

    id: str
    input: tuple[int, ...]
    layers: tuple[str, ...]
    tokens: bool = False  # the input is token ids (Embedding), not real values
    atol: float = 1e-5
    rtol: float = 1e-4
    each_activation: bool = False

    def expand(self, activations: list[str]) -> list[Example]:
        """The concrete examples: this one, or one per activation name."""
        if not self.each_activation:
            return [self]
        return [
            replace(
                self,
                id=self.id.format(activation=name),
                layers=tuple(line.format(activation=name) for line in self.layers),
                each_activation=False,
            )
            for name in activations
        ]

    def spec(self) -> str:
        """The example as a `.net` source: one input, its layers, a loss and an optimizer."""
        body = "\n".join(f"    {layer}" for layer in self.layers)
        shape = ", ".join(str(d) for d in self.input)
        return (
            f"model parity_{self.id} {{\n  input [{shape}]\n  layers {{\n{body}\n  }}\n"
            "  loss mean_squared_error\n  optimizer SGD\n}\n"
        )


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
    # Small specs that show the layer, run on both targets by the parity harness
    # (tests/test_parity_layers.py). Each entry states its own: a subclass does not inherit them.
    examples: ClassVar[tuple[Example, ...]] = ()

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
