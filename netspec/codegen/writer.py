"""Writes Python source: indentation, literals and identifiers, and nothing from a spec raw.

Generated code is code execution, so this module is the one place that turns values into
source text. Literals are written with `repr` and only for plain data types; identifiers are
checked against Python's grammar; anything else is refused. A spec can therefore put no text
into a generated file except as a quoted string or a validated name.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from netspec.diagnostics import Span
from netspec.pycode import Code, PyCall

MAX_WIDTH = 99
LINE_LENGTH = 100
"""The width `ruff format` keeps lines to (pyproject.toml): generated modules pass
`ruff format --check`, so the writer breaks lines where it would."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


class UnsafeValue(ValueError):
    """A value that cannot be written as a Python literal."""


def identifier(name: str) -> str:
    """A name to use as a Python identifier; refuses anything else."""
    if not _IDENTIFIER.match(name) or keyword.iskeyword(name):
        raise UnsafeValue(f"not a valid Python identifier: {name!r}")
    return name


def string(text: str) -> str:
    """A string literal in double quotes, built from `repr` so every escape is Python's own.

    >>> print(string("it's"))
    "it's"
    """
    quoted = repr(text)
    if quoted.startswith('"'):
        return quoted
    inner = quoted[1:-1].replace("\\'", "'").replace('"', '\\"')
    return f'"{inner}"'


