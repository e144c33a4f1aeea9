"""One editor document, checked: its syntax tree, checked model and diagnostics.

What `netspec check` runs (parse → expand → check, and the memory warning), on the editor's
text rather than the file on disk. A document that holds no model is checked as a file of
blocks for `use`. An edit within the `layers` section (whole statements changed, added or
removed) is parsed alone and spliced into the previous syntax tree, and one outside it is
parsed without the section's unchanged statements: parsing is most of the time a
1,000-layer spec takes, and those lines are all that changed. Any other edit (one across
the section's braces) is parsed in full.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from netspec import ir, memory
from netspec.diagnostics import Diagnostic, Diagnostics, Related, Span
from netspec.expand.imports import Loader
from netspec.frontend import check_spec
from netspec.limits import MAX_SOURCE_BYTES
from netspec.parse import parse, parse_library
from netspec.space import examine, find_space, search_calls

_HAS_MODEL = re.compile(r"^[ \t]*model\b", re.M)
_SEARCH_VALUE = re.compile(r"\b(?:choice|range|log_range|int_range)\s*\(")
"""A cheap first look for a search value; the syntax tree says for sure."""


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
    searched: bool = False
    """The spec holds search values: `model` is the space's reference point."""

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
    searched = spec is not None and bool(_SEARCH_VALUE.search(text)) and bool(search_calls(spec))
    if searched:
        diagnostics, model = _analyse_space(text, file, sources)
    elif spec is not None:
        model = check_spec(spec, diagnostics, sources)
        if model is not None:
            memory.warn(model, diagnostics)  # W0232, as `netspec check` warns
    return Analysis(
        file, text, spec, model, list(diagnostics), sources, clean, spliced, searched
    )


def _analyse_space(
    text: str, file: str, sources: dict[str, str]
) -> tuple[Diagnostics, ir.Model | None]:
    """A spec with search values, checked as `netspec check` checks a space (every point);
    the model is the reference point's, for hover."""
    diagnostics = Diagnostics()
    space = find_space(text, file, diagnostics)
    if space is None:
        return diagnostics, None
    return diagnostics, examine(space, diagnostics, sources).reference


def _analyse_library(text: str, file: str) -> Analysis:
    """A file of blocks: its syntax, its imports and its block names are checked."""
    diagnostics = Diagnostics()
    sources: dict[str, str] = {}
    library = parse_library(text, file, diagnostics)
    if library is not None:
        Loader(diagnostics, sources).load(file, library.uses, library.blocks)
    return Analysis(file, text, library, None, list(diagnostics), sources)


