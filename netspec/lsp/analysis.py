"""One editor document, checked: its syntax tree, checked model and diagnostics.

What `netspec check` runs (parse → expand → check, and the memory warning), on the editor's
text rather than the file on disk. A document that holds no model is checked as a file of
blocks for `use`. An edit within one line of the `layers` section is parsed alone and
spliced into the previous syntax tree: parsing is most of the time a 1,000-layer spec
takes, and the line is all that changed (anything else is parsed in full).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from netspec import ir, memory
from netspec.diagnostics import Diagnostic, Diagnostics
from netspec.expand.imports import Loader
from netspec.frontend import check_spec
from netspec.limits import MAX_SOURCE_BYTES
from netspec.parse import parse, parse_library

_HAS_MODEL = re.compile(r"^[ \t]*model\b", re.M)


@dataclass
class Analysis:
    file: str
    text: str
    spec: ir.SpecFile | ir.Library | None
    model: ir.Model | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)
    """Texts of the files the document imports, by the name their diagnostics carry."""
    parse_clean: bool = False
    """The parse reported nothing, so a later one-line edit may be spliced into `spec`."""
    spliced: bool = False

    @property
    def blocks(self) -> dict[str, tuple[str, ir.BlockDef]]:
        """Every block the document can use, by name: its file and definition."""
        found: dict[str, tuple[str, ir.BlockDef]] = {}
        for file, text in self.sources.items():
            library = _library(file, text)
            for block in library.blocks if library else []:
                found.setdefault(block.name, (file, block))
        for block in self.spec.blocks if self.spec is not None else []:
            found[block.name] = (self.file, block)
        return found

    def import_path(self, use: ir.Use) -> str:
        """The file a `use` line names, as its diagnostics name it."""
        return os.path.normpath(os.path.join(os.path.dirname(self.file), use.path))


@lru_cache(maxsize=64)
def _library(file: str, text: str) -> ir.Library | None:
    return parse_library(text, file, Diagnostics())


def analyse(text: str, file: str, previous: Analysis | None = None) -> Analysis:
    """Check `text` as the file `file` (imports are read relative to it)."""
    diagnostics = Diagnostics()
    sources: dict[str, str] = {}
    spec = _spliced(previous, text, file)
    spliced = spec is not None
    if spec is None:
        spec = parse(text, file, diagnostics)
    if spec is None and not _HAS_MODEL.search(text):
        return _analyse_library(text, file)
    clean = spec is not None and len(diagnostics) == 0
    model = None
    if spec is not None:
        model = check_spec(spec, diagnostics, sources)
        if model is not None:
            memory.warn(model, diagnostics)  # W0232, as `netspec check` warns
    return Analysis(file, text, spec, model, list(diagnostics), sources, clean, spliced)


def _analyse_library(text: str, file: str) -> Analysis:
    """A file of blocks: its syntax, its imports and its block names are checked."""
    diagnostics = Diagnostics()
    sources: dict[str, str] = {}
    library = parse_library(text, file, diagnostics)
    if library is not None:
        Loader(diagnostics, sources).load(file, library.uses, library.blocks)
    return Analysis(file, text, library, None, list(diagnostics), sources)


def _spliced(previous: Analysis | None, text: str, file: str) -> ir.SpecFile | None:
    """The previous syntax tree with one changed line of `layers` parsed again; None when
    the edit is anything else (then the whole text is parsed).

    The line is parsed at its own line number (the lines before it are blank but for a
    `model _ {layers {` wrapper on the first), so its spans are those a full parse gives.
    Lines other than it are the same, so every other node and span is unchanged.
    """
    if (
        previous is None
        or not previous.parse_clean
        or previous.file != file
        or not isinstance(previous.spec, ir.SpecFile)
        or previous.spec.layers is None
        or previous.spec.layers_span is None
        or len(text) > MAX_SOURCE_BYTES
    ):
        return None
    old_lines, new_lines = previous.text.split("\n"), text.split("\n")
    if len(old_lines) != len(new_lines):
        return None
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    if len(changed) != 1:
        return None
    line = changed[0] + 1
    spec = previous.spec
    section = spec.layers_span
    if not section.line < line < section.end_line:
        return None
    layers = spec.layers
    touching = [k for k, s in enumerate(layers) if s.span.line <= line <= s.span.end_line]
    if any(layers[k].span.line != line or layers[k].span.end_line != line for k in touching):
        return None  # a statement over several lines (a repeat, a call broken over lines)
    if touching:
        first, last = touching[0], touching[-1] + 1
    else:
        first = last = next((k for k, s in enumerate(layers) if s.span.line > line), len(layers))
    wrapper = "model _ {layers {" + "\n" * (line - 1) + new_lines[line - 1] + "\n}}"
    found = Diagnostics()
    parsed = parse(wrapper, file, found)
    if parsed is None or len(found) or parsed.layers is None:
        return None
    if any(s.span.line != line or s.span.end_line != line for s in parsed.layers):
        return None
    return spec.model_copy(update={"layers": [*layers[:first], *parsed.layers, *layers[last:]]})


# --------------------------------------------------------------------------- the syntax tree


def statements(body: list[ir.Statement]) -> Iterator[ir.LayerStmt]:
    """Every layer statement of a body, inside `repeat` and `if` too."""
    for statement in body:
        if isinstance(statement, ir.LayerStmt):
            yield statement
        elif isinstance(statement, ir.RepeatStmt):
            yield from statements(statement.body)
        elif isinstance(statement, ir.IfStmt):
            yield from statements(statement.then)
            yield from statements(statement.otherwise)


def bodies(spec: ir.SpecFile | ir.Library) -> Iterator[tuple[ir.BlockDef | None, list[ir.Statement]]]:
    """The model's layers (with None) and each block's body (with its definition)."""
    if isinstance(spec, ir.SpecFile) and spec.layers is not None:
        yield None, spec.layers
    for block in spec.blocks:
        yield block, block.body


__all__ = ["Analysis", "analyse", "bodies", "statements"]
