"""Values a model cannot learn from: NaN, infinities, and numbers too large to square.

A NaN or an infinity in the inputs or targets does not stop training: the loss turns NaN at
the first batch that holds one and every weight after it, and the run saves garbage. A finite
value near float32's limit (3.4e38) does the same a step later, when a loss or the optimizer
squares it (mean squared error, Adam's second moment, a variance). So a column's values are
read once before the first step, a chunk at a time, and any such value is refused with the
array, the count and where the first one is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

HUGE = float(np.sqrt(np.finfo(np.float32).max))
"""Magnitudes from here on (about 1.8e19) overflow float32 when squared."""

CHUNK = 8192
"""Rows read at a time from a column that reads rows on demand (larger than memory)."""


@dataclass(frozen=True)
class BadValues:
    """The values of a column a model cannot learn from: how many of each kind, and where
    the first one is (its index in the column: sample first)."""

    nan: int
    infinite: int
    huge: int
    first: tuple[int, ...]
    first_value: float

    @property
    def count(self) -> int:
        return self.nan + self.infinite + self.huge

    def counts(self) -> str:
        """`2 NaN and 1 infinite values`."""
        kinds = [
            (self.nan, "NaN"),
            (self.infinite, "infinite"),
            (self.huge, f"huge (|x| ≥ {HUGE:.2g})"),
        ]
        parts = [f"{n:,} {word}" for n, word in kinds if n]
        said = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
        return f"{said} value{'s' if self.count != 1 else ''}"

    @property
    def hint(self) -> str:
        fill = "drop or fill them first (numpy: x[~np.isfinite(x)] = 0)"
        scale = "rescale the data first (divide it by its largest magnitude)"
        if not self.huge:
            return fill
        return scale if not (self.nan or self.infinite) else f"{fill}, and {scale}"

    def describe(self) -> str:
        """`2 NaN values, the first at sample 3 (index [3, 1]: nan)`."""
        where = f"sample {self.first[0]}"
        if len(self.first) > 1:
            where += f" (index {list(self.first)}: {self.first_value:g})"
        else:
            where += f" ({self.first_value:g})"
        return f"{self.counts()}, the first at {where}"




def scan(column: Any) -> BadValues | None:
    """The bad values of a column of numbers (an array or an object reading rows on
    demand), or None when every value is finite and below HUGE. Columns of integers (and
    complex numbers, refused for their type) are not read."""
    if not np.issubdtype(np.dtype(column.dtype), np.floating):
        return None
    if isinstance(column, np.ndarray):  # in memory: one pass of min and max, no copy
        return None if _clean(column) else _count(column, 0)
    rows = len(column)
    found: BadValues | None = None
    for start in range(0, rows, CHUNK):
        chunk = np.asarray(column[np.arange(start, min(start + CHUNK, rows))])
        if not _clean(chunk):
            more = _count(chunk, start)
            found = more if found is None else _merge(found, more)
    return found


def _clean(values: np.ndarray) -> bool:
    """Every value finite and below HUGE: min and max say it (a NaN makes both NaN)."""
    if values.size == 0:
        return True
    return bool(values.min() > -HUGE and values.max() < HUGE)  # false for NaN


def _count(values: np.ndarray, offset: int) -> BadValues | None:
    """The bad values of an array whose first row is the column's row `offset`."""
    bad = ~(np.abs(values) < HUGE)  # NaN compares false: counted here too
    if not bad.any():
        return None
    nan = int(np.count_nonzero(np.isnan(values)))
    infinite = int(np.count_nonzero(np.isinf(values)))
    at = np.unravel_index(int(np.argmax(bad)), values.shape)
    first = (offset + int(at[0]), *(int(i) for i in at[1:]))
    huge = int(np.count_nonzero(bad)) - nan - infinite
    return BadValues(nan, infinite, huge, first, float(values[at]))


def _merge(found: BadValues, more: BadValues | None) -> BadValues:
    if more is None:
        return found
    return BadValues(
        found.nan + more.nan,
        found.infinite + more.infinite,
        found.huge + more.huge,
        found.first,
        found.first_value,
    )
