"""The answers to an editor's requests, from a document's `Analysis`.

Each function takes plain positions (1-based line and column, as spans count them) and
returns lsprotocol values; `server` converts the editor's positions and sends them.
"""

from __future__ import annotations

import functools
import os
import types as pytypes
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lsprotocol import types as lsp
from pydantic.fields import FieldInfo
from pygls.uris import from_fs_path

from netspec import catalogue, ir, reference
from netspec.catalogue.base import Entry
from netspec.diagnostics import Diagnostic, Severity, Span
from netspec.fmt import format_source
from netspec.lsp.analysis import Analysis, bodies, statements
from netspec.lsp.context import Context, context_at
from netspec.lsp.positions import LineIndex, contains

# --------------------------------------------------------------------------- ranges


def uri_of(path: str) -> str:
    return from_fs_path(os.path.abspath(path)) or path


def lsp_range(index: LineIndex | None, span: Span) -> lsp.Range:
    """A span as an LSP range; without the file's text, columns are taken as they are."""
    if index is None:
        return lsp.Range(
            lsp.Position(max(span.line - 1, 0), max(span.column - 1, 0)),
            lsp.Position(max(span.end_line - 1, 0), max(span.end_column - 1, 0)),
        )
    (l0, c0), (l1, c1) = index.range(span)
    return lsp.Range(lsp.Position(l0, c0), lsp.Position(l1, c1))


class _Ranges:
    """Ranges of spans in the document or the files it imports, each file indexed once."""

    def __init__(self, analysis: Analysis, encoding: str = "utf-16") -> None:
        self.analysis = analysis
        self.encoding = encoding
        self._indexes: dict[str, LineIndex | None] = {}

    def __call__(self, span: Span) -> lsp.Range:
        if span.file not in self._indexes:
            text = (
                self.analysis.text if span.file == self.analysis.file
                else self.analysis.sources.get(span.file)
            )
            self._indexes[span.file] = LineIndex(text, self.encoding) if text is not None else None
        return lsp_range(self._indexes[span.file], span)

    def location(self, span: Span) -> lsp.Location:
        return lsp.Location(uri_of(span.file), self(span))


# --------------------------------------------------------------------------- diagnostics


def diagnostics(analysis: Analysis, encoding: str = "utf-16") -> list[lsp.Diagnostic]:
    """The document's diagnostics, as `netspec check` reports them, for the editor.

    One found in a file the document imports is shown at the place in this document that
    led there (a note here: the use site of the block), else at the `use` line of that
    file, with its own place as related information.
    """
    ranges = _Ranges(analysis, encoding)
    return [_diagnostic(d, analysis, ranges) for d in analysis.diagnostics]


def _diagnostic(d: Diagnostic, analysis: Analysis, ranges: _Ranges) -> lsp.Diagnostic:
    related = [
        lsp.DiagnosticRelatedInformation(ranges.location(note.span), note.message)
        for note in d.related
    ]
    message = d.message
    if d.span.file == analysis.file:
        where = ranges(d.span)
    else:
        where = ranges(_anchor(d, analysis))
        message = f"{d.span}: {d.message}"
        related.insert(0, lsp.DiagnosticRelatedInformation(ranges.location(d.span), d.message))
    if d.hint:
        message += f"\nhint: {d.hint}"
    return lsp.Diagnostic(
        range=where,
        message=message,
        severity=(
            lsp.DiagnosticSeverity.Error if d.severity is Severity.ERROR
            else lsp.DiagnosticSeverity.Warning
        ),
        code=d.code,
        source="netspec",
        related_information=related or None,
    )


def _anchor(d: Diagnostic, analysis: Analysis) -> Span:
    """Where in the document a diagnostic of an imported file is shown."""
    for note in d.related:
        if note.span.file == analysis.file:
            return note.span
    uses = analysis.spec.uses if analysis.spec is not None else []
    for use in uses:
        if analysis.import_path(use) == d.span.file:
            return use.span
    if uses:
        return uses[0].span
    return Span(file=analysis.file, line=1, column=1, end_line=1, end_column=1)


