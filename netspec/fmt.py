"""`netspec fmt`: one canonical layout for a .net file, comments kept where they were.

The formatter reads Lark's parse tree (tokens with positions), never the checked IR: it
belongs to the parse stage. It works in two passes. The first turns the tree into output
lines ("units": a layer, a setting, a section, a `{` header or a `}`), each remembering the
source lines it came from. The second puts every comment back by its source line: a comment
at the end of a line stays at the end of the last unit written from that line; a comment on
a line of its own goes before the next unit, at that unit's indentation (inside the body
when the next unit is a closing `}`). The lexer drops comments, so they are found by
scanning the source for `#` outside strings.

The layout: two spaces per level, one layer or setting per line, `key = value` settings
aligned within their section, arguments as `Dense(64, activation=relu)`, spaces around
binary operators, `name = default` block parameters, one-line sections (`loss`,
`optimizer`, `metrics`, `output`) in a run with their values in one column, comments at line
ends in a run in one column, no trailing commas, one blank line between top-level definitions, and
single blank lines kept where the author left them. Parentheses are written exactly where
the operators' precedence needs them, so a formatted file parses to the same syntax tree.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lark import Token, Tree

from netspec.diagnostics import Diagnostics
from netspec.parse import parse, parse_library, parse_tree, syntax_of

INDENT = "  "
MAX_WIDTH = 100
"""A layer statement longer than this is written with one argument a line."""

# A string (which may hold '#') or a comment, as the grammar's STRING and COMMENT terminals.
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')

# Binding strength of each operator, loosest first; atoms bind tightest.
_BINARY_PRECEDENCE = {
    "OR": 1, "AND": 2, "COMPARE": 4, "PLUS": 5, "MINUS": 5, "STAR": 6, "SLASH": 6,
    "DOUBLESLASH": 6,
}
_NOT_PRECEDENCE = 3
_SIGN_PRECEDENCE = 7
_ATOM_PRECEDENCE = 8

# Sections whose body is `key = value` settings, one a line, aligned.
_SETTINGS_SECTIONS = {
    "loss_by_output": "loss", "loss_weights": "loss_weights",
    "metrics_by_output": "metrics", "train": "train",
}


@dataclass
class _Comment:
    line: int
    text: str
    own_line: bool
    """Nothing but whitespace before it on its line."""


@dataclass
class _Unit:
    """One output line and the source lines it was written from."""

    indent: int
    text: str
    start: int
    end: int
    kind: str = "line"
    """'open' (ends with '{'), 'close' ('}'), 'middle' ('} else {') or 'line'."""
    blank_before: bool = False
    """A blank line before it (and its leading comments) whatever the source had."""
    leading: list[_Comment] = field(default_factory=list)
    trailing: _Comment | None = None
    keyword: str | None = None
    """A one-line section's keyword: consecutive ones line up their values."""


def _comments(source: str) -> list[_Comment]:
    line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
    found = []
    for match in _STRING_OR_COMMENT.finditer(source):
        text = match.group()
        if not text.startswith("#"):
            continue
        line = bisect.bisect_right(line_starts, match.start())
        before = source[line_starts[line - 1] : match.start()]
        found.append(_Comment(line=line, text=text.rstrip(), own_line=not before.strip()))
    return found


# ----------------------------------------------------------------------------------- values
def _precedence(node: Tree | Token) -> int:
    if isinstance(node, Tree) and node.data == "binary":
        return _BINARY_PRECEDENCE[node.children[1].type]
    if isinstance(node, Tree) and node.data == "unary":
        return _NOT_PRECEDENCE if node.children[0].type == "NOT" else _SIGN_PRECEDENCE
    return _ATOM_PRECEDENCE


def _operand(node: Tree, least: int) -> str:
    """`node` as an operand that must bind at least as tightly as `least`."""
    text = value(node)
    return text if _precedence(node) >= least else f"({text})"


def value(node: Tree | Token) -> str:
    """A value (number, string, name, list, call or expression) in canonical spelling."""
    if isinstance(node, Token):
        return str(node)
    kind, children = node.data, node.children
    if kind in ("number", "string", "true", "false", "none", "symbol"):
        return str(children[0])
    if kind == "list":
        items = [c for c in children if isinstance(c, Tree)]
        return "[" + ", ".join(value(c) for c in items) + "]"
    if kind == "call":
        return _call(node)
    if kind == "binary":
        left, op, right = children
        strength = _BINARY_PRECEDENCE[op.type]
        # Left-associative, and a comparison takes no comparison as an operand.
        left_least = strength + 1 if op.type == "COMPARE" else strength
        return f"{_operand(left, left_least)} {op} {_operand(right, strength + 1)}"
    if kind == "unary":
        op, operand = children
        if op.type == "NOT":
            return f"not {_operand(operand, _NOT_PRECEDENCE)}"
        text = _operand(operand, _SIGN_PRECEDENCE)
        # `-1` would lex as one negative number, `--x` stays two signs: keep the sign apart
        # from a number so the tree stays the same.
        gap = " " if text[:1].isdigit() or text[:1] in "+-." else ""
        return f"{op}{gap}{text}"
    raise ValueError(f"no spelling for syntax node {kind!r}")  # pragma: no cover


