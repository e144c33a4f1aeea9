"""What a syntax error most likely is, read from the text around it.

Lark says which token it did not expect; these helpers look at the spec's text to say what
the writer meant: a habit from Python or another tool (`(3, 3)`, `Dense(64) * 3`,
`loss = mse`, `loss "mse"`, `'relu'`) gets the netspec form, and a `{` left open is found by
the layout, at the line whose indentation ends its block, rather than where the parser
finally gave up, often many lines later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

SECTIONS = frozenset(
    {"input", "layers", "output", "loss", "loss_weights", "optimizer", "metrics", "train"}
)
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_NUMBER = re.compile(r"\s*(\d+)\b")
_CALL = re.compile(r"(?:[A-Za-z_]\w*\s*=\s*)?[A-Za-z_]\w*(?:\([^()]*\))?")


def _code(source: str) -> Iterator[tuple[int, str]]:
    """(index, character) of the source outside comments and strings."""
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "#":
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == '"':
            i += 1
            while i < n and source[i] not in '"\n':
                i += 2 if source[i] == "\\" else 1
            i += 1
            continue
        yield i, c
        i += 1


def _open_at(source: str, pos: int) -> list[int]:
    """Indices of the brackets still open at `pos`, outermost first."""
    stack: list[int] = []
    for i, c in _code(source[:pos]):
        if c in _OPEN:
            stack.append(i)
        elif c in _CLOSE and stack and source[stack[-1]] == _CLOSE[c]:
            stack.pop()
    return stack


def _matching(source: str, start: int) -> int | None:
    """Index of the bracket that closes the one at `start`."""
    depth = 0
    for i, c in _code(source[start:]):
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return start + i
    return None


def _line_bounds(source: str, pos: int) -> tuple[str, str]:
    """The text of pos's line before pos, and from pos to the line's end."""
    start = source.rfind("\n", 0, pos) + 1
    end = source.find("\n", pos)
    return source[start:pos], source[pos : len(source) if end < 0 else end]


def _with_repeat(statement: str, count: str) -> str | None:
    """`Dense(64)` and 3 → `Dense(64, repeat=3)`; None for a statement too odd to rewrite."""
    if not _CALL.fullmatch(statement):
        return None
    if not statement.endswith(")"):
        return f"{statement}(repeat={count})"
    inside = statement[statement.index("(") + 1 : -1].strip()
    return statement[: statement.index("(") + 1] + (f"{inside}, " if inside else "") + f"repeat={count})"


def habit_hint(source: str, pos: int, found: str, expected: set[str]) -> str | None:
    """The netspec form of what Python or another tool would write at `pos`, if it is one.

    `found` is the kind of token there (a Lark terminal name, or `CHAR` for a character no
    token starts with); `expected` the terminals the parser would have taken.
    """
    before, rest = _line_bounds(source, pos)
    if found == "CHAR" and rest.startswith("'"):
        close = rest.find("'", 1)
        text = rest[1:close] if close > 0 else "..."
        return f'strings take double quotes: "{text}"'
    if found == "COMMA":
        stack = _open_at(source, pos)
        if stack and source[stack[-1]] == "(":
            opened = stack[-1]
            previous = source[:opened].rstrip()[-1:]
            if not (previous.isalnum() or previous in "_)"):  # `(3, 3)`, not a call's `(`
                end = _matching(source, opened)
                items = source[opened + 1 : end].strip() if end is not None else "..."
                return f"a list is written in square brackets: [{items}]"
    if found == "STAR" or (found == "SIGNED_NUMBER" and re.match(r"\d+\s*\*", rest)):
        if found == "STAR":
            statement, number = before.strip(), _NUMBER.match(rest[1:])
        else:
            number, statement = _NUMBER.match(rest), rest[rest.index("*") + 1 :].strip()
        count = number.group(1) if number else "N"
        rewritten = _with_repeat(statement, count)
        if rewritten:
            return f"to repeat a layer, write {rewritten}"
        return f"to repeat a layer, give it repeat={count}, e.g. Dense(64, repeat={count})"
    if found == "STRING" and "NAME" in expected and "STRING" not in expected:
        keyword = before.strip()
        name = rest[1 : rest.find('"', 1)] if rest.find('"', 1) > 0 else rest[1:]
        shown = f"{keyword} {name}" if keyword in SECTIONS else name
        return f"a name takes no quotes: write {shown}"
    if found == "EQUAL" and before.strip() in SECTIONS:
        return f"a section takes no '=': write {before.strip()} {rest[1:].strip()}"
    setting = re.search(r"([A-Za-z_]\w*)\s+$", before)
    if expected == {"EQUAL"} and setting:  # `epochs 10` in a train block
        value = re.match(r"[^\s,}]+", rest)
        return f"a setting is written with '=': {setting.group(1)} = {value.group(0) if value else '...'}"
    return None


@dataclass(frozen=True)
class Unclosed:
    """A `{` the layout says is not closed: where it opens, what opens it, and the line
    whose indentation ends its block (0: none, the file ends inside it)."""

    open_line: int
    open_column: int
    opener: str  # the text before the `{` on its line, e.g. "layers" or "model mnist"
    ends_line: int
    ends_column: int
    last_line: int  # the block's last line that holds something


@dataclass
class _Frame:
    line: int
    column: int
    indent: int  # of the line the `{` is on
    deeper: bool = False  # a line inside is indented deeper than that
    last: int = 0  # the last line inside that holds something


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def unclosed_block(source: str, before_line: int) -> Unclosed | None:
    """The first `{` whose block the layout ends without a `}` (at a later line indented no
    deeper than the `{`'s line, that is not a `}`) on or before `before_line`; else the
    innermost `{` still open at the end of the file; else None.

    A block counts only if a line inside it is indented deeper than its `{`'s line, so a
    file written without indentation is never read as a layout. Strings and comments hold
    no braces, and neither spans lines, so each line is read on its own.
    """
    lines = source.split("\n")
    stack: list[_Frame] = []
    for number, line in enumerate(lines, start=1):
        code = list(_code(line))
        text = "".join(c for _, c in code).strip()
        if not text:
            continue
        indent = _indent(line)
        if stack and indent <= stack[-1].indent and not text.startswith("}"):
            top = stack[-1]
            if top.deeper and number <= before_line:
                return Unclosed(
                    top.line, top.column, lines[top.line - 1][: top.column - 1].strip(),
                    number, len(line) - len(line.lstrip()) + 1, top.last,
                )
        elif stack and indent > stack[-1].indent:
            stack[-1].deeper, stack[-1].last = True, number
        for column, c in code:
            if c == "{":
                stack.append(_Frame(number, column + 1, indent, last=number))
            elif c == "}" and stack:
                stack.pop()
                if stack:
                    stack[-1].last = number
    if stack:
        top = stack[-1]
        opener = lines[top.line - 1][: top.column - 1].strip()
        return Unclosed(top.line, top.column, opener, 0, 0, top.last)
    return None