# --------------------------------------------------------------------------- the syntax at a place


@dataclass(frozen=True)
class Found:
    """What the cursor is on."""

    kind: str  # "call", "keyword", "name", "setting", "use", "tensor", "block"
    span: Span
    family: str | None = None  # of a call or a name
    name: str = ""
    call: ir.Call | None = None
    statement: ir.LayerStmt | None = None
    block: ir.BlockDef | None = None  # the block whose body holds it
    use: ir.Use | None = None


def _call_items(
    call: ir.Call, family: str | None, statement: ir.LayerStmt | None, block: ir.BlockDef | None
) -> Iterator[Found]:
    yield Found("call", call.name_span, family, call.name, call, statement, block)
    entry = catalogue.lookup(family, call.name) if family else None
    for position, arg in enumerate(call.args):
        keyword = arg.keyword
        if keyword is None and entry is not None and position < len(entry.positional):
            keyword = entry.positional[position]
        if arg.keyword is not None and arg.keyword_span is not None:
            yield Found("keyword", arg.keyword_span, family, arg.keyword, call, statement, block)
        elif keyword is not None:  # a positional argument: the parameter it gives
            yield Found("keyword", arg.span, family, keyword, call, statement, block)
        yield from _value_items(arg.value, entry, keyword, family, statement, block)


def _value_items(
    value: ir.Value, entry: type[Entry] | None, keyword: str | None, family: str | None,
    statement: ir.LayerStmt | None, block: ir.BlockDef | None,
) -> Iterator[Found]:
    if isinstance(value, ir.Call):
        inner = "layer" if entry is not None and keyword in entry.layer_args else None
        yield from _call_items(value, inner, statement, block)
    elif isinstance(value, ir.Symbol):
        named = _param_family(entry, keyword) if entry is not None and keyword else None
        yield Found("name", value.span, named, value.name, None, statement, block)
    elif isinstance(value, ir.ListValue):
        for item in value.items:
            yield from _value_items(item, entry, keyword, family, statement, block)


def items(spec: ir.SpecFile | ir.Library) -> Iterator[Found]:
    """Everything in the syntax tree the cursor may be on, outermost first."""
    for use in spec.uses:
        yield Found("use", use.span, name=use.path, use=use)
    for block, body in bodies(spec):
        if block is not None:
            yield Found("block", block.name_span, name=block.name, block=block)
            for symbol in block.inputs or []:
                yield Found("tensor", symbol.span, name=symbol.name, block=block)
        for statement in statements(body):
            yield from _call_items(statement.call, "layer", statement, block)
            for symbol in statement.inputs or []:
                yield Found("tensor", symbol.span, name=symbol.name, statement=statement, block=block)
    if not isinstance(spec, ir.SpecFile):
        return
    for symbol in spec.outputs or []:
        yield Found("tensor", symbol.span, name=symbol.name)
    if spec.loss is not None:
        yield from _call_items(spec.loss, "loss", None, None)
    for output_loss in spec.losses or []:
        yield Found("tensor", output_loss.output_span, name=output_loss.output)
        yield from _call_items(output_loss.call, "loss", None, None)
    if spec.optimizer is not None:
        yield from _call_items(spec.optimizer, "optimizer", None, None)
    for symbol in spec.metrics or []:
        yield Found("name", symbol.span, "metric", symbol.name)
    for output_metrics in spec.output_metrics or []:
        yield Found("tensor", output_metrics.output_span, name=output_metrics.output)
        for symbol in output_metrics.metrics:
            yield Found("name", symbol.span, "metric", symbol.name)
    for setting in spec.train or []:
        yield Found("setting", setting.key_span, name=setting.key)
        family = {"data": "data", "lr_schedule": "schedule"}.get(setting.key)
        if isinstance(setting.value, ir.Call):
            yield from _call_items(setting.value, family, None, None)
        elif isinstance(setting.value, ir.Symbol) and family:
            yield Found("name", setting.value.span, family, setting.value.name)