def _arg(node: Tree) -> str:
    if node.data == "kwarg":
        keyword, argument = node.children
        return f"{keyword}={value(argument)}"
    return value(node.children[0])


def _call(node: Tree) -> str:
    """`Name`, `Name()` or `Name(args)`: a bare name stays bare, `()` stays."""
    name, *args = node.children
    if not args:
        return str(name)
    return f"{name}(" + ", ".join(_arg(a) for a in args if a is not None) + ")"


# ------------------------------------------------------------------------------- statements
class _Layout:
    """Pass one: the syntax tree as units."""

    def __init__(self, comment_lines: list[int]) -> None:
        self.units: list[_Unit] = []
        self.comment_lines = comment_lines  # of comments on lines of their own, sorted

    def empty(self, start: int, end: int, body: list[Tree]) -> bool:
        """Whether a `{ }` holds neither statements nor a comment line: it is written `{}`."""
        if any(statement is not None for statement in body):
            return False
        return bisect.bisect_right(self.comment_lines, end) == bisect.bisect_left(
            self.comment_lines, start
        )

    def add(self, indent: int, text: str, start: int, end: int, kind: str = "line") -> _Unit:
        unit = _Unit(indent=indent, text=text, start=start, end=end, kind=kind)
        self.units.append(unit)
        return unit

    def braced(self, indent: int, header: str, line: int, tree: Tree, body: list[Tree]) -> _Unit:
        if self.empty(line, tree.meta.end_line, body):
            return self.add(indent, header + " {}", line, tree.meta.end_line)
        opened = self.add(indent, header + " {", line, line, "open")
        self.statements(body, indent + 1)
        self.add(indent, "}", tree.meta.end_line, tree.meta.end_line, "close")
        return opened

    def statements(self, body: list[Tree], indent: int) -> None:
        for statement in body:
            if statement is None:
                continue
            self.statement(statement, indent)

    def statement(self, node: Tree, indent: int) -> None:
        kind, children = node.data, node.children
        if kind == "repeat":
            keyword, count, *body = children
            self.braced(indent, f"repeat {value(count)}", keyword.line, node, body)
        elif kind == "if_statement":
            self.if_chain(node, indent, None)
        else:
            text = _layer(node)
            if len(INDENT * indent + text) > MAX_WIDTH:
                text = _layer(node, wrapped=True)
            self.add(indent, text, node.meta.line, node.meta.end_line)

    def if_chain(self, node: Tree, indent: int, after_close: int | None) -> None:
        """`if c { } else if d { } else { }`; an `else` shares its line with the `}` before it."""
        keyword, condition, then, *rest = node.children
        header = f"if {value(condition)} {{"
        if after_close is None:
            self.add(indent, header, keyword.line, keyword.line, "open")
        else:
            self.add(indent, "} else " + header, after_close, keyword.line, "middle")
        self.statements(then.children, indent + 1)
        if not rest:
            self.add(indent, "}", then.meta.end_line, then.meta.end_line, "close")
            return
        else_keyword, otherwise = rest
        if otherwise.data == "if_statement":
            self.if_chain(otherwise, indent, then.meta.end_line)
            return
        self.add(indent, "} else {", then.meta.end_line, else_keyword.line, "middle")
        self.statements(otherwise.children, indent + 1)
        self.add(indent, "}", otherwise.meta.end_line, otherwise.meta.end_line, "close")

    def settings(self, indent: int, header: str, node: Tree) -> None:
        keyword = node.children[0]
        settings = [c for c in node.children[1:] if isinstance(c, Tree)]
        if self.empty(keyword.line, node.meta.end_line, settings):
            self.add(indent, header + " {}", keyword.line, node.meta.end_line)
            return
        self.add(indent, header + " {", keyword.line, keyword.line, "open")
        width = max((len(str(s.children[0])) for s in settings), default=0)
        for setting in settings:
            key, setting_value = setting.children
            text = f"{str(key).ljust(width)} = {value(setting_value)}"
            self.add(indent + 1, text, setting.meta.line, setting.meta.end_line)
        self.add(indent, "}", node.meta.end_line, node.meta.end_line, "close")

    def section(self, node: Tree, indent: int) -> None:
        kind, children = node.data, node.children
        keyword, line = children[0], children[0].line
        if kind in _SETTINGS_SECTIONS:
            self.settings(indent, _SETTINGS_SECTIONS[kind], node)
        elif kind == "layers":
            self.braced(indent, "layers", line, node, children[1:])
        elif kind == "input":
            _keyword, name, shape = children
            named = "" if name is None else f" {name}"
            self.add(indent, f"input{named} {value(shape)}", line, node.meta.end_line)
        else:  # output, loss, optimizer, metrics: the keyword and one value
            unit = self.add(indent, value(children[1]), line, node.meta.end_line)
            unit.keyword = str(keyword)

    def definition(self, node: Tree, first: bool, previous: str | None) -> None:
        kind, children = node.data, node.children
        count = len(self.units)
        if kind == "use":
            self.add(0, f"use {children[1]}", node.meta.line, node.meta.end_line)
        elif kind == "block":
            keyword, name, *rest = children
            header = f"block {name}"
            parts = {
                c.data: c
                for c in rest
                if isinstance(c, Tree) and c.data in ("block_params", "block_inputs")
            }
            if "block_params" in parts:
                params = [p for p in parts["block_params"].children if p is not None]
                header += "(" + ", ".join(_param(p) for p in params) + ")"
            if "block_inputs" in parts:
                inputs = [s for s in parts["block_inputs"].children if s is not None]
                header += "(" + ", ".join(value(s) for s in inputs) + ")"
            body = [c for c in rest if isinstance(c, Tree) and c.data not in parts]
            self.braced(0, header, keyword.line, node, body)
        else:  # model
            keyword, name, *sections = children
            if self.empty(keyword.line, node.meta.end_line, sections):
                self.add(0, f"model {name} {{}}", keyword.line, node.meta.end_line)
            else:
                self.add(0, f"model {name} {{", keyword.line, keyword.line, "open")
                for section in sections:
                    self.section(section, 1)
                self.add(0, "}", node.meta.end_line, node.meta.end_line, "close")
        if not first and (kind != "use" or previous != "use"):
            self.units[count].blank_before = True


