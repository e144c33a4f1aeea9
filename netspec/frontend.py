"""The front end, text → checked model: parse → expand (blocks) → check, one pass after another.

Each pass is its own module (`netspec.parse`, `netspec.expand`, `netspec.check`); this is the
pipeline that runs them, with `--set` overrides put in after parsing. The Python API
(`netspec.api`), the commands and training all check a spec through here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from netspec import ir
from netspec.check import check
from netspec.diagnostics import Diagnostics
from netspec.expand import expand
from netspec.parse import (
    parse,
    parse_value,
    paused_gc,
    read_spec,
)

__all__ = ["check_file", "check_source", "check_spec", "may_search", "override_train"]

# Text that may hold a search value (`choice(`, `log_range (`, …): only such a spec is read
# for its search space (netspec/space/); a plain one pays for this search alone.
_MAY_SEARCH = re.compile(r"\b(?:choice|range|log_range|int_range)\s*\(")


def may_search(source: str) -> bool:
    """Whether a spec's text may hold a search value (a plain spec is read no further)."""
    return _MAY_SEARCH.search(source) is not None


def check_spec(
    spec: ir.SpecFile, diagnostics: Diagnostics, sources: dict[str, str] | None = None
) -> ir.Model | None:
    """Expand and check a parsed spec; returns the checked model, or None when there are errors.

    Blocks, imports, `repeat` and arithmetic are expanded first (`netspec.expand`); the
    texts of imported files are added to `sources` for rendering their diagnostics.
    """
    with paused_gc():  # the checked IR holds no cycles either; see `paused_gc`
        expanded, ok = expand(spec, diagnostics, sources)
        return check(expanded, diagnostics, expanded=ok)


def override_train(
    spec: ir.SpecFile, overrides: Mapping[str, str], diagnostics: Diagnostics
) -> ir.SpecFile | None:
    """The spec with train settings replaced by values written in spec syntax (`--data …`).

    A value's diagnostics name the option as their file (`--data:1:5`), so they render like
    any other: the option's text, a caret and a hint.
    """
    settings = {s.key: s for s in spec.train or []}
    optimizer = spec.optimizer
    ok = True
    for key, text in overrides.items():
        value = parse_value(text, f"--{key.replace('_', '-')}", diagnostics)
        if value is None:
            ok = False
            continue
        if key == "lr":  # `--set lr=…`: the optimizer's learning rate, checked as its argument
            optimizer = _with_lr(optimizer, value)
            continue
        settings[key] = ir.Setting(key=key, key_span=value.span, value=value, span=value.span)
    if not ok:
        return None
    return spec.model_copy(update={"train": list(settings.values()), "optimizer": optimizer})


def _with_lr(optimizer: ir.Call | None, value: ir.Value) -> ir.Call | None:
    """The optimizer call with `lr` (or its spelling `learning_rate`) replaced by `value`."""
    if optimizer is None:
        return None  # the missing optimizer section is reported as it is without overrides
    args = [a for a in optimizer.args if a.keyword not in ("lr", "learning_rate")]
    args.append(ir.Arg(keyword="lr", keyword_span=value.span, value=value, span=value.span))
    return optimizer.model_copy(update={"args": args})


def check_source(
    source: str,
    file: str = "<spec>",
    overrides: Mapping[str, str] | None = None,
    sources: dict[str, str] | None = None,
) -> tuple[ir.Model | None, Diagnostics]:
    """Parse and check spec text in one go, with train settings overridden if given.

    Files the spec imports are read relative to `file`; their texts go into `sources`.
    A key with a dot (`dense.units`) fixes a dimension of the spec's search space; a spec
    that still holds a search value is refused (E0190): one model is checked here, and
    `netspec check` checks a space with `netspec.space.check_space`.
    """
    diagnostics = Diagnostics()
    overrides = overrides or {}
    dimensions = {k: v for k, v in overrides.items() if "." in k}
    space = None
    if dimensions or may_search(source):
        from netspec.space.fix import with_dimensions_fixed

        fixed = with_dimensions_fixed(source, file, dimensions, diagnostics)
        spec, space = (None, None) if fixed is None else fixed
    else:
        spec = parse(source, file, diagnostics)
    settings = {k: v for k, v in overrides.items() if "." not in k}
    if spec is not None and settings:
        spec = override_train(spec, settings, diagnostics)
    if spec is not None and space is not None and space.dimensions:
        from netspec.space.fix import refuse_search_values

        if not refuse_search_values(spec, space, diagnostics):
            return None, diagnostics
    if spec is None:
        return None, diagnostics
    return check_spec(spec, diagnostics, sources), diagnostics


def check_file(
    path: str | Path, overrides: Mapping[str, str] | None = None
) -> tuple[ir.Model | None, Diagnostics, str | dict[str, str] | None]:
    """Read, parse and check a spec file; the source comes back for rendering diagnostics:
    its text, or the texts by file name when it imports others."""
    path = Path(path)
    diagnostics = Diagnostics()
    source = read_spec(path, diagnostics)
    if source is None:
        return None, diagnostics, None
    sources: dict[str, str] = {}
    model, diagnostics = check_source(source, str(path), overrides, sources)
    if sources:
        return model, diagnostics, {str(path): source, **sources}
    return model, diagnostics, source