def found_at(analysis: Analysis, line: int, column: int) -> Found | None:
    """The innermost thing of the document's syntax tree at a 1-based position."""
    around = all_at(analysis, line, column)
    return around[-1] if around else None


def all_at(analysis: Analysis, line: int, column: int) -> list[Found]:
    """Everything at a 1-based position, outermost first (later items lie inside earlier
    ones: a call's arguments inside it)."""
    if analysis.spec is None:
        return []
    return [
        item for item in items(analysis.spec)
        if item.span.file == analysis.file and contains(item.span, line, column)
    ]


# --------------------------------------------------------------------------- catalogue docs


def _param_family(entry: type[Entry] | None, keyword: str | None) -> str | None:
    """The catalogue family a parameter's value names (`activation` → activations)."""
    if entry is None or keyword is None:
        return None
    keyword = entry.arg_aliases.get(keyword, keyword)
    field = entry.Params.model_fields.get(keyword)
    if field is None:
        return None
    if keyword in entry.layer_args:
        return "layer"
    return _named_family([*field.metadata, field.annotation])


def _named_family(things: list[Any]) -> str | None:
    for thing in things:
        family = getattr(getattr(thing, "func", None), "catalogue_family", None)
        if family:
            return str(family)
        nested = (
            typing.get_origin(thing) in (typing.Annotated, typing.Union)
            or isinstance(thing, pytypes.UnionType)
        )
        found = _named_family(list(typing.get_args(thing))) if nested else None
        if found:
            return found
    return None


def _param_doc(entry: type[Entry], keyword: str) -> reference.ParamDoc | None:
    name = entry.arg_aliases.get(keyword, keyword)
    field = entry.Params.model_fields.get(name)
    return reference.describe_param(name, field) if field is not None else None


def _param_markdown(p: reference.ParamDoc, owner: str) -> str:
    kind = f"{p.type}, {p.range}" if p.range else p.type
    default = f"default `{p.default}`" if p.default is not None else "required"
    text = f"**{p.name}** of `{owner}`: {kind}; {default}"
    return f"{text}\n\n{p.description}" if p.description else text


def _entry_markdown(cls: type[Entry]) -> str:
    doc = reference.describe(cls)
    word = reference.FAMILIES[doc.family][1]
    head = f"**{doc.name}** ({word})"
    if doc.summary:
        head += f" — {doc.summary}"
    lines = [head]
    if doc.description and doc.description != doc.summary:
        lines += ["", doc.description]
    for label, value in doc.facts:
        if value:
            lines += ["", f"{label}: {value}"]
    return "\n".join(lines)


def _setting_markdown(key: str) -> str | None:
    field: FieldInfo | None = ir.TrainConfig.model_fields.get(key)
    if field is None:
        return None
    return _param_markdown(reference.describe_param(key, field), "train")


# --------------------------------------------------------------------------- hover


def hover(analysis: Analysis, last_good: ir.Model | None, line: int, column: int) -> str | None:
    """Markdown for the thing at the position: a layer's shape and parameters, an
    argument's type, default and meaning, a catalogue name's doc. Where the innermost thing
    has none (a block parameter's name as a value), the one around it answers."""
    for found in reversed(all_at(analysis, line, column)):
        text = _hover(analysis, last_good, found)
        if text is not None:
            return text
    return None


def _hover(analysis: Analysis, last_good: ir.Model | None, found: Found) -> str | None:
    if found.kind == "call" and found.family == "layer":
        return _layer_hover(analysis, last_good, found)
    if found.kind in ("call", "name"):
        family = found.family or _family_of_name(found.name)
        cls = catalogue.lookup(family, found.name) if family else None
        return _entry_markdown(cls) if cls is not None else None
    if found.kind == "keyword" and found.call is not None:
        return _keyword_hover(analysis, found)
    if found.kind == "setting":
        return _setting_markdown(found.name)
    if found.kind == "block" and found.block is not None:
        return f"block `{_signature(found.block)}`"
    if found.kind == "use":
        return f"imports the blocks of `{analysis.import_path(found.use)}`" if found.use else None
    return None