def _param(node: Tree) -> str:
    name, *default = node.children
    # Spaced, as the docs write block parameters: `block conv(filters, stride = 1)`.
    return f"{name} = {value(default[0])}" if default and default[0] is not None else str(name)


def _layer(node: Tree, wrapped: bool = False) -> str:
    """A layer statement on one line, or `wrapped`: its call's arguments one a line."""
    kind, children = node.data, node.children
    name = f"{children[0]} = " if kind in ("named_layer", "named_applied_layer") else ""
    call = children[1] if name else children[0]
    inputs = _tensors(children[-1]) if kind in ("applied_layer", "named_applied_layer") else ""
    callee, *args = call.children
    arguments = [a for a in args if a is not None]
    if not (wrapped and arguments):
        return f"{name}{_call(call)}{inputs}"
    lines = "".join(f"\n{INDENT}{_arg(a)}," for a in arguments)
    return f"{name}{callee}({lines.rstrip(',')}\n){inputs}"


def _tensors(node: Tree) -> str:
    return "(" + ", ".join(value(c) for c in node.children if isinstance(c, Tree)) + ")"


# ------------------------------------------------------------------------------- comments
def _place_comments(units: list[_Unit], comments: list[_Comment]) -> list[_Comment]:
    """Hang each comment on a unit; returns those after the last unit (the file's end)."""
    ends = [u.end for u in units]  # never decreasing: units come in source order
    starts = [u.start for u in units]
    tail: list[_Comment] = []
    for comment in comments:
        owner = None
        if not comment.own_line:
            # The last unit written from this line keeps the comment at its end, if the
            # line is the unit's last.
            last = bisect.bisect_right(starts, comment.line) - 1
            if last >= 0 and units[last].end >= comment.line:
                owner = units[last]
        if owner is not None and comment.line == owner.end:
            owner.trailing = comment
            continue
        # Before the first unit reaching its line: a comment inside a statement written over
        # several lines (other than on its last line) goes before the statement, in order.
        index = bisect.bisect_left(ends, comment.line)
        if index == len(units):
            tail.append(comment)
        else:
            units[index].leading.append(comment)
    return tail


def _blank_between(lines: list[str], previous_end: int | None, start: int) -> bool:
    """Whether the source leaves an empty line between line `previous_end` and `start`."""
    if previous_end is None:
        return False
    return any(not lines[n - 1].strip() for n in range(previous_end + 1, min(start, len(lines) + 1)))


@dataclass
class _Line:
    indent: int
    code: str
    comment: str | None = None
    keyword: str | None = None


