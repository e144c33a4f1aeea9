"""The catalogue as reference text: what `netspec layers` prints and docs/language.md's tables.

Everything here is read from the catalogue entries (their docstrings, parameter models,
`summary`, `shape_rule`, `weights_rule`, `notes`, `formula`, targets), so the reference
cannot state anything the catalogue does not. Catalogue texts mark code with backticks:
kept in Markdown, dropped on a terminal. Importing this module imports no framework.

`python -m netspec.reference --write docs/language.md` rewrites the regions of a Markdown
file marked `<!-- generated: REGION -->` … `<!-- end generated -->`; `--check` exits 1
when they differ from the catalogue (tests/test_reference.py runs it on docs/language.md).
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import annotated_types
from pydantic.fields import FieldInfo

from netspec import catalogue
from netspec.catalogue.base import _REGISTRY, Entry

# The families `netspec layers` lists, in its order: (heading, one entry's word, other words
# that name the family on the command line).
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "layer": ("Layers", "layer", ("layers",)),
    "loss": ("Losses", "loss", ("losses",)),
    "optimizer": ("Optimizers", "optimizer", ("optimizers",)),
    "metric": ("Metrics", "metric", ("metrics",)),
    "schedule": ("Learning-rate schedules", "schedule", ("schedules", "lr_schedule")),
    "data": ("Data sources", "data source", ("data", "sources", "source")),
    "activation": ("Activations", "activation", ("activations",)),
    "initializer": ("Initializers", "initializer", ("initializers",)),
}

# Layers are listed by the catalogue module that defines them, in this order, then as defined.
LAYER_MODULES = (
    "core", "conv", "recurrent", "normalization", "embedding", "attention", "merge", "preprocessing"
)


@dataclass(frozen=True)
class ParamDoc:
    """One parameter: its name, the values it takes, its default in spec syntax."""

    name: str
    type: str  # what a spec may write: "int", "int | [int, int]", "valid | same"
    range: str  # "> 0", "in [0, 1)", "each > 0"; "" when any value of the type goes
    default: str | None  # spec syntax; None when the parameter is required
    description: str


@dataclass(frozen=True)
class EntryDoc:
    """One catalogue entry as the reference shows it."""

    family: str
    name: str
    aliases: tuple[str, ...]
    positional: tuple[str, ...]
    summary: str
    description: str  # the first paragraph of the entry's docstring
    params: tuple[ParamDoc, ...]
    facts: tuple[tuple[str, str], ...]  # ("shape", rule), ("targets", …), ("formula", …)
    notes: str = ""


# --------------------------------------------------------------------------- values and types


def literal(value: Any) -> str:
    """A Python value as a spec writes it: `true`, `none`, `[2, 2]`, `relu`, `"a b"`, `1e-7`."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return re.sub(r"e([+-])0*(\d)", lambda m: f"e{m.group(1).replace('+', '')}{m.group(2)}", text)
    if isinstance(value, str):
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) and value not in ("true", "false", "none"):
            return value
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return str(value)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return literal(value)


def _bounds(metadata: Iterable[Any]) -> str:
    """The range a list of annotated-types constraints allows: "> 0", "in [0, 1)", …."""
    low = high = None
    low_open = high_open = False
    parts: list[str] = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            inner = _bounds(item.metadata)
            if inner:
                parts.append(inner)
            continue
        if isinstance(item, annotated_types.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, annotated_types.Ge):
            low, low_open = item.ge, False
        elif isinstance(item, annotated_types.Lt):
            high, high_open = item.lt, True
        elif isinstance(item, annotated_types.Le):
            high, high_open = item.le, False
        elif isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            parts.append("non-empty" if item.min_length == 1 else f"at least {item.min_length}")
    if low is not None and high is not None:
        parts.insert(
            0, f"in {'(' if low_open else '['}{_number(low)}, {_number(high)}{')' if high_open else ']'}"
        )
    elif low is not None:
        parts.insert(0, f"{'>' if low_open else '≥'} {_number(low)}")
    elif high is not None:
        parts.insert(0, f"{'<' if high_open else '≤'} {_number(high)}")
    return ", ".join(parts)


