"""Search spaces: `choice(…)`, `range(…)`, `log_range(…)`, `int_range(…)` in a spec.

A spec with search values is a space of plain specs, one per point. This package finds the
space in a spec's text (`find_space`, parse only), writes a point in (`concrete_source`: plain
`.net` text; `substitute`: the parsed tree), and checks the whole space without checking
every point (`check_space`, netspec/space/checking.py). `netspec tune` samples points of it;
`compile` and `train` refuse a spec that still holds one (netspec/frontend.py).
"""

from netspec.space.checking import SpaceCheck, check_space, examine
from netspec.space.concrete import concrete_source, resolve, substitute
from netspec.space.find import find_space, search_calls
from netspec.space.model import KINDS, Dimension, SearchSpace

__all__ = [
    "KINDS",
    "Dimension",
    "SearchSpace",
    "SpaceCheck",
    "check_space",
    "concrete_source",
    "examine",
    "find_space",
    "resolve",
    "search_calls",
    "substitute",
]
