"""Expressions: folding arithmetic, conditions and parameters into values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from netspec import ir
from netspec.diagnostics import PYTHON_CONSTANTS, Diagnostics, Related, Span, did_you_mean
from netspec.limits import MAX_INTEGER

_Node = TypeVar("_Node", bound=BaseModel)


def copy_node(node: _Node, update: dict[str, object]) -> _Node:
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


_OPERATORS = {"+", "-", "*", "/", "//"}
_ORDERINGS = {"<", ">", "<=", ">="}
_EQUALITIES = {"==", "!="}
_LOGICAL = {"and", "or"}


class Failed(Exception):
    """An expression could not be evaluated; its diagnostic is already reported."""

    def __init__(self, span: Span) -> None:
        super().__init__()
        self.span = span


# --------------------------------------------------------------------------- expressions


def _number(value: ir.Value) -> int | float | None:
    if isinstance(value, ir.Literal) and type(value.value) in (int, float):
        return value.value  # type: ignore[return-value]
    return None


def describe(value: ir.Value) -> str:
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
        """The value with parameters substituted and arithmetic folded; raises `Failed`."""
        if isinstance(value, ir.Symbol):
            if value.name in self.env:
                bound = self.env[value.name]
                return copy_node(bound, {"span": value.span})
            if self.strict_names:
                self._undefined(value)
            return value
        if isinstance(value, ir.ListValue):
            items = [self.value(v) for v in value.items]
            if same(items, value.items):
                return value  # nothing to fold: no copy (most values, in most specs)
            return copy_node(value, {"items": items})
        if isinstance(value, ir.Call):
            args = [with_value(a, self.value(a.value)) for a in value.args]
            if same(args, value.args):
                return value
            return copy_node(value, {"args": args})
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
        """A condition's value (`what` names its use, e.g. "an if condition"); raises `Failed`."""
        folded = self._strict(value)
        if isinstance(folded, ir.Literal) and isinstance(folded.value, bool):
            return folded.value
        self.diagnostics.error(
            "E0175",
            f"{what} takes true or false, not {_describe_value(folded)}",
            value.span,
            hint="compare it to something, e.g. stride > 1 or filters != 16",
        )
        raise Failed(value.span)

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
                raise Failed(bad.span)
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
                raise Failed(written.span)
            keys.append(key)
        equal = keys[0] == keys[1]
        return ir.Literal(value=equal if node.op == "==" else not equal, span=node.span)

    def _operand(self, value: ir.Value, op: str) -> int | float:
        folded = self._strict(value)
        number = _number(folded)
        if number is None:
            self.diagnostics.error(
                "E0170",
                f"'{op}' works on numbers, not on {describe(folded)}",
                value.span,
                hint="arithmetic takes numbers and block parameters whose values are numbers",
            )
            raise Failed(value.span)
        return number

    def _binary(self, node: ir.BinaryOp) -> ir.Literal:
        left = self._operand(node.left, node.op)
        right = self._operand(node.right, node.op)
        if node.op in ("/", "//") and right == 0:
            self.diagnostics.error(
                "E0170", "division by zero", node.span,
                hint=f"the divisor {_show(node.right)} is 0 here",
            )
            raise Failed(node.span)
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
            raise Failed(node.span)
        if isinstance(result, float) and not math.isfinite(result):
            self.diagnostics.error(
                "E0170", f"'{node.op}' gives a number too large to represent", node.span,
                hint="use smaller numbers",
            )
            raise Failed(node.span)
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
        raise Failed(symbol.span)


def _digits(number: int) -> str:
    """A huge integer's size in words (its digits would fill the message)."""
    return f"{len(str(abs(number)))} digits"


def same(new: list, old: list) -> bool:
    """Whether folding left a list as it was: the very same nodes, so no copy is needed."""
    return len(new) == len(old) and all(a is b for a, b in zip(new, old, strict=True))


def with_value(arg: ir.Arg, value: ir.Value) -> ir.Arg:
    """The argument with its value replaced; the same object when the value is unchanged."""
    return arg if value is arg.value else copy_node(arg, {"value": value})


def _describe_value(value: ir.Value) -> str:
    """Like `describe`, with numbers shown as written."""
    number = _number(value)
    return f"the number {number!r}" if number is not None else describe(value)


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
    except Failed:
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
        args = [with_value(a, evaluate(a.value, env, diagnostics)) for a in item.args]
        return item if same(args, item.args) else item.model_copy(update={"args": args})
    if isinstance(item, ir.ListValue):
        items = [evaluate(v, env, diagnostics) for v in item.items]
        return item if same(items, item.items) else item.model_copy(update={"items": items})
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


def value_key(value: ir.Value) -> object:
    """A bound value as something hashable, so each (block, arguments) is measured once."""
    if isinstance(value, ir.Literal):
        return (type(value.value).__name__, value.value)
    if isinstance(value, ir.Symbol):
        return ("symbol", value.name)
    if isinstance(value, ir.ListValue):
        return ("list", tuple(value_key(v) for v in value.items))
    if isinstance(value, ir.Call):
        return ("call", value.name, tuple((a.keyword, value_key(a.value)) for a in value.args))
    return ("node", id(value))


def search_value_elsewhere(value: ir.Call, diagnostics: Diagnostics) -> None:
    """A search value that reached a checker: one the main spec file's search (netspec/space/)
    did not see, since it is written in a file imported with `use`."""
    diagnostics.error(
        "E0192",
        f"{value.name}(…) is a search-space value, which stands only in the main spec file",
        value.span,
        hint="write a plain value here, and the search value in the main file (a block's "
        "argument at its use site: stem(width=choice(16, 32)))",
    )