def _family_of_name(name: str) -> str | None:
    for family in ("activation", "initializer", "metric", "loss", "optimizer", "data", "schedule"):
        if catalogue.lookup(family, name) is not None:
            return family
    return None


def _signature(block: ir.BlockDef) -> str:
    params = ", ".join(p.name for p in block.params)
    text = f"{block.name}({params})"
    if block.inputs is not None:
        text += "(" + ", ".join(s.name for s in block.inputs) + ")"
    return text


def _layer_hover(analysis: Analysis, last_good: ir.Model | None, found: Found) -> str | None:
    call, statement = found.call, found.statement
    assert call is not None
    cls = catalogue.lookup("layer", call.name)
    if cls is None:
        block = analysis.blocks.get(call.name)
        if block is None:
            return None
        definition = block[1]
        return f"block `{_signature(definition)}`, defined at {definition.name_span}"
    lines = [_entry_markdown(cls).split("\n", 1)[0]]
    model, stale = analysis.model, False
    if model is None:
        model, stale = last_good, True
    if model is None:
        lines.append("\n(no shapes: the spec has errors)")
        return "\n".join(lines)
    span = statement.span if statement is not None and found.call is statement.call else None
    layers = [
        layer for layer in model.layers
        if span is not None and layer.span == span
    ]
    if not layers:
        lines.append("\n(no shapes for this layer" + (": the spec has errors)" if stale else ")"))
        return "\n".join(lines)
    lines.append("")
    for layer in layers[:8]:
        params = layer.trainable_params + layer.non_trainable_params
        frozen = ", frozen" if not layer.trainable else ""
        where = ""
        if layer.blocks:  # the instance it came from, read from the checked model
            where = f", in block `{layer.blocks[-1].block}` as `{layer.blocks[-1].name}`"
        lines.append(
            f"- `{layer.name}`: output shape `{_shape(layer.output_shape)}`, "
            f"{params:,} parameters{frozen}{where}"
        )
    if len(layers) > 8:
        lines.append(f"- … and {len(layers) - 8} more instances")
    if stale:
        lines.append("\n(from the last version that checked: the spec has errors now)")
    elif analysis.searched:
        lines.append("\n(at the search space's first values)")
    return "\n".join(lines)


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(size) for size in shape) + "]"


def _keyword_hover(analysis: Analysis, found: Found) -> str | None:
    assert found.call is not None
    cls = catalogue.lookup(found.family, found.call.name) if found.family else None
    if cls is not None:
        p = _param_doc(cls, found.name)
        return _param_markdown(p, cls.kind) if p is not None else None
    block = analysis.blocks.get(found.call.name)
    if block is not None:
        for param in block[1].params:
            if param.name == found.name:
                default = "required" if param.default is None else "has a default"
                return f"**{param.name}**: parameter of block `{_signature(block[1])}` ({default})"
    return None


# --------------------------------------------------------------------------- completion

_ITEM_KINDS = {
    "layer": lsp.CompletionItemKind.Class,
    "loss": lsp.CompletionItemKind.Function,
    "optimizer": lsp.CompletionItemKind.Function,
    "metric": lsp.CompletionItemKind.Value,
    "data": lsp.CompletionItemKind.Module,
    "schedule": lsp.CompletionItemKind.Function,
    "activation": lsp.CompletionItemKind.EnumMember,
    "initializer": lsp.CompletionItemKind.EnumMember,
}
SECTIONS = ("input", "layers", "output", "loss", "loss_weights", "optimizer", "metrics", "train")


