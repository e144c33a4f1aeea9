"""The size of an expansion, measured before making it, against the limits."""

from __future__ import annotations

from dataclasses import dataclass

from netspec import ir
from netspec.diagnostics import Diagnostics, Span
from netspec.expand.expander import Expander, Frame
from netspec.expand.expr import Evaluator, Failed, value_key
from netspec.limits import MAX_EXPANSION_DEPTH, MAX_EXPANSION_STEPS, MAX_LAYERS


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
            except Failed:
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
        frame = Frame(prefix=None, env=env, scope=scope, origin=[], stack=stack)
        bound = self.quiet.bind(block, call, frame)
        if bound is None:
            return _Size(steps=1)
        inner_env = bound[0]
        key = (id(block), tuple(sorted((n, value_key(v)) for n, v in inner_env.items())))
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
        except Failed:
            return _Size(steps=1)
        times = value.value if isinstance(value, ir.Literal) else None
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            return _Size(steps=1)
        once = self.body(body, env, scope, stack, depth + 1)
        size = _Size(once.layers * times, max(once.steps, 1) * times + 1, once.depth + 1)
        self._within(size, span)
        return size


def within_limits(statements: list[ir.Statement], expander: Expander, scope: dict[str, ir.BlockDef],
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