def literal(value: Any) -> str:
    """Python source for a plain value: None, bool, int, finite float, str, tuple, list, dict."""
    if isinstance(value, str):
        return string(value)
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeValue(f"not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, tuple):
        if len(value) == 1:
            return f"({literal(value[0])},)"
        return "(" + ", ".join(literal(v) for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise UnsafeValue(f"dict keys must be strings or integers: {key!r}")
            items.append(f"{literal(key)}: {literal(item)}")
        return "{" + ", ".join(items) + "}"
    if isinstance(value, Code):
        return value.text
    if isinstance(value, PyCall):
        return call(value)
    raise UnsafeValue(f"cannot write {type(value).__name__} as a literal")


def _arguments(c: PyCall) -> list[str]:
    args = [literal(a) for a in c.args]
    args += [f"{identifier(k)}={literal(v)}" for k, v in c.kwargs.items()]
    return args


def _argument_items(c: PyCall) -> list[tuple[str, Any]]:
    """(`key=` or nothing, value) of each argument, as `_arguments` writes them."""
    return [("", a) for a in c.args] + [(f"{identifier(k)}=", v) for k, v in c.kwargs.items()]


def call(c: PyCall) -> str:
    """`func(arg, key=value)` on one line."""
    if not _DOTTED.match(c.func):
        raise UnsafeValue(f"not a dotted name: {c.func!r}")
    return f"{c.func}({', '.join(_arguments(c))})"


Origin = tuple[Span, str]
"""Where a generated line comes from: the spec's span and what it states there (`layer conv1`)."""


class GeneratedModule(str):
    """A generated module's text that also knows which spec line produced each of its lines
    (Jinja's line mapping). It is the text itself, so every caller that writes, compares or
    runs the module is unchanged; the mapping never enters the text, so goldens stay as they are.
    """

    origins: tuple[Origin | None, ...]

    def __new__(cls, text: str, origins: Iterable[Origin | None] = ()) -> GeneratedModule:
        module = super().__new__(cls, text)
        module.origins = tuple(origins)
        return module

    def origin(self, line: int) -> Origin | None:
        """The spec's span (and what) that produced line `line` (counted from 1), if any."""
        if 1 <= line <= len(self.origins):
            return self.origins[line - 1]
        return None


class Writer:
    """Accumulates lines of source at the current indentation, each with its origin: the
    spec node whose code it is (set with `origin`), or None for netspec's own lines."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._origins: list[Origin | None] = []
        self._origin: Origin | None = None
        self._depth = 0

    def origin(self, span: Span | None, what: str = "") -> None:
        """The lines written from now on are the code of `span` (None: of no spec node), as
        Jinja's `newline(node)` marks the template line a generated line comes from."""
        self._origin = None if span is None else (span, what)

    def line(self, text: str = "") -> None:
        self._lines.append(("    " * self._depth + text) if text else "")
        self._origins.extend([self._origin] * (text.count("\n") + 1))

    def lines(self, text: str) -> None:
        for line in text.splitlines():
            self.line(line)

    @contextmanager
    def indent(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def call(self, prefix: str, c: PyCall, suffix: str = "") -> None:
        """`prefix + func(args) + suffix`, one argument per line when it would be too wide."""
        one_line = f"{prefix}{call(c)}{suffix}"
        if len("    " * self._depth + one_line) <= MAX_WIDTH:
            self.line(one_line)
            return
        self._expanded_call(prefix, c, suffix)

    def _expanded_call(self, prefix: str, c: PyCall, suffix: str) -> None:
        """`prefix + func(` with an argument a line (each expanded in turn when too wide)."""
        self.line(f"{prefix}{c.func}(")
        with self.indent():
            for key, argument in _argument_items(c):
                self._item(key, argument)
        self.line(f"){suffix}")

    def fits(self, text: str) -> bool:
        """Whether `text` at the current indentation is within ruff format's width."""
        return len("    " * self._depth + text) <= LINE_LENGTH

    def value(self, prefix: str, value: list[Any] | dict[str, Any], suffix: str = "") -> None:
        """`prefix + [items] + suffix` (or a dict), one item per line when too wide, and so on
        into an item that is too wide itself, as ruff format writes it."""
        one_line = f"{prefix}{literal(value)}{suffix}"
        if len("    " * self._depth + one_line) <= MAX_WIDTH:
            self.line(one_line)
            return
        opening, closing = ("[", "]") if isinstance(value, list) else ("{", "}")
        self.line(prefix + opening)
        with self.indent():
            items = (
                [("", item) for item in value]
                if isinstance(value, list)
                else [(f"{literal(key)}: ", item) for key, item in value.items()]
            )
            for key, item in items:
                self._item(key, item)
        self.line(closing + suffix)

    def _item(self, key: str, item: Any) -> None:
        """One item of an expanded list or dict, expanded in turn when too wide."""
        if self.fits(f"{key}{literal(item)},"):
            self.line(f"{key}{literal(item)},")
        elif isinstance(item, (list, dict)) and item:
            self.value(key, item, ",")
        elif isinstance(item, PyCall) and self.fits("    " + ", ".join(_arguments(item))):
            call(item)  # validates the name
            self.line(f"{key}{item.func}(")  # the arguments on a line of their own
            with self.indent():
                self.line(", ".join(_arguments(item)))
            self.line("),")
        elif isinstance(item, PyCall):
            call(item)
            self._expanded_call(key, item, ",")
        else:
            self.line(f"{key}{literal(item)},")

    def function(self, name: str, parameters: list[str], returns: str) -> None:
        """`def name(parameters) -> returns:` as ruff format writes it: on one line, else the
        parameters on a line of their own (one a line, each with a comma, for a single one or
        when they do not fit); the body follows at one more indentation."""
        joined = ", ".join(parameters)
        one_line = f"def {identifier(name)}({joined}) -> {returns}:"
        if self.fits(one_line):
            self.line(one_line)
            return
        self.line(f"def {name}(")
        with self.indent():
            if len(parameters) > 1 and self.fits(joined):
                self.line(joined)
            else:
                for parameter in parameters:
                    self.line(f"{parameter},")
        self.line(f") -> {returns}:")

    def signature(self, name: str, parameters: Iterable[str], returns: str) -> None:
        """`def name(` with a parameter a line (each written by netspec: `x: int = 3`), then
        `) -> returns:`; the body follows at one more indentation."""
        self.line(f"def {identifier(name)}(")
        with self.indent():
            for parameter in parameters:
                self.lines(f"{parameter},")  # one ruff format breaks is given in two lines
        self.line(f") -> {returns}:")

    def docstring(self, text: str) -> None:
        if '"""' in text or "\\" in text:
            raise UnsafeValue("docstrings are written by netspec only")
        self.lines(f'"""{text}"""' if "\n" not in text else f'"""{text}\n"""')

    def source(self) -> str:
        return "\n".join(self._lines).rstrip() + "\n"

    def module(self, text: str | None = None) -> GeneratedModule:
        """`source()` with the origin of each line; `text` is the module that ends with this
        writer's source (after a docstring written elsewhere), whose lines are shifted so."""
        body = self.source()
        full = body if text is None else text
        if not full.endswith(body):  # not this writer's module: no line is known
            return GeneratedModule(full)
        before = full.count("\n") - body.count("\n")
        return GeneratedModule(full, [None] * before + self._origins[: body.count("\n")])


def camel_case(name: str) -> str:
    """A class name for a model name.

    >>> camel_case("mnist_mlp")
    'MnistMlp'
    """
    text = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
    if not _IDENTIFIER.match(text) or keyword.iskeyword(text):  # '', '1abc' (from `_1abc`), 'None'
        text = "Model" + text
    return identifier(text)
