"""A point of a search space: its values checked against their dimensions, then written in.

Two ways to write a point in, for two readers: `concrete_source` gives plain `.net` text (the
best spec tune writes out, comments and layout kept, each search value replaced by its value's
text), and `Substituter` gives the parsed tree with each search-value node replaced, so that
checking many points parses the text once, and every diagnostic's span is still a span of the
text the user wrote (a choice's option keeps its own span: an error points at the `7` of
`choice(3, 5, 7)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netspec import ir
from netspec.expand.expr import copy_node
from netspec.reference import literal
from netspec.space.model import Dimension, SearchSpace
from netspec.space.text import Text

__all__ = ["Substituter", "concrete_source", "option_index", "resolve", "substitute"]


def option_index(dimension: Dimension, value: object) -> int | None:
    """Which option of a choice `value` is: by its text as written (`"relu"`, `"[3, 3]"`),
    or by its value (`32`, `True`, `(3, 3)`, `"relu"` for the name relu)."""
    choices = dimension.choices or ()
    if isinstance(value, str):
        stripped = value.strip()
        if stripped in choices:
            return choices.index(stripped)
    wanted = tuple(value) if isinstance(value, list) else value
    for i, option in enumerate(dimension.options):
        known, plain = _plain(option)
        if known and _same(plain, wanted):
            return i
    return None


def _same(a: object, b: object) -> bool:
    """Equal values of one type: `1` is not `true`, though Python says so."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, tuple) or isinstance(b, tuple):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b  # 32 is 32.0
    return type(a) is type(b) and a == b


def _plain(value: ir.Value) -> tuple[bool, Any]:
    """An option as a Python value: a name is its string, a list a tuple; (False, None) for
    arithmetic, matched by its text only."""
    if isinstance(value, ir.Literal):
        return True, value.value
    if isinstance(value, ir.Symbol):
        return True, value.name
    if isinstance(value, ir.UnaryOp) and value.op == "-" and isinstance(value.operand, ir.Literal):
        inner = value.operand.value
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return True, -inner
    if isinstance(value, ir.ListValue):
        items = [_plain(item) for item in value.items]
        return all(k for k, _ in items), tuple(v for _, v in items)
    return False, None


def resolve(dimension: Dimension, value: object) -> tuple[str, int | float | None]:
    """`value` checked against the dimension: (its spec text, the number for a range, or None
    for a choice). A value outside the dimension's space is a ValueError that says why."""
    if dimension.kind == "choice":
        i = option_index(dimension, value)
        if i is None:
            raise ValueError(
                f"{dimension.name} takes one of {', '.join(dimension.choices or ())}, "
                f"not {_shown(value)}"
            )
        return (dimension.choices or ())[i], None
    number = _as_number(value)
    if number is None:
        raise ValueError(f"{dimension.name} takes a number, not {_shown(value)}")
    low, high = dimension.low, dimension.high
    assert low is not None and high is not None
    if dimension.kind == "int_range":
        if not float(number).is_integer():
            raise ValueError(f"{dimension.name} takes a whole number, not {_shown(value)}")
        number = int(number)
    else:
        number = float(number)
    if not low <= number <= high:
        raise ValueError(
            f"{dimension.name}={_shown(value)} lies outside {dimension.describe()}"
        )
    return literal(number), number


def _as_number(value: object) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            return float(value)
        except ValueError:
            return None
    try:  # numpy and other numbers
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _shown(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return literal(value)
    except Exception:
        return repr(value)


def _complete(space: SearchSpace, assignment: Mapping[str, object]) -> None:
    unknown = [name for name in assignment if space.dimension(name) is None]
    if unknown:
        known = ", ".join(d.name for d in space.dimensions) or "none"
        raise ValueError(f"the space has no dimension {unknown[0]} (dimensions: {known})")
    missing = [d.name for d in space.dimensions if d.name not in assignment]
    if missing:
        raise ValueError("no value for " + ", ".join(missing))


def concrete_source(space: SearchSpace, assignment: Mapping[str, object]) -> str:
    """The spec's text with every dimension replaced by its value: a plain `.net` spec,
    comments and layout kept. Every dimension must be assigned; a value outside its
    dimension's space (or a name that is no dimension) is a ValueError."""
    _complete(space, assignment)
    text = Text(space.source)
    return text.replaced(
        (d.span, resolve(d, assignment[d.name])[0]) for d in space.dimensions
    )


def substitute(space: SearchSpace, assignment: Mapping[str, object]) -> ir.SpecFile:
    """The parsed spec with the assigned dimensions replaced by their values (others stay
    search values); ValueError as in `concrete_source`."""
    unknown = [name for name in assignment if space.dimension(name) is None]
    if unknown:
        raise ValueError(f"the space has no dimension {unknown[0]}")
    substituter = Substituter(space)
    return substituter.apply(
        {
            i: substituter.node(i, resolve(d, assignment[d.name]))
            for i, d in enumerate(space.dimensions)
            if d.name in assignment
        }
    )


class Substituter:
    """Copies of the parsed tree with search values replaced, copying only the nodes on the
    way from the root to a replaced one (the rest is shared)."""

    def __init__(self, space: SearchSpace) -> None:
        assert space.tree is not None, "a SearchSpace from find_space holds its tree"
        self.space = space
        self.tree = space.tree
        self.calls = [id(d.call) for d in space.dimensions]
        self.holders: set[int] = set()
        _mark(self.tree, set(self.calls), self.holders)

    def node(self, index: int, resolved: tuple[str, int | float | None]) -> ir.Value:
        """The node that stands for a resolved value of dimension `index`."""
        dimension = self.space.dimensions[index]
        text, number = resolved
        if dimension.kind == "choice":
            return dimension.options[(dimension.choices or ()).index(text)]
        return ir.Literal(value=number, span=dimension.span)

    def apply(self, replacements: Mapping[int, ir.Value]) -> ir.SpecFile:
        """The tree with dimension i's call replaced by `replacements[i]`."""
        by_call = {self.calls[i]: node for i, node in replacements.items()}
        return self._copy(self.tree, by_call)  # type: ignore[return-value]

    def _copy(self, node: Any, by_call: dict[int, ir.Value]) -> Any:
        key = id(node)
        if key in by_call:
            return by_call[key]
        if key not in self.holders:
            return node
        if isinstance(node, list):
            return [self._copy(item, by_call) for item in node]
        updates = {}
        for name in type(node).model_fields:
            current = getattr(node, name)
            if id(current) in self.holders or id(current) in by_call:
                updates[name] = self._copy(current, by_call)
        return copy_node(node, updates)


def _mark(node: Any, calls: set[int], holders: set[int]) -> bool:
    """Record in `holders` every node and list that holds one of `calls`; whether `node` does."""
    if id(node) in calls:
        return True
    if isinstance(node, list):
        held = False
        for item in node:
            held = _mark(item, calls, holders) or held
    elif isinstance(node, ir.Node):
        held = False
        for name in type(node).model_fields:
            if name != "span" and not name.endswith("_span"):
                held = _mark(getattr(node, name), calls, holders) or held
    else:
        return False
    if held:
        holders.add(id(node))
    return held
