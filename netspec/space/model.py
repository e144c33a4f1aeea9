"""A search space as found in a spec's text: its dimensions, each where it is written."""

from __future__ import annotations

from dataclasses import dataclass, field

from netspec import ir
from netspec.diagnostics import Span

KINDS = ("choice", "range", "log_range", "int_range")


@dataclass(frozen=True)
class Dimension:
    """One search-space value written in the spec: `choice(…)`, `range(…)`, …

    `choices` holds each option as the spec writes it ("32", "relu", "[3, 3]"); `low` and
    `high` are the bounds of a range (floats) or an int_range (ints, both inclusive).
    """

    name: str
    kind: str
    choices: tuple[str, ...] | None
    low: float | int | None
    high: float | int | None
    file: str
    span: Span
    options: tuple[ir.Value, ...] = field(default=(), compare=False, repr=False)
    """The parsed options of a choice, in order: substituted into the tree as they are."""
    call: ir.Call | None = field(default=None, compare=False, repr=False)
    """The call node in the parsed tree that this dimension replaces."""

    @property
    def size(self) -> int | None:
        """How many values it takes: None for a range of floats (a continuum)."""
        if self.kind == "choice":
            return len(self.choices or ())
        if self.kind == "int_range":
            return int(self.high) - int(self.low) + 1  # type: ignore[arg-type]
        return None

    def describe(self) -> str:
        """As written: `choice(3, 5, 7)`, `log_range(0.0001, 0.01)`."""
        if self.kind == "choice":
            return f"choice({', '.join(self.choices or ())})"
        return f"{self.kind}({_number(self.low)}, {_number(self.high)})"


def _number(value: float | int | None) -> str:
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions of one spec file, in source order; `tree` is its parsed text."""

    source: str
    file: str
    dimensions: tuple[Dimension, ...]
    tree: ir.SpecFile | None = field(default=None, compare=False, repr=False)

    def dimension(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.name == name), None)

    @property
    def size(self) -> int | None:
        """The number of points; None when a dimension is a continuous range."""
        total = 1
        for dimension in self.dimensions:
            if dimension.size is None:
                return None
            total *= dimension.size
        return total
