"""What `netspec check` prints for a spec with a search space: one line per dimension
(name, kind, values, size), the groups whose combinations were checked, the total."""

from __future__ import annotations

from netspec.space.checking import SpaceCheck
from netspec.space.model import Dimension, SearchSpace

MAX_SHOWN = 6
"""Options of a choice shown before `…`."""


def space_lines(space: SearchSpace, result: SpaceCheck) -> list[str]:
    """The summary under `FILE: ok, …`."""
    width = max(len(d.name) for d in space.dimensions)
    kinds = max(len(d.kind) for d in space.dimensions)
    lines = [f"{d.name:<{width}}  {d.kind:<{kinds}}  {_values(d)}" for d in space.dimensions]
    for group in result.groups:
        how = "all" if group.checked == group.size else f"{group.checked:,} of"
        lines.append(
            f"{' × '.join(group.dimensions)} interact: {how} {group.size:,} combinations checked"
        )
    return lines


def headline(space: SearchSpace, result: SpaceCheck) -> str:
    """`search space of 6 dimensions, 1,000,000 points (55 checked)`; a float range is
    counted apart (`24 points × 1 continuous range`)."""
    n = len(space.dimensions)
    points = 1
    continuous = 0
    for dimension in space.dimensions:
        if dimension.size is None:
            continuous += 1
        else:
            points *= dimension.size
    shown = f"{points:,} point{'s' if points != 1 else ''}"
    if continuous:
        shown += f" × {continuous} continuous range{'s' if continuous != 1 else ''}"
    return (
        f"search space of {n} dimension{'s' if n != 1 else ''}, {shown} "
        f"({result.points:,} checked)"
    )


def _values(dimension: Dimension) -> str:
    if dimension.kind == "choice":
        options = list(dimension.choices or ())
        shown = ", ".join(options[:MAX_SHOWN]) + (", …" if len(options) > MAX_SHOWN else "")
        return f"{shown}  ({len(options)} value{'s' if len(options) != 1 else ''})"
    if dimension.kind == "int_range":
        return f"{dimension.low} to {dimension.high}  ({dimension.size} values)"
    scale = "log scale" if dimension.kind == "log_range" else "uniform"
    return f"{dimension.low!r} to {dimension.high!r}  ({scale})"
