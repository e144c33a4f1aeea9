"""The catalogue's building blocks: entries, the registry, and structured lowerings.

A catalogue entry states, in one class, everything netspec knows about one layer, loss,
optimizer, activation, initializer or metric: its parameters (a pydantic model whose every
field has an explicit default or is required), the order of its positional arguments, its
shape rule and parameter count (layers), and its lowering to Keras and to PyTorch.

Entries register themselves when their class is defined; `lookup` finds them by name and
`suggest` the closest name on a typo; `get` returns the entry of a name known to exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from netspec import ir
from netspec.diagnostics import did_you_mean
from netspec.pycode import Code as Code  # the catalogue states code as these
from netspec.pycode import PyCall as PyCall

FAMILIES = (
    "layer", "loss", "optimizer", "activation", "initializer", "metric", "schedule", "data"
)

_REGISTRY: dict[str, dict[str, type[Entry]]] = {family: {} for family in FAMILIES}


class Entry:
    """Base of every catalogue entry. Subclasses set `kind` and register automatically."""

    family: ClassVar[str]
    kind: ClassVar[str] = ""
    # A phrase for listings (`netspec layers`); the docstring's first paragraph describes it.
    summary: ClassVar[str] = ""
    # What else a user needs (the reference prints it): the errors a shape rule raises, how
    # a source checks its files. Catalogue texts mark code with backticks.
    notes: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[ir.Params]] = ir.Params
    positional: ClassVar[tuple[str, ...]] = ()
    # Other spellings accepted for an argument, e.g. {"learning_rate": "lr"}.
    arg_aliases: ClassVar[dict[str, str]] = {}
    # Arguments whose value is a layer call, e.g. `layer` of Bidirectional(LSTM(32)).
    layer_args: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            table = _REGISTRY[cls.family]
            for name in (cls.kind, *cls.aliases):
                if name in table:
                    raise ValueError(f"{cls.family} '{name}' is registered twice")
                table[name] = cls


def lookup(family: str, name: str) -> type[Entry] | None:
    return _REGISTRY[family].get(name)


EntryT = TypeVar("EntryT", bound="Entry")


def get(family: str, name: str, expected: type[EntryT]) -> EntryT:
    """The entry `name` of `family` as an `expected`, for a name a checked model holds.

    Checked IR names only catalogue entries, so a miss here is netspec's own bug: it raises
    LookupError rather than returning None for every caller to assert away. The typed
    getters of the package (`catalogue.layer(kind)`, `catalogue.loss(kind)`, …) call this.
    """
    cls = _REGISTRY[family].get(name)
    if cls is None:
        raise LookupError(f"the catalogue has no {family} '{name}'")
    entry = cls()
    if not isinstance(entry, expected):
        raise TypeError(f"{family} '{name}' is a {cls.__name__}, not a {expected.__name__}")
    return entry


def names(family: str, *, include_aliases: bool = True) -> list[str]:
    table = _REGISTRY[family]
    if include_aliases:
        return sorted(table)
    return sorted({cls.kind for cls in table.values()})


def entries(family: str) -> list[type[Entry]]:
    """Each entry of a family once, in name order."""
    seen: dict[str, type[Entry]] = {}
    for cls in _REGISTRY[family].values():
        seen.setdefault(cls.kind, cls)
    return [seen[k] for k in sorted(seen)]


def suggest(family: str, name: str) -> str | None:
    return did_you_mean(name, names(family))


def _known(family: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        entry = lookup(family, value)
        if entry is None:
            suggestion = suggest(family, value)
            raise PydanticCustomError(
                "unknown_name",
                "unknown {family} '{name}'",
                {"family": family, "name": value, "suggestion": suggestion or ""},
            )
        return entry.kind  # aliases resolve to the canonical name

    check.catalogue_family = family  # type: ignore[attr-defined]  # read by netspec.reference
    return check


ActivationName = Annotated[str, AfterValidator(_known("activation"))]
"""A parameter that names an activation; validated against the catalogue."""

InitializerName = Annotated[str, AfterValidator(_known("initializer"))]
"""A parameter that names an initializer; validated against the catalogue."""


# --------------------------------------------------------------------------- lowerings


class Layout(str, Enum):
    """How a PyTorch module holds a per-sample tensor with channels."""

    SPEC = "spec"  # as the spec states it: channels-last
    CHANNELS_FIRST = "channels_first"  # PyTorch's own convention for convolutions
    ANY = "any"  # the layer works on either (element-wise layers)


@dataclass(frozen=True)
class TorchLowering:
    """A layer in PyTorch: its submodules, their initialisation, and its forward expression.

    `forward` holds statements to run first and `expr` the expression whose value is the
    layer's output (before its activation); both use `{x}` for the running tensor and `{m}`
    for the layer's module attribute (`self.<name>`).
    """

    modules: tuple[tuple[str, PyCall], ...]
    init: tuple[PyCall, ...] = ()
    forward: tuple[str, ...] = ()
    expr: str = "{m}({x})"
    layout: Layout = Layout.SPEC
    helpers: tuple[str, ...] = ()  # names of module-level helper classes this layer needs


class ShapeError(Exception):
    """Raised by a shape rule; the checker turns it into a diagnostic on the layer."""

    def __init__(self, code: str, message: str, hint: str | None = None, arg: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.arg = arg  # the argument to point at, when one is to blame