def _render(units: list[_Unit], tail: list[_Comment], source: str) -> str:
    lines = source.split("\n")
    out: list[_Line | None] = []  # None: a blank line
    previous_end: int | None = None
    previous_kind = "open"  # nothing before the first line: no blank line

    def write(line: _Line, start: int, end: int, kind: str, forced: bool) -> None:
        nonlocal previous_end, previous_kind
        blank = forced or _blank_between(lines, previous_end, start)
        after_open = previous_kind in ("open", "middle")
        if out and blank and not after_open and kind not in ("close", "middle"):
            out.append(None)
        out.append(line)
        previous_end, previous_kind = max(end, previous_end or 0), kind

    for unit in units:
        forced = unit.blank_before
        # A comment before a `}` belongs to the body it closes.
        comment_indent = unit.indent + 1 if unit.kind in ("close", "middle") else unit.indent
        for comment in unit.leading:
            write(_Line(comment_indent, comment.text), comment.line, comment.line, "comment", forced)
            forced = False
        trailing = None if unit.trailing is None else unit.trailing.text
        line = _Line(unit.indent, unit.text, trailing, unit.keyword)
        write(line, unit.start, unit.end, unit.kind, forced)
    for comment in tail:
        write(_Line(0, comment.text), comment.line, comment.line, "comment", False)
    _align_keywords(out)
    texts = [
        "\n".join(INDENT * line.indent + part for part in line.code.split("\n")) if line else ""
        for line in out
    ]
    _align_comments(out, texts)
    return "\n".join(texts) + "\n"


def _runs(out: list[_Line | None], member: Callable[[_Line], bool]) -> Iterator[list[int]]:
    """The indices of each run of consecutive lines that are all `member`s."""
    run: list[int] = []
    for index, line in enumerate([*out, None]):
        if line is not None and member(line):
            run.append(index)
            continue
        if run:
            yield run
        run = []


def _align_keywords(out: list[_Line | None]) -> None:
    """`loss      mse` / `optimizer Adam()` / `metrics   [accuracy]`: values in one column."""
    for run in _runs(out, lambda line: line.keyword is not None):
        width = max(len(out[i].keyword or "") for i in run)  # type: ignore[union-attr]
        for i in run:
            line = out[i]
            assert line is not None and line.keyword is not None
            line.code = f"{line.keyword.ljust(width)} {line.code}"


def _align_comments(out: list[_Line | None], texts: list[str]) -> None:
    """Comments at the ends of consecutive lines at one depth start in one column, two spaces
    after the longest line's code."""
    for run in _runs(out, lambda line: line.comment is not None and bool(line.code)):
        # Lines at one depth only: a `{` header's comment does not line up with its body's.
        for _, group in itertools.groupby(run, key=lambda i: out[i].indent):  # type: ignore[union-attr]
            same_depth = list(group)
            # A wrapped statement's comment goes after its last line, `)`.
            width = max(len(texts[i].rpartition("\n")[2]) for i in same_depth)
            for i in same_depth:
                padding = " " * (width - len(texts[i].rpartition("\n")[2]))
                texts[i] = f"{texts[i]}{padding}  {out[i].comment}"  # type: ignore[union-attr]


def format_tree(tree: Tree, source: str) -> str:
    """The canonical text of `source`, whose parse tree (from rule start or library) is `tree`."""
    comments = _comments(source)
    layout = _Layout([c.line for c in comments if c.own_line])
    previous = None
    for node in tree.children:
        if node is None:
            continue
        layout.definition(node, not layout.units, previous)
        previous = node.data
    tail = _place_comments(layout.units, comments)
    return _render(layout.units, tail, source)


class FormatError(Exception):
    """The formatted text would not parse to the same syntax tree: a bug in the formatter,
    so the file is left as it is."""


def format_source(source: str, file: str, diagnostics: Diagnostics) -> str | None:
    """`source` in the canonical layout; None (after a diagnostic) when it does not parse.

    The result is parsed again and compared with the original's syntax tree, spans aside:
    a formatter bug raises `FormatError` instead of changing what a spec means.
    """
    parsed = parse_tree(source, file, diagnostics)
    if parsed is None:
        return None
    tree, library = parsed
    # A number or string no value can stand for (E0180, E0182) stops the parse too.
    node = syntax_of(tree, file, diagnostics)
    if node is None:
        return None
    original = without_spans(node.model_dump())
    formatted = format_tree(tree, source)
    if _syntax(formatted, file, library) != original:
        raise FormatError(f"formatting {file} would change its syntax tree")
    return formatted


def _syntax(source: str, file: str, library: bool) -> object:
    """The syntax tree of `source` without positions; None where it does not parse."""
    node = (parse_library if library else parse)(source, file, Diagnostics())
    if node is None:
        return None
    return without_spans(node.model_dump())


def without_spans(data: object) -> object:
    """A dumped syntax tree or IR without its source positions (they move when formatted)."""
    if isinstance(data, dict):
        return {k: without_spans(v) for k, v in data.items() if not k.endswith("span")}
    if isinstance(data, list):
        return [without_spans(v) for v in data]
    return data


__all__ = ["FormatError", "format_source", "format_tree", "value", "without_spans"]