def completions(analysis: Analysis, text: str, offset: int) -> list[lsp.CompletionItem]:
    """What may be written at `offset` of `text`, with docs; `analysis` (maybe of an
    earlier text) gives the blocks and tensor names."""
    context = context_at(text, offset)
    kind = context.kind
    if kind == "value":
        family = _value_family(analysis, context)
        return list(_family_items(family)) if family else []
    if kind in _ITEM_KINDS:
        found = list(_family_items(kind))
        if kind == "layer":
            found += [
                lsp.CompletionItem(
                    label=name, kind=lsp.CompletionItemKind.Snippet,
                    detail=f"block {_signature(definition)}",
                )
                for name, (_, definition) in sorted(analysis.blocks.items())
            ]
        return found
    if kind == "argument":
        return _argument_items(analysis, context)
    if kind == "train_setting":
        return [
            lsp.CompletionItem(
                label=key, kind=lsp.CompletionItemKind.Property, insert_text=f"{key} = ",
                documentation=_markdown(_setting_markdown(key) or ""),
            )
            for key in ir.TrainConfig.model_fields
            if key not in context.given
        ]
    if kind == "section":
        return [lsp.CompletionItem(label=s, kind=lsp.CompletionItemKind.Keyword) for s in SECTIONS]
    if kind == "top":
        return [
            lsp.CompletionItem(label=s, kind=lsp.CompletionItemKind.Keyword)
            for s in ("model", "block", "use")
        ]
    if kind == "tensor":
        return [
            lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Variable)
            for name in _tensor_names(analysis)
        ]
    return []


def _markdown(text: str) -> lsp.MarkupContent:
    return lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text)


@functools.cache
def _family_items(family: str) -> tuple[lsp.CompletionItem, ...]:
    """Every name of a catalogue family with its doc (the catalogue does not change)."""
    found = []
    for cls in catalogue.entries(family):
        doc = reference.describe(cls)
        for name in (doc.name, *doc.aliases):
            found.append(lsp.CompletionItem(
                label=name,
                kind=_ITEM_KINDS.get(family, lsp.CompletionItemKind.Text),
                detail=doc.summary or None,
                documentation=_markdown(_entry_markdown(cls)),
            ))
    return tuple(found)


def _value_family(analysis: Analysis, context: Context) -> str | None:
    if context.call is None or context.call_family is None:
        return None
    cls = catalogue.lookup(context.call_family, context.call)
    return _param_family(cls, context.keyword)


def _argument_items(analysis: Analysis, context: Context) -> list[lsp.CompletionItem]:
    """The argument names of the call at the cursor that are not given yet."""
    if context.call is None:
        return []
    cls = catalogue.lookup(context.call_family, context.call) if context.call_family else None
    if cls is not None:
        given = {cls.arg_aliases.get(k, k) for k in context.given}
        given |= set(cls.positional[: context.positional])
        found = []
        for name, field in cls.Params.model_fields.items():
            if name in given:
                continue
            p = reference.describe_param(name, field)
            found.append(lsp.CompletionItem(
                label=name, kind=lsp.CompletionItemKind.Property, insert_text=f"{name}=",
                detail=f"{p.type}" + (f" = {p.default}" if p.default is not None else ""),
                documentation=_markdown(_param_markdown(p, cls.kind)),
            ))
        return found
    block = analysis.blocks.get(context.call)
    if block is None:
        return []
    params = block[1].params
    given = set(context.given) | {p.name for p in params[: context.positional]}
    return [
        lsp.CompletionItem(
            label=p.name, kind=lsp.CompletionItemKind.Property, insert_text=f"{p.name}=",
            detail=f"parameter of block {block[1].name}",
        )
        for p in params
        if p.name not in given
    ]


def _tensor_names(analysis: Analysis) -> list[str]:
    spec = analysis.spec
    names: list[str] = []
    if isinstance(spec, ir.SpecFile):
        names += [i.name or "input" for i in spec.inputs or []]
    for block, body in bodies(spec) if spec is not None else []:
        if block is not None:
            names += [s.name for s in block.inputs or []]
        names += [s.name for s in statements(body) if s.name]
    return sorted(set(names))