def _split(annotation: Any) -> tuple[Any, list[Any]]:
    """(the bare type, the metadata of the Annotated layers around it)."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata += extra
    return annotation, metadata


def _named_family(metadata: Iterable[Any]) -> str | None:
    """The catalogue family a name parameter is checked against (ActivationName, …)."""
    for item in metadata:
        family = getattr(getattr(item, "func", None), "catalogue_family", None)
        if family:
            return family
    return None


def _input_type(metadata: Iterable[Any]) -> Any:
    """What a BeforeValidator says it accepts (`json_schema_input_type`), if it says."""
    for item in metadata:
        accepted = getattr(item, "json_schema_input_type", None)
        if accepted is not None and accepted.__class__.__name__ != "PydanticUndefinedType":
            return accepted
    return None


def type_text(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    """A parameter's type as a spec writes its values: `int`, `[int, int]`, `same | valid`."""
    annotation, inner = _split(annotation)
    metadata = [*metadata, *inner]
    accepted = _input_type(metadata)
    if accepted is not None:
        return type_text(accepted)
    family = _named_family(metadata)
    if family:
        return family
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(literal(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"[{type_text(args[0])}, …]"
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    if annotation is type(None):
        return "none"
    if annotation is catalogue.LayerValue:
        return "layer"
    names = {int: "int", float: "float", bool: "bool", str: "string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _element_bounds(annotation: Any) -> str:
    """"each > 0" when every element of a tuple type has the same constraint."""
    annotation, _ = _split(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = {_element_bounds(a) for a in typing.get_args(annotation)} - {""}
        return found.pop() if len(found) == 1 else ""
    if typing.get_origin(annotation) is not tuple:
        return ""
    found = set()
    for arg in typing.get_args(annotation):
        if arg is Ellipsis:
            continue
        _, meta = _split(arg)
        found.add(_bounds(meta) or _element_bounds(arg).removeprefix("each "))
    found.discard("")
    return f"each {found.pop()}" if len(found) == 1 else ""


def describe_param(name: str, field: FieldInfo) -> ParamDoc:
    annotation = field.annotation
    bare, inner = _split(annotation)
    ranges = [r for r in (_bounds([*field.metadata, *inner]), _element_bounds(bare)) if r]
    kind = type_text(annotation, field.metadata)
    if kind == "string":  # a name or a path: "non-empty" goes without saying
        ranges = [r for r in ranges if r != "non-empty"]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "default_text" in extra:
        default: str | None = str(extra["default_text"])
    elif field.is_required():
        default = None
    else:
        value = field.get_default(call_default_factory=True)
        default = literal(value)
    return ParamDoc(
        name=name,
        type=kind,
        range=", ".join(ranges),
        default=default,
        description=field.description or "",
    )


# --------------------------------------------------------------------------- entries


def _paragraphs(cls: type) -> list[str]:
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return []
    text = inspect.cleandoc(doc)
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _facts(cls: type[Entry]) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    if cls.family == "layer":
        facts.append(("shape", getattr(cls, "shape_rule", "")))
        facts.append(("weights", getattr(cls, "weights_rule", "") or "none"))
    if cls.family == "loss":
        facts.append(("targets", cls.target))  # type: ignore[attr-defined]
    if cls.family == "metric":
        facts.append(("targets", ", ".join(cls.targets)))  # type: ignore[attr-defined]
    formula = getattr(cls, "formula", "")
    if formula:
        facts.append(("formula", formula))
    return facts


def describe(cls: type[Entry]) -> EntryDoc:
    paragraphs = _paragraphs(cls)
    return EntryDoc(
        family=cls.family,
        name=cls.kind,
        aliases=tuple(cls.aliases),
        positional=tuple(cls.positional),
        summary=cls.summary,
        description=paragraphs[0] if paragraphs else cls.summary,
        params=tuple(describe_param(n, f) for n, f in cls.Params.model_fields.items()),
        facts=tuple(_facts(cls)),
        notes=" ".join(getattr(cls, "notes", "").split()),
    )


def _module(cls: type) -> str:
    return cls.__module__.rsplit(".", 1)[-1]


def in_order(family: str, module: str | None = None) -> list[type[Entry]]:
    """A family's entries as their modules define them (aliases once); layers by module."""
    seen: dict[str, type[Entry]] = {}
    for cls in _REGISTRY[family].values():
        if module is None or _module(cls) == module:
            seen.setdefault(cls.kind, cls)
    ordered = list(seen.values())
    if family == "layer":
        rank = {m: i for i, m in enumerate(LAYER_MODULES)}
        ordered.sort(key=lambda cls: rank.get(_module(cls), len(rank)))
    return ordered


def family_of_word(word: str) -> str | None:
    """`losses`, `schedules`, `data` → the family they name."""
    for family, (_, _, words) in FAMILIES.items():
        if word.lower() in words:
            return family
    return None


class UnknownName(Exception):
    def __init__(self, name: str, suggestion: str | None):
        hint = f"did you mean '{suggestion}'?" if suggestion else "netspec layers lists every name"
        super().__init__(f"nothing in the catalogue is called '{name}'")
        self.message = str(self)
        self.hint = hint


def find(name: str) -> list[EntryDoc]:
    """Every entry called `name` (or aliased so), in any family; case-insensitive as a fallback."""
    exact = [
        describe(table[name]) for family in FAMILIES if (table := _REGISTRY[family]) and name in table
    ]
    if exact:
        return exact
    folded = [
        describe(cls)
        for family in FAMILIES
        for key, cls in _REGISTRY[family].items()
        if key.lower() == name.lower()
    ]
    unique = {(d.family, d.name): d for d in folded}
    if unique:
        return list(unique.values())
    from netspec.diagnostics import did_you_mean

    every = sorted({key for family in FAMILIES for key in _REGISTRY[family]})
    raise UnknownName(name, did_you_mean(name, every))


# --------------------------------------------------------------------------- terminal text


def _plain(text: str) -> str:
    return text.replace("`", "")


def _call(doc: EntryDoc) -> str:
    return f"{doc.name}({', '.join(doc.positional)})" if doc.positional else doc.name


def _type_and_range(p: ParamDoc) -> str:
    """`int > 0`, `float, in [0, 1)`, `int > 0 | none`: the range next to what it bounds."""
    if not p.range:
        return p.type
    kind, optional = p.type, p.type.endswith(" | none")
    if optional:
        kind = kind.removesuffix(" | none")
    text = f"{kind} {p.range}" if p.range[0] in "<>≤≥" else f"{kind}, {p.range}"
    return f"{text} | none" if optional else text


def text_entry(doc: EntryDoc, *, detail: bool = False, indent: str = "") -> list[str]:
    """An entry for a terminal: a head line, one line per parameter, its shape rule (layers)."""
    head = _call(doc)
    if doc.summary:
        head += f" — {doc.summary}"
    if doc.aliases:
        head += f" (alias{'es' if len(doc.aliases) > 1 else ''} {', '.join(doc.aliases)})"
    lines = [indent + _plain(head)]
    sub = indent + "    "
    if detail and doc.description and doc.description != doc.summary:
        lines += _wrap(_plain(doc.description), sub)
    width = max((len(p.name) for p in doc.params), default=0)
    kinds = max((len(_type_and_range(p)) for p in doc.params), default=0)
    defaults = max((len(p.default or "required") for p in doc.params), default=0)
    for p in doc.params:
        line = f"{sub}{p.name:<{width}}  {_type_and_range(p):<{kinds}}  {p.default or 'required':<{defaults}}"
        if detail and p.description:
            line += f"  {_plain(p.description)}"
        lines.append(line.rstrip())
    for label, value in doc.facts:
        if label == "weights" and not detail:
            continue
        lines.append(f"{sub}{label}: {_plain(value)}")
    if detail and doc.notes:
        lines += _wrap(_plain(doc.notes), sub)
    return lines


def _wrap(text: str, indent: str, width: int = 96) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent) or [indent]


def text_catalogue(families: Iterable[str] = FAMILIES) -> str:
    """`netspec layers`: every entry of the families, under a heading per family."""
    lines: list[str] = []
    for family in families:
        if lines:
            lines.append("")
        lines.append(FAMILIES[family][0])
        for cls in in_order(family):
            lines += text_entry(describe(cls), indent="  ")
    lines += ["", "netspec layers NAME shows one entry with each parameter's description."]
    return "\n".join(lines) + "\n"


def text_found(docs: list[EntryDoc]) -> str:
    """`netspec layers NAME`: the entries of that name, each with its family."""
    blocks = []
    for doc in docs:
        lines = text_entry(doc, detail=True)
        lines[0] = f"{lines[0]}  [{FAMILIES[doc.family][1]}]"
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def json_docs(docs: Iterable[EntryDoc]) -> str:
    return json.dumps([asdict(d) for d in docs], indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- Markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    """`text` as code, unless it marks its own code (a formula with a name in backticks)."""
    return text if "`" in text else f"`{text}`"


def _param_cell(p: ParamDoc) -> str:
    """A parameter in one table cell: "`delta` = `1.0` (float > 0): where …"."""
    kind = _type_and_range(p)
    if p.default is None:
        text = f"{_code(p.name)} ({kind}, required)"
    else:
        text = f"{_code(p.name)} = {_code(p.default)} ({kind})"
    return f"{text}: {p.description}" if p.description else text


def _names_line(doc: EntryDoc) -> str:
    parts = []
    if doc.aliases:
        words = ", ".join(_code(a) for a in doc.aliases)
        parts.append(f"Alias{'es' if len(doc.aliases) > 1 else ''} {words}.")
    if doc.positional:
        parts.append("Positional: " + ", ".join(_code(a) for a in doc.positional) + ".")
    return " ".join(parts)


def _param_table(doc: EntryDoc) -> list[str]:
    if not doc.params:
        return []
    rows = [
        "| parameter | type | default | description |",
        "|---|---|---|---|",
    ]
    for p in doc.params:
        default = _code(p.default) if p.default is not None else "required"
        rows.append(
            f"| {_code(p.name)} | {_cell(_type_and_range(p))} | {_cell(default)} | {_cell(p.description)} |"
        )
    return [*rows, ""]


def _section(doc: EntryDoc) -> list[str]:
    """One layer or optimizer: heading, description, parameters, shape and weights."""
    lines = [f"### {doc.name}", ""]
    lines += [" ".join(t for t in (doc.description, _names_line(doc)) if t), ""]
    lines += _param_table(doc)
    facts = dict(doc.facts)
    closing = [f"Shape: {facts['shape']}."] if "shape" in facts else []
    closing += [doc.notes] if doc.notes else []
    closing += [f"Weights: {facts['weights']}."] if "weights" in facts else []
    return [*lines, " ".join(closing), ""] if closing else lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _aliases(doc: EntryDoc) -> str:
    return ", ".join(_code(a) for a in doc.aliases) or "—"


def _params(doc: EntryDoc) -> str:
    return "; ".join(_param_cell(p) for p in doc.params) or "—"


def _fact(doc: EntryDoc, label: str) -> str:
    return dict(doc.facts).get(label, "")


def _docs(family: str, module: str | None = None) -> list[EntryDoc]:
    return [describe(cls) for cls in in_order(family, module)]


def _md_layers(module: str | None) -> list[str]:
    lines: list[str] = []
    for doc in _docs("layer", module):
        lines += _section(doc)
    return lines


def _md_losses(_: str | None) -> list[str]:
    rows = [
        [_code(d.name), _aliases(d), _params(d), _fact(d, "targets"), _code(_fact(d, "formula"))]
        for d in _docs("loss")
    ]
    return _table(["loss", "aliases", "parameters", "targets", "formula"], rows)


def _md_optimizers(_: str | None) -> list[str]:
    lines: list[str] = []
    for doc in _docs("optimizer"):
        lines += _section(doc)
    return lines


def _md_formulas(family: str) -> Callable[[str | None], list[str]]:
    def render(_: str | None) -> list[str]:
        rows = [[_code(d.name), _aliases(d), _code(_fact(d, "formula"))] for d in _docs(family)]
        return _table(["name", "aliases", "formula"], rows)

    return render


def _md_metrics(_: str | None) -> list[str]:
    rows = [[_code(d.name), _aliases(d), _fact(d, "targets"), d.description] for d in _docs("metric")]
    return _table(["name", "aliases", "fits targets", "meaning"], rows)


def _md_schedules(_: str | None) -> list[str]:
    rows = [[_code(d.name), _params(d), _code(_fact(d, "formula"))] for d in _docs("schedule")]
    return _table(["name", "parameters (default)", "learning rate"], rows)


def _md_data(_: str | None) -> list[str]:
    rows = [
        [
            _code(d.name),
            ", ".join(_code(p) for p in d.positional) or "—",
            _params(d),
            " ".join(t for t in (d.description, d.notes) if t),
        ]
        for d in _docs("data")
    ]
    return _table(["source", "positional", "parameters", "what"], rows)


REGIONS: dict[str, Callable[[str | None], list[str]]] = {
    "layers": _md_layers,
    "losses": _md_losses,
    "optimizers": _md_optimizers,
    "activations": _md_formulas("activation"),
    "initializers": _md_formulas("initializer"),
    "metrics": _md_metrics,
    "schedules": _md_schedules,
    "data": _md_data,
}

_REGION = re.compile(
    r"(<!-- generated: (?P<name>[a-z]+)(?: (?P<module>[a-z_]+))? -->\n)(?P<body>.*?)(<!-- end generated -->)",
    re.DOTALL,
)


def render_region(name: str, module: str | None = None) -> str:
    if name not in REGIONS:
        raise ValueError(f"unknown generated region '{name}'; known: {', '.join(REGIONS)}")
    if module is not None and not in_order("layer", module):
        raise ValueError(f"no layers are defined in netspec/catalogue/{module}.py")
    return "\n" + "\n".join(REGIONS[name](module)).strip("\n") + "\n\n"


def regenerate(text: str) -> str:
    """The Markdown with every generated region rendered afresh from the catalogue."""
    return _REGION.sub(
        lambda m: m.group(1) + render_region(m.group("name"), m.group("module")) + m.group(5),
        text,
    )


def regions(text: str) -> list[tuple[str, str | None]]:
    return [(m.group("name"), m.group("module")) for m in _REGION.finditer(text)]


def undocumented(text: str) -> list[str]:
    """Layers no generated region of `text` shows (each layer module needs a region)."""
    marked = regions(text)
    if ("layers", None) in marked:
        return []
    modules = {module for name, module in marked if name == "layers"}
    return [cls.kind for cls in in_order("layer") if _module(cls) not in modules]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m netspec.reference",
        description="Render the generated regions of a Markdown file from the catalogue.",
    )
    parser.add_argument("file", type=Path, help="a Markdown file, e.g. docs/language.md")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the file's regions")
    action.add_argument("--check", action="store_true", help="exit 1 if a region is stale")
    args = parser.parse_args(argv)
    text = args.file.read_text(encoding="utf-8")
    fresh = regenerate(text)
    missing = undocumented(fresh)
    if missing:
        print(f"{args.file}: no generated region shows layers {missing}", file=sys.stderr)
        return 1
    if args.check:
        if fresh != text:
            print(
                f"{args.file}: generated regions differ from the catalogue; run "
                f"python -m netspec.reference --write {args.file}",
                file=sys.stderr,
            )
            return 1
        return 0
    if fresh != text:
        args.file.write_text(fresh, encoding="utf-8")
        print(f"rewrote {len(regions(fresh))} regions of {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
