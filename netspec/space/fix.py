"""`--set NAME=VALUE` for a dimension, and the refusal of a space where one plain spec is needed.

`compile`, `train`, `summary`, `evaluate` and `export` run one model, so a spec that still
holds a search value is refused (E0190) at its first one, naming it; `--set dense.units=64`
fixes a dimension first (its value must lie in the dimension's space, E0194 otherwise). With
every dimension fixed the spec is checked as a plain one. `netspec check` does not come here:
it checks the whole space (`checking.check_space`).
"""

from __future__ import annotations

from collections.abc import Mapping

from netspec import ir
from netspec.diagnostics import Diagnostics, Span, did_you_mean
from netspec.parse import parse_value
from netspec.space.concrete import Substituter, _plain, resolve
from netspec.space.find import find_space, search_calls
from netspec.space.model import SearchSpace

__all__ = ["is_dimension_key", "refuse_search_values", "with_dimensions_fixed"]


def is_dimension_key(key: str) -> bool:
    """Whether a `--set` key names a dimension (`dense.units`) rather than a train setting:
    every dimension's name has a dot, no setting's does."""
    return "." in key


def with_dimensions_fixed(
    source: str, file: str, fixed: Mapping[str, str], diagnostics: Diagnostics
) -> tuple[ir.SpecFile, SearchSpace] | None:
    """The parsed spec with the dimensions `fixed` names set to the values given (spec text);
    None, with diagnostics, when the text does not parse, a search value is malformed, a key
    names no dimension or a value lies outside its dimension."""
    space = find_space(source, file, diagnostics)
    if space is None:
        return None
    assert space.tree is not None
    if not fixed:
        return space.tree, space
    substituter = Substituter(space)
    replacements: dict[int, ir.Value] = {}
    ok = True
    names = [d.name for d in space.dimensions]
    for key, text in fixed.items():
        where = _option_span(key, text)
        if key not in names:
            suggestion = did_you_mean(key, names)
            diagnostics.error(
                "E0194", f"--set {key}: the spec has no dimension {key}", where,
                hint=f"did you mean '{suggestion}'?" if suggestion
                else "dimensions: " + (", ".join(names) or "none (the spec holds no search value)"),
            )
            ok = False
            continue
        index = names.index(key)
        dimension = space.dimensions[index]
        value = parse_value(text, where.file, diagnostics)
        if value is None:
            ok = False
            continue
        known, plain = _plain(value)
        try:
            resolved = resolve(dimension, plain if known else text)
        except ValueError as error:
            diagnostics.error(
                "E0194", f"--set {key}={text}: {error}", where,
                hint=f"{key} is {dimension.describe()}",
                related=[(dimension.span, f"{key} is written here")],
            )
            ok = False
            continue
        replacements[index] = substituter.node(index, resolved)
    if not ok:
        return None
    return substituter.apply(replacements), space


def refuse_search_values(
    spec: ir.SpecFile, space: SearchSpace, diagnostics: Diagnostics
) -> bool:
    """Report E0190 at the first search value left in `spec`; True when there is none."""
    left = {id(c) for c in search_calls(spec)}
    if not left:
        return True
    remaining = [d for d in space.dimensions if id(d.call) in left]
    first = remaining[0]
    more = f" (and {len(remaining) - 1} more)" if len(remaining) > 1 else ""
    example = first.choices[0] if first.choices else _number(first.low)
    diagnostics.error(
        "E0190",
        f"the spec holds a search space: {first.name} = {first.describe()}{more}",
        first.span,
        hint=f"run `netspec tune`, or fix it with --set NAME=VALUE (--set {first.name}={example})",
    )
    return False


def _number(value: float | int | None) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _option_span(key: str, text: str) -> Span:
    """The span of a `--set` item's value, in a "file" named after the option as the
    commands name the text of each override (`--dense.units`), so it renders quoted."""
    file = f"--{key.replace('_', '-')}"
    return Span(file=file, line=1, column=1, end_line=1, end_column=len(text) + 1)