def _spliced(previous: Analysis | None, text: str, file: str) -> ir.SpecFile | None:
    """The previous syntax tree with the changed lines of `layers` parsed again; None when
    the edit is anything else (then the whole text is parsed).

    Inside `layers`, the lines from the first changed one to the last are parsed at their
    own line numbers (the lines before them are blank but for a `model _ {layers {` wrapper
    on the first), so their spans are those a full parse gives. They must hold whole
    statements before the edit and after it; nodes after them move by the number of lines
    added (columns do not change: those lines are the same). Outside `layers`, the rest is
    parsed and the statements are kept (`_around_layers`).
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
    same = min(len(old_lines), len(new_lines))
    head = 0  # lines the same at the start
    while head < same and old_lines[head] == new_lines[head]:
        head += 1
    if head == len(old_lines) == len(new_lines):
        return previous.spec  # the same text
    tail = 0  # and at the end, not overlapping those
    while tail < same - head and old_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1
    # Changed: old lines head+1 … old_last and new lines head+1 … new_last (1-based).
    old_last, new_last = len(old_lines) - tail, len(new_lines) - tail
    spec, section = previous.spec, previous.spec.layers_span
    if old_last < section.line or head >= section.end_line:
        return _around_layers(spec, new_lines, file, old_last, new_last - old_last)
    if not (section.line <= head and old_last < section.end_line):
        return None  # the edit reaches the `layers {` line, its `}` or beyond
    layers = spec.layers
    first = next((k for k, s in enumerate(layers) if s.span.end_line > head), len(layers))
    last = next((k for k, s in enumerate(layers) if s.span.line > old_last), len(layers))
    if any(s.span.line <= head or s.span.end_line > old_last for s in layers[first:last]):
        return None  # a statement begins before the changed lines or ends after them
    changed = "".join(line + "\n" for line in new_lines[head:new_last])
    wrapper = "model _ {layers {" + "\n" * head + changed + "}}"
    found = Diagnostics()
    parsed = parse(wrapper, file, found) if head else None
    if parsed is None or len(found) or not _layers_alone(parsed, new_last + 1):
        return None
    if any(s.span.line <= head or s.span.end_line > new_last for s in parsed.layers or []):
        return None
    delta = new_last - old_last
    moved = [*layers[:first], *parsed.layers, *(_moved(s, old_last, delta) for s in layers[last:])]
    if delta == 0:
        return spec.model_copy(update={"layers": moved})
    rest = _moved(spec.model_copy(update={"layers": []}), old_last, delta)
    return rest.model_copy(update={"layers": moved})


def _around_layers(
    spec: ir.SpecFile, new_lines: list[str], file: str, old_last: int, delta: int
) -> ir.SpecFile | None:
    """An edit before the `layers {` line or after its `}`: the new text is parsed with the
    lines inside `layers` left blank (the same lines as before the edit), and the previous
    statements put back, moved by the lines added above them."""
    section = spec.layers_span
    assert section is not None and spec.layers is not None
    moved_by = delta if old_last < section.line else 0
    inner = range(section.line + moved_by, section.end_line - 1 + moved_by)  # 0-based lines
    skeleton = "\n".join("" if i in inner else line for i, line in enumerate(new_lines))
    found = Diagnostics()
    parsed = parse(skeleton, file, found)
    if parsed is None or len(found) or parsed.layers != [] or parsed.layers_span is None:
        return None
    if (parsed.layers_span.line, parsed.layers_span.end_line) != (
        section.line + moved_by, section.end_line + moved_by
    ):
        return None  # not the same section: one added above it, or braces moved
    layers = [_moved(s, old_last, moved_by) for s in spec.layers]
    return parsed.model_copy(update={"layers": layers})


def _layers_alone(parsed: ir.SpecFile, closing: int) -> bool:
    """Whether the wrapped lines parsed as statements of the wrapper's one `layers`
    section, not as a `}` and other sections (`} loss mse layers {`)."""
    section = parsed.layers_span
    others = (
        parsed.inputs, parsed.outputs, parsed.loss, parsed.losses, parsed.loss_weights,
        parsed.optimizer, parsed.metrics, parsed.output_metrics, parsed.train,
    )
    return (
        section is not None and section.line == 1 and section.end_line == closing
        and all(other is None for other in others) and not parsed.uses and not parsed.blocks
    )


def _moved(node: Any, after: int, delta: int) -> Any:
    """`node` with every line after line `after` moved down by `delta` lines."""
    if delta == 0:
        return node
    if isinstance(node, Span):
        if node.end_line <= after:
            return node
        line = node.line + delta if node.line > after else node.line
        return Span(file=node.file, line=line, column=node.column,
                    end_line=node.end_line + delta, end_column=node.end_column)
    if isinstance(node, BaseModel):
        if not isinstance(node, (ir.Node, Related)):
            return node
        values = {name: _moved(value, after, delta) for name, value in node.__dict__.items()}
        return type(node).model_construct(_fields_set=node.model_fields_set, **values)
    if isinstance(node, list):
        return [_moved(item, after, delta) for item in node]
    if isinstance(node, tuple):
        return tuple(_moved(item, after, delta) for item in node)
    return node


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
