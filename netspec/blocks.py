"""Blocks, imports, `repeat` and arithmetic: syntax tree → plain layer statements.

This pass runs between parsing and checking. It loads the files named by `use` (each parsed
once, relative to the file that imports it), collects the block definitions each file can see,
instantiates every block use with its arguments bound, unrolls `repeat`, and folds arithmetic
(`filters * 2`) into numbers. What comes out is a `SpecFile` of plain `LayerStmt`s that the
checker already understands; each statement made from a block keeps its `origin` (the use
sites that made it), so a diagnostic on it names the instance as well as the block's text.

Names inside an instance are prefixed with the instance's name, which is the use site's name
(`h = conv_bn(16)` → `h_conv2d`) or the block's name numbered like a layer's
(`residual`, `residual_1`, …): `residual_1_conv2d`, `residual_1_s`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from netspec import catalogue, ir
from netspec.diagnostics import (
    PYTHON_CONSTANTS,
    Diagnostics,
    Related,
    Severity,
    Span,
    did_you_mean,
)
from netspec.limits import (
    MAX_EXPANSION_DEPTH,
    MAX_EXPANSION_STEPS,
    MAX_INTEGER,
    MAX_LAYERS,
    MAX_SOURCE_BYTES,
)
from netspec.naming import RESERVED_NAMES, Namer, snake_case
from netspec.parse import (
    LIBRARY_HOLDS,
    NotRegularFile,
    SourceTooLarge,
    parse_library,
    read_source,
)

_Node = TypeVar("_Node", bound=BaseModel)


def _copy(node: _Node, update: dict[str, object]) -> _Node:
    """`node.model_copy(update=update)`, without pydantic's general path (extra and private
    fields, which the syntax tree has none of): expansion copies each layer statement, and
    model_copy was a fifth of the time a 65,536-layer spec took to expand."""
    if node.__pydantic_extra__ is not None or getattr(node, "__pydantic_private__", None):
        return node.model_copy(update=update)
    cls = type(node)
    copied = cls.__new__(cls)
    values = node.__dict__.copy()
    values.update(update)
    object.__setattr__(copied, "__dict__", values)
    object.__setattr__(copied, "__pydantic_extra__", None)
    object.__setattr__(copied, "__pydantic_fields_set__", node.__pydantic_fields_set__ | update.keys())
    object.__setattr__(copied, "__pydantic_private__", None)
    return copied


def _note(span: Span, message: str) -> Related:
    """`Related(span=span, message=message)`, both already of their fields' types: one per
    block instance, and a 65,536-layer nest of blocks makes 131,071 instances."""
    note = Related.__new__(Related)
    object.__setattr__(note, "__dict__", {"span": span, "message": message})
    object.__setattr__(note, "__pydantic_extra__", None)
    object.__setattr__(note, "__pydantic_fields_set__", {"span", "message"})
    object.__setattr__(note, "__pydantic_private__", None)
    return note


# Arguments a use site may give any block, on top of its own parameters.
USE_SITE_ARGS = ("repeat", "trainable")

_OPERATORS = {"+", "-", "*", "/", "//"}
_ORDERINGS = {"<", ">", "<=", ">="}
_EQUALITIES = {"==", "!="}
_LOGICAL = {"and", "or"}


class _Failed(Exception):
    """An expression could not be evaluated; its diagnostic is already reported."""

    def __init__(self, span: Span) -> None:
        super().__init__()
        self.span = span


# --------------------------------------------------------------------------- expressions


def _number(value: ir.Value) -> int | float | None:
    if isinstance(value, ir.Literal) and type(value.value) in (int, float):
        return value.value  # type: ignore[return-value]
    return None


def _describe(value: ir.Value) -> str:
    if isinstance(value, ir.Literal):
        if isinstance(value.value, bool):
            return "true" if value.value else "false"
        if value.value is None:
            return "none"
        if isinstance(value.value, str):
            return f'the string "{value.value}"'
    if isinstance(value, ir.Symbol):
        return f"the name '{value.name}'"
    if isinstance(value, ir.ListValue):
        return "a list"
    if isinstance(value, ir.Call):
        return f"a call to {value.name}"
    return "a value"


@dataclass
class Evaluator:
    """Folds expressions with the names in `env` bound (a block's parameters)."""

    env: dict[str, ir.Value]
    diagnostics: Diagnostics
    strict_names: bool = False
    """Whether a bare name that is not bound is an error (only inside arithmetic it is)."""

    def value(self, value: ir.Value) -> ir.Value:
        """The value with parameters substituted and arithmetic folded; raises `_Failed`."""
        if isinstance(value, ir.Symbol):
            if value.name in self.env:
                bound = self.env[value.name]
                return _copy(bound, {"span": value.span})
            if self.strict_names:
                self._undefined(value)
            return value
        if isinstance(value, ir.ListValue):
            items = [self.value(v) for v in value.items]
            if _same(items, value.items):
                return value  # nothing to fold: no copy (most values, in most specs)
            return _copy(value, {"items": items})
        if isinstance(value, ir.Call):
            args = [_with_value(a, self.value(a.value)) for a in value.args]
            if _same(args, value.args):
                return value
            return _copy(value, {"args": args})
        if isinstance(value, ir.UnaryOp) and value.op == "not":
            return ir.Literal(value=not self.boolean(value.operand, "'not'"), span=value.span)
        if isinstance(value, ir.UnaryOp):
            operand = self._operand(value.operand, value.op)
            return ir.Literal(value=-operand if value.op == "-" else operand, span=value.span)
        if isinstance(value, ir.BinaryOp) and value.op in _LOGICAL:
            left = self.boolean(value.left, f"'{value.op}'")
            right = self.boolean(value.right, f"'{value.op}'")
            result = left and right if value.op == "and" else left or right
            return ir.Literal(value=result, span=value.span)
        if isinstance(value, ir.BinaryOp) and value.op in _ORDERINGS | _EQUALITIES:
            return self._compare(value)
        if isinstance(value, ir.BinaryOp):
            return self._binary(value)
        return value

    def _strict(self, value: ir.Value) -> ir.Value:
        """The value folded, every bare name required to be bound."""
        strict, self.strict_names = self.strict_names, True
        try:
            return self.value(value)
        finally:
            self.strict_names = strict

    def boolean(self, value: ir.Value, what: str) -> bool:
        """A condition's value (`what` names its use, e.g. "an if condition"); raises `_Failed`."""
        folded = self._strict(value)
        if isinstance(folded, ir.Literal) and isinstance(folded.value, bool):
            return folded.value
        self.diagnostics.error(
            "E0175",
            f"{what} takes true or false, not {_describe_value(folded)}",
            value.span,
            hint="compare it to something, e.g. stride > 1 or filters != 16",
        )
        raise _Failed(value.span)

    def _compare(self, node: ir.BinaryOp) -> ir.Literal:
        left, right = self._strict(node.left), self._strict(node.right)
        if node.op in _ORDERINGS:
            a, b = _number(left), _number(right)
            if a is None or b is None:
                bad, shown = (node.left, left) if a is None else (node.right, right)
                self.diagnostics.error(
                    "E0176",
                    f"'{node.op}' compares numbers, not {_describe_value(shown)}",
                    bad.span,
                    hint="order only numbers and block parameters whose values are numbers",
                )
                raise _Failed(bad.span)
            ordered = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[node.op]
            return ir.Literal(value=ordered, span=node.span)
        keys = []
        for written, folded in ((node.left, left), (node.right, right)):
            key = _equality_key(folded)
            if key is None:
                self.diagnostics.error(
                    "E0176",
                    f"'{node.op}' cannot compare {_describe_value(folded)}",
                    written.span,
                    hint="compare numbers, strings, true/false, none or names",
                )
                raise _Failed(written.span)
            keys.append(key)
        equal = keys[0] == keys[1]
        return ir.Literal(value=equal if node.op == "==" else not equal, span=node.span)

    def _operand(self, value: ir.Value, op: str) -> int | float:
        folded = self._strict(value)
        number = _number(folded)
        if number is None:
            self.diagnostics.error(
                "E0170",
                f"'{op}' works on numbers, not on {_describe(folded)}",
                value.span,
                hint="arithmetic takes numbers and block parameters whose values are numbers",
            )
            raise _Failed(value.span)
        return number

    def _binary(self, node: ir.BinaryOp) -> ir.Literal:
        left = self._operand(node.left, node.op)
        right = self._operand(node.right, node.op)
        if node.op in ("/", "//") and right == 0:
            self.diagnostics.error(
                "E0170", "division by zero", node.span,
                hint=f"the divisor {_show(node.right)} is 0 here",
            )
            raise _Failed(node.span)
        result: int | float
        try:
            if node.op == "+":
                result = left + right
            elif node.op == "-":
                result = left - right
            elif node.op == "*":
                result = left * right
            elif node.op == "/":
                result = left / right
            else:
                result = left // right
        except OverflowError:
            result = math.inf
        if isinstance(result, int) and abs(result) > MAX_INTEGER:
            self.diagnostics.error(
                "E0180", f"'{node.op}' gives an integer too large ({_digits(result)})", node.span,
                hint=f"integers in a spec are at most {MAX_INTEGER:,} (2**63 - 1) in magnitude",
            )
            raise _Failed(node.span)
        if isinstance(result, float) and not math.isfinite(result):
            self.diagnostics.error(
                "E0170", f"'{node.op}' gives a number too large to represent", node.span,
                hint="use smaller numbers",
            )
            raise _Failed(node.span)
        return ir.Literal(value=result, span=node.span)

    def _undefined(self, symbol: ir.Symbol) -> None:
        suggestion = did_you_mean(symbol.name, self.env)
        known = ", ".join(self.env)
        otherwise = (
            f"did you mean '{suggestion}'?" if suggestion
            else f"names defined here: {known}" if known
            else "arithmetic outside a block takes numbers only"
        )
        self.diagnostics.error(
            "E0169",
            f"'{symbol.name}' is not defined here",
            symbol.span,
            hint=PYTHON_CONSTANTS.get(symbol.name, otherwise),
        )
        raise _Failed(symbol.span)


def _digits(number: int) -> str:
    """A huge integer's size in words (its digits would fill the message)."""
    return f"{len(str(abs(number)))} digits"


def _same(new: list, old: list) -> bool:
    """Whether folding left a list as it was: the very same nodes, so no copy is needed."""
    return len(new) == len(old) and all(a is b for a, b in zip(new, old, strict=True))


def _with_value(arg: ir.Arg, value: ir.Value) -> ir.Arg:
    """The argument with its value replaced; the same object when the value is unchanged."""
    return arg if value is arg.value else _copy(arg, {"value": value})


def _describe_value(value: ir.Value) -> str:
    """Like `_describe`, with numbers shown as written."""
    number = _number(value)
    return f"the number {number!r}" if number is not None else _describe(value)


def _equality_key(value: ir.Value) -> tuple[str, object] | None:
    """What `==` compares: numbers by value (1 == 1.0), booleans apart from numbers, and a
    name equal to a string of the same text (`activation == "relu"`); None for lists, calls."""
    if isinstance(value, ir.Symbol):
        return ("text", value.name)
    if not isinstance(value, ir.Literal):
        return None
    if isinstance(value.value, bool):
        return ("bool", value.value)
    if isinstance(value.value, str):
        return ("text", value.value)
    if value.value is None:
        return ("none", None)
    return ("number", value.value)


def _show(value: ir.Value) -> str:
    if isinstance(value, ir.Symbol):
        return f"'{value.name}'"
    if isinstance(value, ir.Literal):
        return repr(value.value)
    return "expression"


def evaluate(value: ir.Value, env: dict[str, ir.Value], diagnostics: Diagnostics) -> ir.Value:
    """A value folded, or on an error a `none` placeholder at the span already reported.

    The checker reports nothing more at a span that has a diagnostic, so a bad expression
    is reported once.
    """
    if isinstance(value, ir.Literal):
        return value  # nothing to fold (most arguments): no evaluator per argument
    try:
        return Evaluator(env, diagnostics).value(value)
    except _Failed:
        diagnostics.suppress(value.span)
        return ir.Literal(value=None, span=value.span)


def fold(node: BaseModel, diagnostics: Diagnostics, env: dict[str, ir.Value] | None = None):
    """Every value in a syntax node folded (the sections other than `layers`)."""
    env = env or {}
    updates = {}
    for name in type(node).model_fields:
        current = getattr(node, name)
        folded = _fold_any(current, diagnostics, env)
        if folded is not current:
            updates[name] = folded
    return node.model_copy(update=updates) if updates else node


def _fold_any(item: object, diagnostics: Diagnostics, env: dict[str, ir.Value]) -> object:
    # A call or a list keeps its form, each argument or item folded on its own: a bad
    # argument becomes a placeholder there, not the whole optimizer (`Adagrad((-(k)))`).
    if isinstance(item, ir.Call):
        args = [_with_value(a, evaluate(a.value, env, diagnostics)) for a in item.args]
        return item if _same(args, item.args) else item.model_copy(update={"args": args})
    if isinstance(item, ir.ListValue):
        items = [evaluate(v, env, diagnostics) for v in item.items]
        return item if _same(items, item.items) else item.model_copy(update={"items": items})
    if isinstance(item, ir.BinaryOp | ir.UnaryOp):
        return evaluate(item, env, diagnostics)
    if isinstance(item, ir.Literal | ir.Symbol | Span | Related):
        return item
    if isinstance(item, BaseModel):
        return fold(item, diagnostics, env)
    if isinstance(item, list):
        folded = [_fold_any(i, diagnostics, env) for i in item]
        return folded if any(a is not b for a, b in zip(folded, item, strict=True)) else item
    return item


# --------------------------------------------------------------------------- imports


@dataclass
class _File:
    """A file of blocks, loaded: its own definitions and the ones it can see."""

    display: str
    uses: list[ir.Use]
    own: list[ir.BlockDef]
    scope: dict[str, ir.BlockDef] = field(default_factory=dict)


class Loader:
    """Reads and parses the files `use` names, once each, and builds each file's scope."""

    def __init__(self, diagnostics: Diagnostics, sources: dict[str, str] | None = None) -> None:
        self.diagnostics = diagnostics
        self.sources = sources if sources is not None else {}
        self._done: dict[Path, _File | None] = {}
        self._loading: list[tuple[Path, str]] = []
        self.ok = True

    def load(self, display: str, uses: list[ir.Use], own: list[ir.BlockDef]) -> _File:
        """The file's scope, after loading everything it imports (depth first)."""
        here = _resolved(display)
        file = _File(display, uses, own)
        self._loading.append((here, display))
        try:
            for use in uses:
                imported = self._import(display, use)
                for block in imported.own if imported else []:
                    self._define(file.scope, block)
        finally:
            self._loading.pop()
        for block in own:
            self._define(file.scope, block)
        return file

    def _import(self, importer: str, use: ir.Use) -> _File | None:
        display = os.path.normpath(os.path.join(os.path.dirname(importer), use.path))
        path = _resolved(display)
        chain = [p for p, _ in self._loading]
        if path in chain:
            names = [d for _, d in self._loading[chain.index(path):]] + [display]
            self.diagnostics.error(
                "E0161",
                "import cycle: " + " → ".join(names),
                use.span,
                hint="a file cannot import itself, directly or through others; "
                "move the shared blocks into a file that imports neither",
            )
            self.ok = False
            return None
        if path in self._done:
            return self._done[path]
        if len(self._loading) >= MAX_EXPANSION_DEPTH:
            self.diagnostics.error(
                "E0184",
                f"imports chain more than {MAX_EXPANSION_DEPTH} files deep here",
                use.span,
                hint="import the shared blocks from fewer levels of files",
            )
            self.ok = False
            return None
        self._done[path] = None
        try:
            source = read_source(path, regular_only=True)
        except NotRegularFile as error:
            self.diagnostics.error(
                "E0185", f"cannot import {display}: it is {error.kind}", use.span,
                hint="'use' imports a regular .net file of blocks",
            )
            self.ok = False
            return None
        except SourceTooLarge as error:
            self.diagnostics.error(
                "E0186",
                f"cannot import {display}: it is too large ({error.size:,} bytes or more)",
                use.span,
                hint=f"an imported file holds at most {MAX_SOURCE_BYTES:,} bytes",
            )
            self.ok = False
            return None
        except (OSError, UnicodeDecodeError) as error:
            reason = (  # a decoding error's own text names the byte: the file's, not the spec's
                "it is not UTF-8 text" if isinstance(error, UnicodeDecodeError)
                else error.strerror or str(error)
            )
            self.diagnostics.error(
                "E0160",
                f"cannot import {display}: {reason}",
                use.span,
                hint="the path is relative to the file that has the 'use' line",
            )
            self.ok = False
            return None
        library = self._parsed(display, source, use)
        if library is None:
            self.ok = False
            return None
        self.sources[display] = source  # a netspec file now: its lines may be quoted
        loaded = self.load(display, library.uses, library.blocks)
        self._done[path] = loaded
        return loaded

    def _parsed(self, display: str, source: str, use: ir.Use) -> ir.Library | None:
        """The imported file's blocks; None after a diagnostic.

        A file that does not parse may be no netspec file at all (`use "/etc/passwd"`), so
        its syntax error is told at the `use` line, by the file's name and a position:
        never a line of it. Problems found once it parsed quote it as they quote a spec.
        """
        found = Diagnostics()
        library = parse_library(source, display, found)
        syntax = next((d for d in found if d.code == "E0001"), None)
        if syntax is None:
            for d in found:
                notes = [(note.span, note.message) for note in d.related]
                add = self.diagnostics.error if d.severity is Severity.ERROR else self.diagnostics.warning
                add(d.code, d.message, d.span, d.hint, notes)
            return library
        where = f"line {syntax.span.line}, column {syntax.span.column}"
        self.diagnostics.error(
            "E0160",
            f"cannot import {display}: it does not parse as netspec (a syntax error at {where})",
            use.span,
            hint=LIBRARY_HOLDS if syntax.hint == LIBRARY_HOLDS
            else f"'use' imports a file of blocks; `netspec check {display}` shows the error",
        )
        return None

    def _define(self, scope: dict[str, ir.BlockDef], block: ir.BlockDef) -> None:
        first = scope.get(block.name)
        if first is block:  # the same file imported twice
            return
        if first is not None:
            self.diagnostics.error(
                "E0162",
                f"block '{block.name}' is defined twice: here and at {first.name_span}",
                block.name_span,
                hint="rename one of them; every block a file can use needs its own name",
            )
            self.ok = False
            return
        scope[block.name] = block


def _resolved(display: str) -> Path:
    try:
        return Path(display).resolve()
    except OSError:  # pragma: no cover - resolve(strict=False) hardly fails
        return Path(os.path.abspath(display))


# --------------------------------------------------------------------------- definitions


def check_definition(block: ir.BlockDef, diagnostics: Diagnostics) -> bool:
    """Problems a block has whether or not it is used."""
    ok = True
    if catalogue.lookup("layer", block.name) is not None:
        diagnostics.error(
            "E0163",
            f"block '{block.name}' has the name of a layer",
            block.name_span,
            hint="choose another name; a block cannot replace a layer",
        )
        ok = False
    seen: set[str] = set()
    defaulted = False
    for param in block.params:
        problem = None
        if param.name in seen:
            problem = f"block '{block.name}' has two parameters named '{param.name}'"
            hint = "rename one of them"
        elif param.name in USE_SITE_ARGS:
            problem = f"'{param.name}' cannot name a block parameter"
            hint = f"'{param.name}=' is an argument every block use takes; choose another name"
        elif param.default is None and defaulted:
            problem = f"parameter '{param.name}' has no default but comes after one that has"
            hint = "put the parameters without defaults first"
        if problem:
            diagnostics.error("E0171", problem, param.span, hint=hint)
            ok = False
        seen.add(param.name)
        defaulted |= param.default is not None
    names = [s.name for s in block.inputs or []]
    for i, symbol in enumerate(block.inputs or []):
        if symbol.name in names[:i] or symbol.name in seen:
            diagnostics.error(
                "E0171",
                f"block '{block.name}' uses the name '{symbol.name}' twice",
                symbol.span,
                hint="give each parameter and input its own name",
            )
            ok = False
    if block.inputs is not None and not block.inputs:
        diagnostics.error(
            "E0171",
            f"block '{block.name}' takes no input",
            block.name_span,
            hint="name its inputs, e.g. block name(params)(x), or leave out the '()'",
        )
        ok = False
    for symbol in _condition_names(block.body):
        if symbol.name not in seen:
            suggestion = did_you_mean(symbol.name, seen)
            diagnostics.error(
                "E0169",
                f"'{symbol.name}' is not a parameter of block '{block.name}'",
                symbol.span,
                hint=PYTHON_CONSTANTS[symbol.name] if symbol.name in PYTHON_CONSTANTS
                else f"did you mean '{suggestion}'?" if suggestion
                else "a condition reads the block's parameters: "
                + (", ".join(p.name for p in block.params) or "none")
                + '; write a string in quotes to compare with a name ("relu")',
            )
            ok = False
    if not block.body:
        diagnostics.error(
            "E0171",
            f"block '{block.name}' has no statements",
            block.name_span,
            hint="a block holds at least one layer; its last statement is its output",
        )
        ok = False
    return ok


def _condition_names(statements: list[ir.Statement]) -> Iterator[ir.Symbol]:
    """The bare names the `if` conditions among statements read (each must be bound)."""
    for statement in statements:
        if isinstance(statement, ir.RepeatStmt):
            yield from _condition_names(statement.body)
        elif isinstance(statement, ir.IfStmt):
            yield from _expression_names(statement.condition)
            yield from _condition_names(statement.then)
            yield from _condition_names(statement.otherwise)


def _expression_names(value: ir.Value) -> Iterator[ir.Symbol]:
    if isinstance(value, ir.Symbol):
        yield value
    elif isinstance(value, ir.BinaryOp):
        yield from _expression_names(value.left)
        yield from _expression_names(value.right)
    elif isinstance(value, ir.UnaryOp):
        yield from _expression_names(value.operand)


# --------------------------------------------------------------------------- expansion


@dataclass
class _Namer(Namer):
    """Unique layer names within one instance (or the model), numbered like Keras'."""

    explicit: dict[str, Span] = field(default_factory=dict)
    copies: set[tuple[str, Span]] = field(default_factory=set)


@dataclass
class _Frame:
    """Where statements are being expanded: the model itself or one block instance."""

    prefix: str | None
    env: dict[str, ir.Value]
    scope: dict[str, ir.BlockDef]
    origin: list[Related]
    stack: tuple[ir.BlockDef, ...]
    stack_ids: tuple[int, ...] = ()
    """`id` of each block on the stack: a block is found on it by identity, in one C loop."""
    trainable: ir.Arg | None = None
    local: _Namer = field(default_factory=lambda: _Namer(set()))
    tensors: dict[str, str] = field(default_factory=dict)
    """Tensor names as written here → final layer (or model input) names."""
    inputs: list[str] | None = None
    """An instance's input tensors (final names); the first statement reads the first."""
    last: str | None = None
    """The final name of the last layer made here (an instance's output so far)."""
    one_branch: dict[str, tuple[Span, str]] = field(default_factory=dict)
    """Tensor names an `if` defines in one branch only → that if's span and the branch."""

    def full(self, name: str) -> str:
        return name if self.prefix is None else f"{self.prefix}_{name}"


class _Taken(set):
    """Layer names taken so far, and every `_`-separated start of one (`a`, `a_b` of
    `a_b_c`), so whether a name starts an instance prefix is one lookup, not a scan of
    all names (a scan per block use made a 16,000-use model take a minute)."""

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.starts: set[str] = set()
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        super().add(name)
        # Longest start first: once one is known, so are all the shorter ones (they were
        # added with it), which keeps a deeply prefixed name's cost to its new starts.
        end = name.rfind("_")
        while end >= 0:
            start = name[:end]
            if start in self.starts:
                break
            self.starts.add(start)
            end = name.rfind("_", 0, end)


class Expander:
    def __init__(self, diagnostics: Diagnostics, taken: set[str]) -> None:
        self.diagnostics = diagnostics
        self.ok = True
        taken = _Taken(taken)
        self.taken = taken  # every final layer name so far, and the model's own names
        self._next: dict[str, int] = {}  # the next number `_unique` tries after each name
        self.failed: set[tuple[int, object]] = set()
        """(block, arguments) whose instance had errors: a block used 65,536 times over
        reports them once, and is not expanded again to find them again."""
        self.out: list[ir.LayerStmt] = []
        self.top = _Namer(taken)
        self.first_input = "input"
        self.invalid: set[int] = set()
        self.prefixes: set[str] = set()
        self.scopes: dict[str, dict[str, ir.BlockDef]] = {}

    # -- statements
    def body(self, statements: list[ir.Statement], frame: _Frame) -> None:
        for statement in statements:
            with self.diagnostics.related(frame.origin):
                if isinstance(statement, ir.RepeatStmt):
                    self.repeat(statement.count, statement.body, frame, statement.span)
                elif isinstance(statement, ir.IfStmt):
                    self.if_statement(statement, frame)
                else:
                    self.statement(statement, frame)

    def repeat(
        self, count: ir.Value, body: list[ir.Statement], frame: _Frame, span: Span
    ) -> None:
        try:
            value = Evaluator(frame.env, self.diagnostics).value(count)
        except _Failed:
            self.ok = False
            return
        times = value.value if isinstance(value, ir.Literal) else None
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            shown = repr(times) if isinstance(value, ir.Literal) else _describe(value)
            self.diagnostics.error(
                "E0172",
                f"repeat takes a whole number of times, at least 1, got {shown}",
                count.span,
                hint="e.g. repeat 3 { … } or Dense(64, repeat=3)",
            )
            self.ok = False
            return
        for _ in range(times):
            errors = self.diagnostics.errors_reported
            self.body(body, frame)
            if self.diagnostics.errors_reported != errors:
                # Each copy has the same arguments, so the same errors: report them once
                # and stop (65,536 copies of a failing block took 20 s to report nothing new).
                self.ok = False
                break

    def if_statement(self, statement: ir.IfStmt, frame: _Frame) -> None:
        """Expand the branch the condition chooses; a tensor name only one branch defines
        is not visible after the if, whichever branch ran, so no use depends on the choice."""
        try:
            chosen = Evaluator(frame.env, self.diagnostics).boolean(
                statement.condition, "an if condition"
            )
        except _Failed:
            self.ok = False
            return
        before = dict(frame.tensors)
        self.body(statement.then if chosen else statement.otherwise, frame)
        then, otherwise = _defined(statement.then), _defined(statement.otherwise)
        for name in then ^ otherwise:
            if name in before:
                frame.tensors[name] = before[name]
            else:
                frame.tensors.pop(name, None)
            frame.one_branch[name] = (statement.span, "if" if name in then else "else")
        for name in then & otherwise:
            frame.one_branch.pop(name, None)

    def statement(self, statement: ir.LayerStmt, frame: _Frame) -> None:
        call = statement.call
        repeat = None
        for arg in call.args:
            if arg.keyword == "repeat":
                repeat = arg
                break
        if repeat is not None:
            rest = [a for a in call.args if a is not repeat]
            once = _copy(statement, {"call": _copy(call, {"args": rest})})
            self.repeat(repeat.value, [once], frame, statement.span)
            return
        block = frame.scope.get(call.name)
        if block is not None:
            self.instance(statement, block, frame)
            return
        if catalogue.lookup("layer", call.name) is None:
            # the closest of the blocks and the layers: a block only where it is the closer
            suggestion = did_you_mean(call.name, [*catalogue.names("layer"), *frame.scope])
            if suggestion is not None and suggestion in frame.scope:
                self.diagnostics.error(
                    "E0101", f"unknown layer or block '{call.name}'", call.name_span,
                    hint=f"did you mean '{suggestion}'?",
                )
                self.ok = False
                return
        self.layer(statement, frame)

    def layer(self, statement: ir.LayerStmt, frame: _Frame) -> None:
        call = statement.call
        args = []
        for arg in call.args:
            if frame.trainable is not None and arg.keyword == "trainable":
                continue  # the use site's trainable= applies to the whole instance
            args.append(_with_value(arg, self._value(arg.value, frame)))
        if frame.trainable is not None:
            args.append(frame.trainable)
        inputs = self._tensors(statement, frame)
        name, name_span = self._name(statement, frame)
        self.out.append(
            _copy(
                statement,
                {
                    "name": name,
                    "name_span": name_span,
                    "call": call if _same(args, call.args) else _copy(call, {"args": args}),
                    "inputs": inputs,
                    "origin": list(frame.origin),
                },
            )
        )
        if statement.name is not None:
            frame.tensors[statement.name] = name
        frame.last = name

    def _tensors(self, statement: ir.LayerStmt, frame: _Frame) -> list[ir.Symbol] | None:
        """The statement's tensor arguments as final names; [] when one is unknown."""
        if statement.inputs is None:
            if frame.inputs is not None and frame.last is None:
                # the first statement of an instance reads the instance's input
                return [ir.Symbol(name=frame.inputs[0], span=statement.call.name_span)]
            return None
        mapped = []
        for symbol in statement.inputs:
            final = frame.tensors.get(symbol.name)
            if final is None and symbol.name in frame.one_branch:
                span, branch = frame.one_branch[symbol.name]
                other = "else" if branch == "if" else "if"
                self.diagnostics.error(
                    "E0177",
                    f"'{symbol.name}' is defined only in the {branch} branch of the if at "
                    f"line {span.line}",
                    symbol.span,
                    hint=f"define '{symbol.name}' in the {other} branch too (an Identity() "
                    "passes a tensor on unchanged), or use it inside the branch",
                )
                self.diagnostics.suppress(symbol.span)  # E0174 or the checker's E0140
                self.ok = False
                mapped.append(symbol)
                continue
            if final is None and frame.prefix is None:
                final = symbol.name  # a model input or a layer: the checker resolves it
            elif final is None:
                known = ", ".join(frame.tensors) or "none"
                suggestion = did_you_mean(symbol.name, frame.tensors)
                self.diagnostics.error(
                    "E0174",
                    f"no tensor named '{symbol.name}' in block '{frame.stack[-1].name}'",
                    symbol.span,
                    hint=f"did you mean '{suggestion}'?" if suggestion
                    else f"a block reads its inputs and its earlier statements: {known}",
                )
                self.diagnostics.suppress(symbol.span)  # the checker's E0140 would repeat it
                self.ok = False
                final = symbol.name
            mapped.append(_copy(symbol, {"name": final}))
        return mapped

    def _value(self, value: ir.Value, frame: _Frame) -> ir.Value:
        return evaluate(value, frame.env, self.diagnostics)

    def _name(self, statement: ir.LayerStmt, frame: _Frame) -> tuple[str, Span]:
        """The statement's final name, unique in the model, and the span that names it."""
        if statement.name is not None and statement.name_span is not None:
            first = self._claim(statement, frame)
            if frame.prefix is None and first:
                return statement.name, statement.name_span  # the checker validates it
            name = self._unique(frame.full(statement.name), plain=first)
            return name, statement.name_span
        entry = catalogue.lookup("layer", statement.call.name)
        base = snake_case(entry.kind if entry else statement.call.name)
        if frame.prefix is None:  # Keras' numbering over the model: dense, dense_1, …
            return self.top.fresh(base, reserved=RESERVED_NAMES), statement.call.name_span
        local = frame.local.fresh(base)
        return self._unique(frame.full(local)), statement.call.name_span

    def _claim(self, statement: ir.LayerStmt, frame: _Frame) -> bool:
        """Record a statement's own name; True the first time (not a repeated copy).

        Two statements of one block (or of the model) with the same name are an error; the
        checker finds those of the model, this finds those of a block.
        """
        if statement.name is None or statement.name_span is None:
            return True
        first = frame.local.explicit.setdefault(statement.name, statement.name_span)
        if first != statement.name_span and frame.prefix is not None:
            self.diagnostics.error(
                "E0120",
                f"the name '{statement.name}' is already used by the layer at line {first.line}",
                statement.name_span,
                hint="give each layer a unique name",
            )
            self.ok = False
        key = (statement.name, statement.name_span)
        copy = key in frame.local.copies
        frame.local.copies.add(key)
        return not copy

    def _unique(self, name: str, plain: bool = True) -> str:
        # Names are only ever added, so a number found taken stays taken: resume there
        # (counting from 1 at each call made a name used 10,000 times quadratic).
        if plain and name not in self.taken:
            self.taken.add(name)
            return name
        n = self._next.get(name, 1)
        while f"{name}_{n}" in self.taken:
            n += 1
        self._next[name] = n + 1
        self.taken.add(f"{name}_{n}")
        return f"{name}_{n}"

    # -- block instances
    def instance(self, statement: ir.LayerStmt, block: ir.BlockDef, frame: _Frame) -> None:
        call = statement.call
        # By identity: `in` compares pydantic models field by field, a whole block body
        # at each level of each instance.
        if id(block) in frame.stack_ids:
            ids = list(frame.stack_ids)
            chain = " → ".join(b.name for b in frame.stack[ids.index(id(block)):])
            self.diagnostics.error(
                "E0164",
                f"block '{block.name}' uses itself: {chain} → {block.name}",
                call.name_span,
                hint="a block cannot contain itself; use repeat to stack copies",
            )
            self.ok = False
            return
        if id(block) in self.invalid:
            self.ok = False  # reported with the definition
            return
        self._claim(statement, frame)
        bound = self.bind(block, call, frame)
        if bound is None:
            self.ok = False
            return
        env, trainable = bound
        failed = (id(block), tuple(sorted((n, _key(v)) for n, v in env.items())) if env else ())
        if failed in self.failed:
            self.ok = False  # an instance with these arguments had errors: the same again
            return
        inputs = self._instance_inputs(statement, block, frame)
        if inputs is None:
            self.ok = False
            return
        prefix = self._prefix(statement, block, frame)
        note = _note(call.span, f"in block '{block.name}' used here (as '{prefix}')")
        inner = _Frame(
            prefix=prefix,
            env=env,
            scope=self.scopes[block.span.file],
            origin=[note, *frame.origin],
            stack=(*frame.stack, block),
            stack_ids=(*frame.stack_ids, id(block)),
            trainable=frame.trainable or trainable,
            tensors={s.name: t for s, t in zip(block.inputs or [], inputs, strict=False)},
            inputs=inputs,
        )
        errors = self.diagnostics.errors_reported
        self.body(block.body, inner)
        if self.diagnostics.errors_reported != errors:
            self.failed.add(failed)
        if inner.last is not None:  # the last statement is the instance's output
            frame.last = inner.last
            if statement.name is not None:
                frame.tensors[statement.name] = inner.last

    def _instance_inputs(
        self, statement: ir.LayerStmt, block: ir.BlockDef, frame: _Frame
    ) -> list[str] | None:
        """The tensors an instance reads (final names): the use site's, or the one before."""
        wanted = len(block.inputs) if block.inputs is not None else 1
        if statement.inputs is None:
            if wanted == 1:
                return [frame.last or (frame.inputs[0] if frame.inputs else self.first_input)]
            given = 0
        else:
            given = len(statement.inputs)
            if given == wanted:
                mapped = self._tensors(statement, frame) or []
                return [s.name for s in mapped]
        names = ", ".join(s.name for s in block.inputs or []) or "one"
        self.diagnostics.error(
            "E0173",
            f"block '{block.name}' takes {wanted} input tensor{'s' if wanted > 1 else ''} "
            f"({names}), got {given}",
            statement.call.span,
            hint=f"apply it to its inputs: {block.name}(…)({', '.join('t' + str(i + 1) for i in range(wanted))})",
        )
        return None

    def _prefix(self, statement: ir.LayerStmt, block: ir.BlockDef, frame: _Frame) -> str:
        """The instance's name: the use site's or the block's, numbered until no layer name
        so far is it or starts with it (the model's own names count as taken)."""
        own = statement.name if frame.prefix is None else None
        prefixes, taken = self.prefixes, self.taken
        base = statement.name or block.name
        n = 0 if statement.name else frame.local.counters.get(block.name, 0)
        while True:
            candidate = frame.full(base if n == 0 else f"{base}_{n}")
            n += 1
            free = candidate not in prefixes and candidate not in taken.starts
            if free and (candidate not in taken or candidate == own):
                break
        if not statement.name:
            frame.local.counters[block.name] = n
        self.prefixes.add(candidate)
        return candidate

    def bind(
        self, block: ir.BlockDef, call: ir.Call, frame: _Frame
    ) -> tuple[dict[str, ir.Value], ir.Arg | None] | None:
        """Arguments → parameter values (defaults filled in), and the use site's trainable=."""
        params = {p.name: p for p in block.params}
        order = [p.name for p in block.params]
        given: dict[str, ir.Value] = {}
        trainable: ir.Arg | None = None
        ok = True
        misspelt: set[str] = set()  # parameters a misspelt keyword was taken for: not missing
        positional = 0
        for arg in call.args:
            if arg.keyword is None:
                if positional >= len(order):
                    takes = f"{len(order)} argument{'' if len(order) == 1 else 's'}"
                    self.diagnostics.error(
                        "E0167",
                        f"block '{block.name}' takes {takes}"
                        + (f" ({', '.join(order)})" if order else "")
                        + f", got {sum(a.keyword is None for a in call.args)} positional",
                        arg.span,
                        hint="remove the extra arguments, or name them",
                    )
                    ok = False
                    continue
                name = order[positional]
                positional += 1
                span = arg.span
            else:
                name = arg.keyword
                span = arg.keyword_span or arg.span
                if name == "trainable":
                    trainable = arg.model_copy(
                        update={"value": self._value(arg.value, frame)}
                    )
                    continue
                if name not in params:
                    suggestion = did_you_mean(name, [*order, *USE_SITE_ARGS])
                    self.diagnostics.error(
                        "E0165",
                        f"block '{block.name}' has no parameter '{name}'",
                        span,
                        hint=f"did you mean '{suggestion}'?"
                        if suggestion
                        else "parameters: " + (", ".join(order) or "none"),
                    )
                    misspelt.add(suggestion or "")
                    ok = False
                    continue
            if name in given:
                self.diagnostics.error(
                    "E0168", f"block '{block.name}': argument '{name}' is given twice", span,
                    hint="keep one of them",
                )
                ok = False
                continue
            try:
                given[name] = Evaluator(frame.env, self.diagnostics).value(arg.value)
            except _Failed:
                ok = False
                misspelt.add(name)  # given, though wrongly: not missing too
        env: dict[str, ir.Value] = {}
        missing = []
        for param in block.params:
            if param.name in given:
                env[param.name] = given[param.name]
            elif param.default is not None:
                with self.diagnostics.related(
                    [Related(span=call.span, message=f"in block '{block.name}' used here"),
                     *frame.origin]
                ):
                    try:
                        env[param.name] = Evaluator(dict(env), self.diagnostics).value(
                            param.default
                        )
                    except _Failed:
                        ok = False
            elif param.name not in misspelt:
                missing.append(param.name)
        if missing:
            names = ", ".join(f"'{m}'" for m in missing)
            self.diagnostics.error(
                "E0166",
                f"block '{block.name}' is missing its required argument"
                + ("s " if len(missing) > 1 else " ")
                + names,
                call.span,
                hint="give " + ", ".join(f"{m}=..." for m in missing),
            )
            ok = False
        return (env, trainable) if ok else None


def _collect_names(statements: list[ir.Statement]) -> Iterator[str]:
    for statement in statements:
        if isinstance(statement, ir.RepeatStmt):
            yield from _collect_names(statement.body)
        elif isinstance(statement, ir.IfStmt):
            yield from _collect_names(statement.then)
            yield from _collect_names(statement.otherwise)
        elif statement.name is not None:
            yield statement.name


def _defined(statements: list[ir.Statement]) -> set[str]:
    """The tensor names statements define whatever an `if` among them chooses."""
    names: set[str] = set()
    for statement in statements:
        if isinstance(statement, ir.RepeatStmt):
            names |= _defined(statement.body)
        elif isinstance(statement, ir.IfStmt):
            names |= _defined(statement.then) & _defined(statement.otherwise)
        elif statement.name is not None:
            names.add(statement.name)
    return names


# --------------------------------------------------------------------------- size, before expanding


@dataclass
class _Size:
    """What expanding some statements makes: layers, statements visited, nesting below."""

    layers: int = 0
    steps: int = 0
    depth: int = 0


class _Explosion(Exception):
    def __init__(self, span: Span, message: str, code: str = "E0183") -> None:
        super().__init__(message)
        self.span = span
        self.message = message
        self.code = code


def _key(value: ir.Value) -> object:
    """A bound value as something hashable, so each (block, arguments) is measured once."""
    if isinstance(value, ir.Literal):
        return (type(value.value).__name__, value.value)
    if isinstance(value, ir.Symbol):
        return ("symbol", value.name)
    if isinstance(value, ir.ListValue):
        return ("list", tuple(_key(v) for v in value.items))
    if isinstance(value, ir.Call):
        return ("call", value.name, tuple((a.keyword, _key(a.value)) for a in value.args))
    return ("node", id(value))


class _Measure:
    """The size of an expansion, computed without making it: a repeat multiplies its body's
    size, a block use is measured once per distinct arguments, and measuring stops at the
    first limit passed. So `repeat 1000000000 { … }` or a block that doubles at each of 30
    levels is refused in microseconds, not after it fills memory. Errors are left to the
    expansion itself (measured quietly, an error stops the count where it stops expanding).
    """

    def __init__(self, expander: Expander) -> None:
        self.quiet = Expander(Diagnostics(), set())
        self.quiet.scopes = expander.scopes
        self.quiet.invalid = expander.invalid
        self.memo: dict[tuple[int, object], _Size] = {}

    def _evaluator(self, env: dict[str, ir.Value]) -> Evaluator:
        return Evaluator(env, self.quiet.diagnostics)

    def body(
        self, statements: list[ir.Statement], env: dict[str, ir.Value],
        scope: dict[str, ir.BlockDef], stack: tuple[ir.BlockDef, ...], depth: int,
    ) -> _Size:
        if depth > MAX_EXPANSION_DEPTH:
            span = statements[0].span if statements else Span(file="", line=1, column=1, end_line=1, end_column=1)
            raise _Explosion(
                span,
                f"block uses, ifs and repeats nest more than {MAX_EXPANSION_DEPTH} levels deep",
                "E0184",
            )
        total = _Size()
        for statement in statements:
            size = self.statement(statement, env, scope, stack, depth)
            total.layers += size.layers
            total.steps += size.steps
            total.depth = max(total.depth, size.depth)
            self._within(total, statement.span)
        return total

    @staticmethod
    def _within(size: _Size, span: Span) -> None:
        if size.layers > MAX_LAYERS:
            raise _Explosion(span, f"more than {MAX_LAYERS:,} layers")
        if size.steps > MAX_EXPANSION_STEPS:
            raise _Explosion(span, f"more than {MAX_EXPANSION_STEPS:,} statements to expand")

    def statement(
        self, statement: ir.Statement, env: dict[str, ir.Value],
        scope: dict[str, ir.BlockDef], stack: tuple[ir.BlockDef, ...], depth: int,
    ) -> _Size:
        if isinstance(statement, ir.RepeatStmt):
            return self.repeat(statement.count, statement.body, statement.span, env, scope, stack, depth)
        if isinstance(statement, ir.IfStmt):
            try:
                chosen = self._evaluator(env).boolean(statement.condition, "an if condition")
            except _Failed:
                return _Size(steps=1)
            inner = self.body(
                statement.then if chosen else statement.otherwise, env, scope, stack, depth + 1
            )
            return _Size(inner.layers, inner.steps + 1, inner.depth + 1)
        call = statement.call
        repeat = next((a for a in call.args if a.keyword == "repeat"), None)
        if repeat is not None:
            rest = [a for a in call.args if a is not repeat]
            once = statement.model_copy(update={"call": call.model_copy(update={"args": rest})})
            return self.repeat(repeat.value, [once], statement.span, env, scope, stack, depth)
        block = scope.get(call.name)
        if block is None:
            return _Size(layers=1, steps=1)
        if any(b is block for b in stack) or id(block) in self.quiet.invalid:
            return _Size(steps=1)
        frame = _Frame(prefix=None, env=env, scope=scope, origin=[], stack=stack)
        bound = self.quiet.bind(block, call, frame)
        if bound is None:
            return _Size(steps=1)
        inner_env = bound[0]
        key = (id(block), tuple(sorted((n, _key(v)) for n, v in inner_env.items())))
        if key not in self.memo:
            inner = self.body(
                block.body, inner_env, self.quiet.scopes[block.span.file], (*stack, block),
                depth + 1,
            )
            self.memo[key] = _Size(inner.layers, inner.steps + 1, inner.depth + 1)
        size = self.memo[key]
        if depth + size.depth > MAX_EXPANSION_DEPTH:
            raise _Explosion(
                statement.span,
                f"block uses, ifs and repeats nest more than {MAX_EXPANSION_DEPTH} levels deep",
                "E0184",
            )
        return _Size(size.layers, size.steps, size.depth)

    def repeat(
        self, count: ir.Value, body: list[ir.Statement], span: Span, env: dict[str, ir.Value],
        scope: dict[str, ir.BlockDef], stack: tuple[ir.BlockDef, ...], depth: int,
    ) -> _Size:
        try:
            value = self._evaluator(env).value(count)
        except _Failed:
            return _Size(steps=1)
        times = value.value if isinstance(value, ir.Literal) else None
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            return _Size(steps=1)
        once = self.body(body, env, scope, stack, depth + 1)
        size = _Size(once.layers * times, max(once.steps, 1) * times + 1, once.depth + 1)
        self._within(size, span)
        return size


def _measured(statements: list[ir.Statement], expander: Expander, scope: dict[str, ir.BlockDef],
              diagnostics: Diagnostics) -> bool:
    """Whether the model's statements expand within the limits; E0183/E0184 when not, at
    the model's statement that passes one, with a note where inside it the limit is passed."""
    measure = _Measure(expander)
    total = _Size()
    for statement in statements:
        try:
            size = measure.statement(statement, {}, scope, (), 0)
            total.layers += size.layers
            total.steps += size.steps
            _Measure._within(total, statement.span)
        except _Explosion as explosion:
            limit = (
                f"at most {MAX_LAYERS:,} layers and {MAX_EXPANSION_STEPS:,} statements"
                if explosion.code == "E0183" else f"at most {MAX_EXPANSION_DEPTH} levels of nesting"
            )
            related = (
                [(explosion.span, "the limit is passed here")]
                if explosion.span != statement.span and explosion.span.file else []
            )
            diagnostics.error(
                explosion.code,
                f"expanding this makes {explosion.message}" if explosion.code == "E0183"
                else f"expanding this: {explosion.message}",
                statement.span,
                hint=f"a model expands to {limit}; check the repeat counts and the blocks "
                "that use other blocks",
                related=related,
            )
            return False
    return True


def expand(
    spec: ir.SpecFile, diagnostics: Diagnostics, sources: dict[str, str] | None = None
) -> tuple[ir.SpecFile, bool]:
    """The spec with blocks instantiated, repeats unrolled and arithmetic folded.

    The flag is False when a statement could not be expanded (a bad import, a block used
    wrongly): the checker then validates each layer but infers no shapes, since a chain
    with a statement missing would report mistakes that are not there.
    """
    loader = Loader(diagnostics, sources)
    main = loader.load(spec.span.file, spec.uses, spec.blocks)
    ok = loader.ok
    scopes: dict[str, dict[str, ir.BlockDef]] = {spec.span.file: main.scope}
    definitions: list[ir.BlockDef] = list(spec.blocks)
    for loaded in loader._done.values():
        if loaded is not None:
            scopes[loaded.display] = loaded.scope
            definitions += loaded.own
    invalid = {id(b) for b in definitions if not check_definition(b, diagnostics)}
    rest = fold(spec.model_copy(update={"layers": None, "uses": [], "blocks": []}), diagnostics)
    if spec.layers is None:
        return rest, ok
    expander = Expander(diagnostics, set(_collect_names(spec.layers)))
    first = (spec.inputs or [None])[0]
    expander.first_input = first.name if first is not None and first.name else "input"
    expander.scopes = scopes
    expander.invalid = invalid
    if not _measured(spec.layers, expander, main.scope, diagnostics):
        return rest.model_copy(update={"layers": []}), False
    frame = _Frame(prefix=None, env={}, scope=main.scope, origin=[], stack=())
    expander.body(spec.layers, frame)
    layers: list[ir.Statement] = list(expander.out)
    return rest.model_copy(update={"layers": layers}), ok and expander.ok
