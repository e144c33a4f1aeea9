"""Shape arithmetic shared by every windowed layer (convolutions and pooling).

Lengths follow TensorFlow's rules, which netspec adopts for both targets: `valid` keeps
only full windows; `same` keeps ceil(n / stride) positions and pads the missing cells,
putting the odd one after (bottom/right).
"""

from __future__ import annotations

import math


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
    effective = (window - 1) * dilation + 1
    if padding == "same":
        return math.ceil(length / stride)
    return (length - effective) // stride + 1


def same_padding(length: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Cells `same` padding adds (before, after) along one axis, TensorFlow's way.

    >>> same_padding(28, 3, 1)
    (1, 1)
    >>> same_padding(28, 3, 2)
    (0, 1)
    >>> same_padding(7, 4, 1)
    (1, 2)
    """
    effective = (window - 1) * dilation + 1
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


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