# --------------------------------------------------------------------------- definition


def definition(
    analysis: Analysis, line: int, column: int, encoding: str = "utf-16"
) -> lsp.Location | None:
    """Where the thing at the position is defined: a block, an imported file, a tensor."""
    found = found_at(analysis, line, column)
    if found is None:
        return None
    if found.kind == "use" and found.use is not None:
        target = analysis.import_path(found.use)
        start = lsp.Position(0, 0)
        return lsp.Location(uri_of(target), lsp.Range(start, start))
    ranges = _Ranges(analysis, encoding)
    if found.kind == "call" and found.family == "layer" and catalogue.lookup("layer", found.name) is None:
        block = analysis.blocks.get(found.name)
        return ranges.location(block[1].name_span) if block else None
    if found.kind == "tensor":
        span = _tensor_definition(analysis, found)
        return ranges.location(span) if span else None
    return None


def _tensor_definition(analysis: Analysis, found: Found) -> Span | None:
    spec = analysis.spec
    if found.block is not None:
        for symbol in found.block.inputs or []:
            if symbol.name == found.name:
                return symbol.span
        for statement in statements(found.block.body):
            if statement.name == found.name:
                return statement.name_span or statement.span
        return None
    if not isinstance(spec, ir.SpecFile):
        return None
    for stmt_input in spec.inputs or []:
        if (stmt_input.name or "input") == found.name:
            return stmt_input.name_span or stmt_input.span
    for statement in statements(spec.layers or []):
        if statement.name == found.name:
            return statement.name_span or statement.span
    return None


# --------------------------------------------------------------------------- symbols


def symbols(analysis: Analysis, encoding: str = "utf-16") -> list[lsp.DocumentSymbol]:
    """The model (its inputs and named layers inside) and each block."""
    spec = analysis.spec
    if spec is None:
        return []
    ranges = _Ranges(analysis, encoding)

    def symbol(name: str, kind: lsp.SymbolKind, span: Span, selection: Span | None,
               children: list[lsp.DocumentSymbol] | None = None, detail: str | None = None
               ) -> lsp.DocumentSymbol:
        return lsp.DocumentSymbol(
            name=name, kind=kind, range=ranges(span), selection_range=ranges(selection or span),
            children=children, detail=detail,
        )

    def layer_symbols(body: list[ir.Statement]) -> list[lsp.DocumentSymbol]:
        return [
            symbol(s.name, lsp.SymbolKind.Variable, s.span, s.name_span, detail=s.call.name)
            for s in statements(body)
            if s.name
        ]

    found: list[lsp.DocumentSymbol] = []
    if isinstance(spec, ir.SpecFile):
        children = [
            symbol(i.name or "input", lsp.SymbolKind.Field, i.span, i.name_span, detail="input")
            for i in spec.inputs or []
        ]
        children += layer_symbols(spec.layers or [])
        found.append(symbol(spec.model_name, lsp.SymbolKind.Class, spec.span, spec.name_span,
                            children, detail="model"))
    for block in spec.blocks:
        found.append(symbol(block.name, lsp.SymbolKind.Function, block.span, block.name_span,
                            layer_symbols(block.body), detail=_signature(block)))
    return found


# --------------------------------------------------------------------------- formatting


def formatting(text: str, file: str, encoding: str = "utf-16") -> list[lsp.TextEdit]:
    """One edit that replaces the document with `netspec fmt`'s layout; none when it does
    not parse or is formatted already."""
    from netspec.diagnostics import Diagnostics

    formatted = format_source(text, file, Diagnostics())
    if formatted is None or formatted == text:
        return []
    index = LineIndex(text, encoding)
    last = len(index.lines) - 1
    end = lsp.Position(*index.position(last + 1, len(index.lines[last]) + 1))
    return [lsp.TextEdit(range=lsp.Range(lsp.Position(0, 0), end), new_text=formatted)]


__all__ = ["completions", "definition", "diagnostics", "formatting", "hover", "symbols"]
