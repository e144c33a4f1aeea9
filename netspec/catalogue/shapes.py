"""Shape arithmetic shared by every windowed layer (convolutions and pooling).

Lengths follow TensorFlow's rules, which netspec adopts for both targets: `valid` keeps
only full windows; `same` keeps ceil(n / stride) positions and pads the missing cells,
putting the odd one after (bottom/right).
"""

from __future__ import annotations

import math


def effective_window(window: int, dilation: int = 1) -> int:
    """Cells a window spans along one axis once dilated: `k' = (k − 1) · dilation + 1`.

    >>> effective_window(3), effective_window(3, dilation=2)
    (3, 5)
    """
    return (window - 1) * dilation + 1


def window_output_length(length: int, window: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Positions a window visits along one axis.

    >>> window_output_length(28, 3, 1, "valid")
    26
    >>> window_output_length(26, 2, 2, "valid")
    13
    >>> window_output_length(7, 2, 2, "same")
    4
    >>> window_output_length(5, 3, 1, "valid", dilation=2)
    1
    """
    if padding == "same":
        return math.ceil(length / stride)
    return (length - effective_window(window, dilation)) // stride + 1


def same_padding(length: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Cells `same` padding adds (before, after) along one axis, TensorFlow's way.

    >>> same_padding(28, 3, 1)
    (1, 1)
    >>> same_padding(28, 3, 2)
    (0, 1)
    >>> same_padding(7, 4, 1)
    (1, 2)
    """
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + effective_window(window, dilation) - length, 0)
    return total // 2, total - total // 2


def transposed_output_length(length: int, window: int, stride: int, padding: str) -> int:
    """Keras' output length of a transposed convolution along one axis (no output_padding):
    `valid` `n · s + max(k − s, 0)`, `same` `n · s`.

    >>> transposed_output_length(4, 3, 2, "valid"), transposed_output_length(4, 3, 2, "same")
    (9, 8)
    >>> transposed_output_length(4, 2, 3, "valid")
    12
    """
    if padding == "same":
        return length * stride
    return length * stride + max(window - stride, 0)


def transposed_overlap(window: int, stride: int) -> tuple[int, int]:
    """(cells a full transposed output lacks, cells it has beyond Keras' `same` length) along
    one axis: PyTorch's `output_padding` adds the first (a window smaller than its stride),
    and `same` crops the second, the smaller half before.

    >>> transposed_overlap(3, 2), transposed_overlap(2, 3)
    ((0, 1), (1, 0))
    """
    return max(stride - window, 0), max(window - stride, 0)


def channels_first_permutation(rank: int) -> tuple[int, ...]:
    """Batch permutation from channels-last to channels-first for a per-sample rank.

    >>> channels_first_permutation(3)
    (0, 3, 1, 2)
    """
    return (0, rank, *range(1, rank))


def channels_last_permutation(rank: int) -> tuple[int, ...]:
    """Batch permutation from channels-first back to channels-last.

    >>> channels_last_permutation(3)
    (0, 2, 3, 1)
    """
    return (0, *range(2, rank + 1), 1)


def fmt(shape: tuple[int, ...]) -> str:
    """A shape as a spec writes it.

    >>> fmt((13, 13, 32))
    '[13, 13, 32]'
    """
    return "[" + ", ".join(str(d) for d in shape) + "]"


def flatten_hint(shape: tuple[int, ...]) -> str:
    """How a per-sample output of rank > 1 becomes one vector per sample: Flatten, or a
    pooling that averages over the steps (a sequence) or the positions (an image).

    >>> flatten_hint((28, 10))
    'insert Flatten (or GlobalAveragePooling1D) before the last Dense, so the model outputs [10]'
    """
    pooling = {2: "GlobalAveragePooling1D", 3: "GlobalAveragePooling2D"}.get(len(shape))
    where = f"Flatten (or {pooling})" if pooling else "Flatten"
    return f"insert {where} before the last Dense, so the model outputs [{shape[-1]}]"
