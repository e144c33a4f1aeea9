"""Text → syntax tree (`ir.SpecFile`), with a span on every node.

The grammar is Lark LALR with `propagate_positions`; a Transformer turns the parse tree into
pydantic syntax nodes. Lark's exceptions never escape: a syntax error becomes a diagnostic that
names the expected tokens in words.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import lark
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from netspec import ir, parser_cache
from netspec.diagnostics import Diagnostics, Span, did_you_mean
from netspec.limits import MAX_INTEGER, MAX_NESTING, MAX_SOURCE_BYTES

if TYPE_CHECKING:
    from netspec.syntax_hints import Unclosed

_INT = re.compile(r"[+-]?\d+")
# What no string may hold: NUL (no path or C string takes it) and a lone surrogate (no text
# encoding writes it; it is half of a UTF-16 pair, not a character).
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a tree of many small objects.

    Reference counting frees these trees, and any cycle left over is collected once the
    collector runs again; while they grow, the collector would only rescan them again and
    again, which made a 10,000-layer spec take about twice as long per layer as a 1,000-layer
    one, and every spec about twice as long as needed.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# How each terminal is named in a syntax error.
_TOKEN_WORDS: dict[str, str] = {
    "NAME": "a name",
    "SIGNED_NUMBER": "a number",
    "STRING": 'a string in "double quotes"',
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "$END": "end of file",
}


@cache
def _parser() -> Lark:
    """The LALR parser: its tables come from a JSON cache file, never a pickle
    (netspec/parser_cache.py)."""
    grammar = resources.files("netspec.grammars").joinpath("netspec.lark").read_text("utf-8")
    return parser_cache.load_or_build(
        grammar,
        {
            "parser": "lalr",
            "start": ["start", "library", "value"],
            "propagate_positions": True,
            "maybe_placeholders": True,
        },
    )


def _describe(terminal: str) -> str:
    if terminal in _TOKEN_WORDS:
        return _TOKEN_WORDS[terminal]
    for term in _parser().terminals:
        if term.name == terminal and term.pattern.type == "str":
            return f"'{term.pattern.value}'"
    return terminal.lower()


def _expected_words(expected: set[str]) -> str:
    words = sorted({_describe(t) for t in expected})
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


class _ToSyntaxTree(Transformer):
    """Builds `ir` syntax nodes; every method receives Lark's position metadata."""

    def __init__(self, file: str, diagnostics: Diagnostics) -> None:
        # No callback takes a bare token, so skip visiting tokens (each visit is a failed lookup).
        super().__init__(visit_tokens=False)
        self.file = file
        self.diagnostics = diagnostics
        self.unreadable = False
        """A number or string that cannot stand for any value (E0180, E0182): like a syntax
        error, the spec is not checked further, so no placeholder misleads a later stage."""

    # -- spans
    def _meta_span(self, meta: Any) -> Span:
        return Span(
            file=self.file,
            line=meta.line,
            column=meta.column,
            end_line=meta.end_line,
            end_column=meta.end_column,
        )

    def _token_span(self, token: Token) -> Span:
        return Span(
            file=self.file,
            line=token.line,
            column=token.column,
            end_line=token.end_line,
            end_column=token.end_column,
        )

    # -- values
    @v_args(meta=True)
    def number(self, meta: Any, children: list[Token]) -> ir.Literal:
        text = str(children[0])
        shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"
        try:
            value: int | float = int(text) if _INT.fullmatch(text) else float(text)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            value = MAX_INTEGER + 1
        if isinstance(value, int) and abs(value) > MAX_INTEGER:
            self.diagnostics.error(
                "E0180", f"integer {shown} is too large", self._meta_span(meta),
                hint=f"integers in a spec are at most {MAX_INTEGER:,} (2**63 - 1) in magnitude",
            )
            self.unreadable = True
            value = 0
        if isinstance(value, float) and not math.isfinite(value):
            self.diagnostics.error(
                "E0113", f"number {shown} is not finite", self._meta_span(meta),
                hint="write a finite number, such as 1e-3 or 1000000",
            )
            value = 0
        return ir.Literal(value=value, span=self._meta_span(meta))

    @v_args(meta=True)
    def string(self, meta: Any, children: list[Token]) -> ir.Literal:
        text = str(children[0])
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            self.diagnostics.error(
                "E0001",
                f"invalid escape sequence in string {text}",
                self._meta_span(meta),
                hint='use \\" for a quote, \\\\ for a backslash, \\n for a newline',
            )
            value = ""
        bad = _BAD_CHARACTER.search(value)
        if bad is not None:
            what = "a NUL character" if bad.group() == "\x00" else "a lone surrogate"
            self.diagnostics.error(
                "E0182",
                f"string holds {what} (\\u{ord(bad.group()):04x}) at position {bad.start() + 1}",
                self._meta_span(meta),
                hint="a string holds text: remove the escape, or write a whole character "
                "(a surrogate pair such as \\ud83d\\ude00 is one)",
            )
            self.unreadable = True
            value = ""
        return ir.Literal(value=value, span=self._meta_span(meta))

    @v_args(meta=True)
    def true(self, meta: Any, children: list[Token]) -> ir.Literal:
        return ir.Literal(value=True, span=self._meta_span(meta))

    @v_args(meta=True)
    def false(self, meta: Any, children: list[Token]) -> ir.Literal:
        return ir.Literal(value=False, span=self._meta_span(meta))

    @v_args(meta=True)
    def none(self, meta: Any, children: list[Token]) -> ir.Literal:
        return ir.Literal(value=None, span=self._meta_span(meta))

    @v_args(meta=True)
    def symbol(self, meta: Any, children: list[Token]) -> ir.Symbol:
        return ir.Symbol(name=str(children[0]), span=self._meta_span(meta))

    @v_args(meta=True)
    def list(self, meta: Any, children: list[Any]) -> ir.ListValue:
        items = [c for c in children if c is not None and not isinstance(c, Token)]
        return ir.ListValue(items=items, span=self._meta_span(meta))

    @v_args(meta=True)
    def arg(self, meta: Any, children: list[Any]) -> ir.Arg:
        return ir.Arg(value=children[0], span=children[0].span)

    @v_args(meta=True)
    def kwarg(self, meta: Any, children: list[Any]) -> ir.Arg:
        keyword, value = children
        return ir.Arg(
            keyword=str(keyword),
            keyword_span=self._token_span(keyword),
            value=value,
            span=value.span,
        )

    @v_args(meta=True)
    def call(self, meta: Any, children: list[Any]) -> ir.Call:
        name, *args = children
        return ir.Call(
            name=str(name),
            name_span=self._token_span(name),
            args=[a for a in args if a is not None],
            span=self._meta_span(meta),
        )

    # -- statements
    @v_args(meta=True)
    def layer(self, meta: Any, children: list[Any]) -> ir.LayerStmt:
        return ir.LayerStmt(call=children[0], span=self._meta_span(meta))

    @v_args(meta=True)
    def applied_layer(self, meta: Any, children: list[Any]) -> ir.LayerStmt:
        call, inputs = children
        return ir.LayerStmt(call=call, inputs=inputs, span=self._meta_span(meta))

    @v_args(meta=True)
    def named_layer(self, meta: Any, children: list[Any]) -> ir.LayerStmt:
        name, call = children
        return ir.LayerStmt(
            name=str(name), name_span=self._token_span(name), call=call,
            span=self._meta_span(meta),
        )

    @v_args(meta=True)
    def named_applied_layer(self, meta: Any, children: list[Any]) -> ir.LayerStmt:
        name, call, inputs = children
        return ir.LayerStmt(
            name=str(name), name_span=self._token_span(name), call=call, inputs=inputs,
            span=self._meta_span(meta),
        )

    def tensor_args(self, children: list[Any]) -> list[ir.Symbol]:
        return [c for c in children if isinstance(c, ir.Symbol)]

    @v_args(meta=True)
    def setting(self, meta: Any, children: list[Any]) -> ir.Setting:
        key, value = children
        return ir.Setting(
            key=str(key), key_span=self._token_span(key), value=value,
            span=self._meta_span(meta),
        )

    # Sections come back as (keyword, span, fields of `SpecFile`) and are assembled in `model`.
    @v_args(meta=True)
    def input(self, meta: Any, children: list[Any]) -> tuple[str, Span, dict[str, Any]]:
        _keyword, name, shape = children
        statement = ir.InputStmt(
            name=None if name is None else str(name),
            name_span=None if name is None else self._token_span(name),
            shape=shape,
            span=self._meta_span(meta),
        )
        return ("input", self._meta_span(meta), {"inputs": [statement]})

    @v_args(meta=True)
    def layers(self, meta: Any, children: list[Any]) -> tuple[str, Span, dict[str, Any]]:
        span = self._meta_span(meta)
        return ("layers", span, {"layers": children[1:], "layers_span": span})

    @v_args(meta=True)
    def output(self, meta: Any, children: list[Any]) -> tuple[str, Span, dict[str, Any]]:
        value = children[1]
        items = value.items if isinstance(value, ir.ListValue) else [value]
        symbols = self._symbols(items, "an output is the name of a layer", "write output [a, b]")
        span = self._meta_span(meta)
        return ("output", span, {"outputs": symbols, "outputs_span": span})

    @v_args(meta=True)
    def loss(self, meta: Any, children: list[Any]) -> tuple[str, Span, dict[str, Any]]:
        span = self._meta_span(meta)
        return ("loss", span, {"loss": children[1], "loss_span": span})

    @v_args(meta=True)
    def loss_by_output(self, meta: Any, children: list[Any]) -> tuple[str, Span, dict[str, Any]]:
        losses = []
        for setting in self._settings(children):
            value = setting.value
            if isinstance(value, ir.Symbol):
                value = ir.Call(name=value.name, name_span=value.span, span=value.span)
            if not isinstance(value, ir.Call):
                self.diagnostics.error(
                    "E0113", "a loss is a name or a call such as huber(delta=1.0)", value.span,
                    hint="write loss { output_name = mean_squared_error }",
                )
                continue
            losses.append(
                ir.OutputLoss(
                    output=setting.key, output_span=setting.key_span, call=value,
                    span=setting.span,
                )
            )
        span = self._meta_span(meta)
        return ("loss", span, {"losses": losses, "loss_span": span})

    @v_args(meta=True)
    def loss_weights(self, meta: Any, children: list[Any]) -> tuple[str, Span, dict[str, Any]]:
        weights = [
            ir.OutputWeight(
                output=s.key, output_span=s.key_span, value=s.value, span=s.span
            )
            for s in self._settings(children)
        ]
        span = self._meta_span(meta)
        return ("loss_weights", span, {"loss_weights": weights, "loss_weights_span": span})

    @v_args(meta=True)
    def optimizer(self, meta: Any, children: list[Any]) -> tuple[str, Span, dict[str, Any]]:
        return ("optimizer", self._meta_span(meta), {"optimizer": children[1]})

    @v_args(meta=True)
    def metrics(self, meta: Any, children: list[Any]) -> tuple[str, Span, dict[str, Any]]:
        value = children[1]
        items = value.items if isinstance(value, ir.ListValue) else [value]
        symbols = self._symbols(items, "a metric is a name such as accuracy", "write metrics [accuracy]")
        return ("metrics", self._meta_span(meta), {"metrics": symbols})

    @v_args(meta=True)
    def metrics_by_output(
        self, meta: Any, children: list[Any]
    ) -> tuple[str, Span, dict[str, Any]]:
        per_output = []
        for setting in self._settings(children):
            value = setting.value
            items = value.items if isinstance(value, ir.ListValue) else [value]
            symbols = self._symbols(
                items, "a metric is a name such as accuracy",
                "write metrics { output_name = [accuracy] }",
            )
            per_output.append(
                ir.OutputMetrics(
                    output=setting.key, output_span=setting.key_span, metrics=symbols,
                    span=setting.span,
                )
            )
        return ("metrics", self._meta_span(meta), {"output_metrics": per_output})

    @v_args(meta=True)
    def train(self, meta: Any, children: list[Any]) -> tuple[str, Span, dict[str, Any]]:
        span = self._meta_span(meta)
        return ("train", span, {"train": self._settings(children), "train_span": span})

    @staticmethod
    def _settings(children: list[Any]) -> list[ir.Setting]:
        return [c for c in children if isinstance(c, ir.Setting)]

    def _symbols(self, items: list[ir.Value], message: str, hint: str) -> list[ir.Symbol]:
        """The names in a list; anything else is reported."""
        symbols = []
        for item in items:
            if isinstance(item, ir.Symbol):
                symbols.append(item)
            elif isinstance(item, ir.Literal) and isinstance(item.value, str) and item.value:
                self.diagnostics.error(
                    "E0113", message, item.span,
                    hint=f"a name takes no quotes: write {item.value}",
                )
            else:
                self.diagnostics.error("E0113", message, item.span, hint=hint)
        return symbols

    @v_args(meta=True)
    def model(self, meta: Any, children: list[Any]) -> ir.SpecFile:
        _keyword, name, *sections = children
        fields: dict[str, Any] = {}
        seen: dict[str, Span] = {}
        for keyword, span, payload in sections:
            if keyword == "input":  # one section per input
                fields.setdefault("inputs", []).extend(payload["inputs"])
                continue
            if keyword in seen:
                first = seen[keyword]
                self.diagnostics.error(
                    "E0131",
                    f"section '{keyword}' is given twice (first at line {first.line})",
                    span,
                    hint=f"merge the two '{keyword}' sections into one",
                )
                continue
            seen[keyword] = span
            fields.update(payload)
        return ir.SpecFile(
            model_name=str(name), name_span=self._token_span(name),
            span=self._meta_span(meta), **fields,
        )

    # -- expressions, blocks and imports
    @v_args(meta=True)
    def binary(self, meta: Any, children: list[Any]) -> ir.BinaryOp:
        left, op, right = children
        return ir.BinaryOp(op=str(op), left=left, right=right, span=self._meta_span(meta))

    @v_args(meta=True)
    def unary(self, meta: Any, children: list[Any]) -> ir.UnaryOp:
        op, operand = children
        return ir.UnaryOp(op=str(op), operand=operand, span=self._meta_span(meta))

    @v_args(meta=True)
    def repeat(self, meta: Any, children: list[Any]) -> ir.RepeatStmt:
        _keyword, count, *body = children
        return ir.RepeatStmt(count=count, body=body, span=self._meta_span(meta))

    @v_args(meta=True)
    def if_statement(self, meta: Any, children: list[Any]) -> ir.IfStmt:
        _keyword, condition, then, *rest = children
        otherwise = rest[1] if rest else []
        if isinstance(otherwise, ir.IfStmt):  # `else if …`
            otherwise = [otherwise]
        return ir.IfStmt(
            condition=condition, then=then, otherwise=otherwise, span=self._meta_span(meta)
        )

    def branch(self, children: list[Any]) -> list[ir.Statement]:
        return list(children)

    @v_args(meta=True)
    def use(self, meta: Any, children: list[Any]) -> ir.Use:
        path = self.string(meta, [children[1]])
        return ir.Use(path=str(path.value), span=self._token_span(children[1]))

    @v_args(meta=True)
    def param(self, meta: Any, children: list[Any]) -> ir.Param:
        name, *default = children
        return ir.Param(
            name=str(name), default=default[0] if default else None, span=self._token_span(name)
        )

    def block_params(self, children: list[Any]) -> tuple[str, list[ir.Param]]:
        return ("params", [c for c in children if c is not None])

    def block_inputs(self, children: list[Any]) -> tuple[str, list[ir.Symbol]]:
        return ("inputs", [c for c in children if c is not None])

    @v_args(meta=True)
    def block(self, meta: Any, children: list[Any]) -> ir.BlockDef:
        _keyword, name, *rest = children
        parts = dict(c for c in rest if isinstance(c, tuple))
        body = [c for c in rest if isinstance(c, ir.LayerStmt | ir.RepeatStmt | ir.IfStmt)]
        return ir.BlockDef(
            name=str(name), name_span=self._token_span(name), params=parts.get("params", []),
            inputs=parts.get("inputs"), body=body, span=self._meta_span(meta),
        )

    def start(self, children: list[Any]) -> ir.SpecFile:
        (model,) = [c for c in children if isinstance(c, ir.SpecFile)]
        return model.model_copy(
            update={
                "uses": [c for c in children if isinstance(c, ir.Use)],
                "blocks": [c for c in children if isinstance(c, ir.BlockDef)],
            }
        )

    @v_args(meta=True)
    def library(self, meta: Any, children: list[Any]) -> ir.Library:
        span = (
            self._meta_span(meta)
            if children
            else Span(file=self.file, line=1, column=1, end_line=1, end_column=1)
        )
        return ir.Library(
            uses=[c for c in children if isinstance(c, ir.Use)],
            blocks=[c for c in children if isinstance(c, ir.BlockDef)],
            span=span,
        )


LIBRARY_HOLDS = "a file imported with 'use' holds only 'use' lines and block definitions"
"""The hint of a syntax error where an imported file has a model."""


def _syntax_error(
    error: UnexpectedInput, file: str, source: str, diagnostics: Diagnostics,
    library: bool = False,
):
    line = max(getattr(error, "line", 1) or 1, 1)
    column = max(getattr(error, "column", 1) or 1, 1)
    expected: set[str] = set()
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END":
            found = "end of file"
            # Just after the last character that is not whitespace; lines count '\n' as Lark does.
            text = source.rstrip()
            line = text.count("\n") + 1
            column = len(text) - (text.rfind("\n") + 1) + 1
        else:
            found = f"'{token}'"
        width = max(len(str(token)), 1) if token.type != "$END" else 0  # nothing to underline
        expected = set(error.expected) - {"COMMENT", "WS"}
    elif isinstance(error, UnexpectedCharacters):
        found = f"character {source[error.pos_in_stream]!r}"
        width = 1
        expected = set(error.allowed or ())
    elif isinstance(error, UnexpectedEOF):
        found = "end of file"
        width = 1
        expected = set(error.expected)
    else:  # pragma: no cover - Lark raises only the three above
        found, width = "this", 1
    # LALR merges the lookaheads of states that look alike, so Lark's `expected` can name tokens
    # that are not valid here (']' after `Dense(10`); the interactive parser knows exactly.
    state = getattr(error, "interactive_parser", None)
    if state is not None:
        with contextlib.suppress(Exception):
            expected = set(state.accepts()) - {"COMMENT", "WS"} or expected
    message = f"unexpected {found}"
    if expected:
        message += f"; expected {_expected_words(expected)}"
    hint = None
    suggestion = None
    if isinstance(error, UnexpectedToken) and error.token.type == "NAME":  # e.g. `optimiser`
        keywords = [
            t.pattern.value
            for t in _parser().terminals
            if t.name in expected and t.pattern.type == "str" and t.pattern.value.isalpha()
        ]
        suggestion = did_you_mean(str(error.token), keywords)
    from netspec.syntax_hints import habit_hint, unclosed_block  # only for a mistake

    habit = None
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        habit = habit_hint(source, error.token.start_pos, error.token.type, expected)
    elif isinstance(error, UnexpectedCharacters):
        habit = habit_hint(source, error.pos_in_stream, "CHAR", expected)
    unclosed = unclosed_block(source, line) if "RBRACE" in expected else None
    if library and isinstance(error, UnexpectedToken) and error.token.type == "MODEL":
        hint = LIBRARY_HOLDS
    elif suggestion:
        hint = f"did you mean '{suggestion}'?"
    elif habit:
        hint = habit
    elif isinstance(error, UnexpectedCharacters) and source[error.pos_in_stream] == '"':
        hint = 'a string ends with " on the same line; write \\" for a quote inside it'
    elif unclosed is not None and unclosed.ends_line:
        _unclosed_error(unclosed, file, source, diagnostics)
        return
    elif "RBRACE" in expected and found == "end of file":
        hint = "a block is not closed: add the missing '}'" + (
            f" of '{unclosed.opener} {{' (line {unclosed.open_line})" if unclosed else ""
        )
    elif "RBRACE" in expected:
        hint = "check that every '{' has its '}' and every layer is a name or a call"
    elif "RPAR" in expected or "COMMA" in expected:
        hint = "separate arguments with ',' and close the call with ')'"
    span = Span(file=file, line=line, column=column, end_line=line, end_column=column + width)
    diagnostics.error("E0001", message, span, hint=hint)


def _unclosed_error(
    unclosed: Unclosed, file: str, source: str, diagnostics: Diagnostics
) -> None:
    """A `{` left open, reported where its block ends by the layout, with a note on the `{`:
    the parser itself only fails later, where the statements stop looking like layers."""
    line_text = source.split("\n")[unclosed.ends_line - 1]
    word = re.match(r"\S+", line_text[unclosed.ends_column - 1 :])
    end = unclosed.ends_column + (len(word.group(0)) if word else 1)
    span = Span(
        file=file, line=unclosed.ends_line, column=unclosed.ends_column,
        end_line=unclosed.ends_line, end_column=end,
    )
    opened = Span(
        file=file, line=unclosed.open_line, column=unclosed.open_column,
        end_line=unclosed.open_line, end_column=unclosed.open_column + 1,
    )
    block = f"'{unclosed.opener} {{'"
    diagnostics.error(
        "E0001",
        f"missing '}}': the block {block} of line {unclosed.open_line} is not closed before "
        "this line",
        span,
        hint=f"add '}}' after line {unclosed.last_line}, at the end of the block",
        related=[(opened, f"the block {block} opens here")],
    )


def _start_span(file: str) -> Span:
    return Span(file=file, line=1, column=1, end_line=1, end_column=1)


def too_large(size: int, file: str, diagnostics: Diagnostics, what: str = "spec") -> None:
    """E0186: a text over `MAX_SOURCE_BYTES` is refused before it is parsed."""
    diagnostics.error(
        "E0186",
        f"the {what} {file} is too large ({size:,} bytes or more)",
        _start_span(file),
        hint=f"a spec file holds at most {MAX_SOURCE_BYTES:,} bytes; write long stacks of "
        "layers with repeat or blocks",
    )


def _too_deep(tree: lark.Tree, file: str, diagnostics: Diagnostics) -> bool:
    """E0181 where the syntax tree first nests deeper than `MAX_NESTING` (found without
    recursion: the transformer and the stages after it recurse once per level)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = node.meta
            line, column = (1, 1) if meta.empty else (meta.line, meta.column)
            span = Span(file=file, line=line, column=column, end_line=line, end_column=column + 1)
            diagnostics.error(
                "E0181",
                f"brackets, operators or {{ }} bodies nest more than {MAX_NESTING} levels deep here",
                span,
                hint="flatten the expression, or move nested statements into a block",
            )
            return True
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, lark.Tree))
    return False


def _parse(
    text: str, start: str, file: str, diagnostics: Diagnostics, library: bool = False
) -> Any:
    """The syntax tree of `text` from rule `start`, transformed; None after a diagnostic."""
    if len(text) > MAX_SOURCE_BYTES:
        too_large(len(text), file, diagnostics, "value" if start == "value" else "spec")
        return None
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as error:
        _syntax_error(error, file, text, diagnostics, library=library)
        return None
    if _too_deep(tree, file, diagnostics):
        return None
    transformer = _ToSyntaxTree(file, diagnostics)
    result = transformer.transform(tree)
    return None if transformer.unreadable else result


def parse_tree(
    text: str, file: str, diagnostics: Diagnostics
) -> tuple[lark.Tree, bool] | None:
    """Lark's parse tree of a spec, or of a file imported with `use` (True with it), for tools
    that keep the layout (`netspec fmt`); None after the usual syntax diagnostic."""
    if len(text) > MAX_SOURCE_BYTES:
        too_large(len(text), file, diagnostics)
        return None
    library = False
    with paused_gc():
        try:
            tree = _parser().parse(text, start="start")
        except UnexpectedInput as error:
            try:  # a file without a model: blocks for `use`
                tree, library = _parser().parse(text, start="library"), True
            except UnexpectedInput:
                _syntax_error(error, file, text, diagnostics)
                return None
    if _too_deep(tree, file, diagnostics):
        return None
    return tree, library


def syntax_of(tree: lark.Tree, file: str, diagnostics: Diagnostics) -> Any:
    """The syntax nodes (`ir.SpecFile` or `ir.Library`) of a tree from `parse_tree`; None
    after a diagnostic for a number or string no value stands for (E0180, E0182)."""
    with paused_gc():
        transformer = _ToSyntaxTree(file, diagnostics)
        result = transformer.transform(tree)
    return None if transformer.unreadable else result


def parse_value(text: str, file: str, diagnostics: Diagnostics) -> ir.Value | None:
    """Parse one value in spec syntax (e.g. a `--data` option); None on a syntax error."""
    return _parse(text, "value", file, diagnostics)


def parse(source: str, file: str, diagnostics: Diagnostics) -> ir.SpecFile | None:
    """Parse a spec; on a syntax error add a diagnostic and return None."""
    with paused_gc():
        return _parse(source, "start", file, diagnostics)


def parse_library(source: str, file: str, diagnostics: Diagnostics) -> ir.Library | None:
    """Parse a file imported with `use` (blocks only); None on a syntax error."""
    with paused_gc():
        return _parse(source, "library", file, diagnostics, library=True)


def read_source(path: str | os.PathLike[str], regular_only: bool = False) -> str:
    """A spec file's text, reading at most `MAX_SOURCE_BYTES` + 1 bytes.

    Raises `SourceTooLarge`, `NotRegularFile` (with `regular_only`: an import must be a
    plain file, never a FIFO or a device that blocks or never ends), OSError or
    UnicodeDecodeError. The file is opened without blocking, so a FIFO is refused, not
    waited on.
    """
    import stat

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) if regular_only else os.O_RDONLY
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if regular_only and not stat.S_ISREG(mode):
            raise NotRegularFile(_file_kind(mode))
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory")
        data = handle.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceTooLarge(len(data))
    return data.decode("utf-8")


class SourceTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class NotRegularFile(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _file_kind(mode: int) -> str:
    import stat

    for test, kind in (
        (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def read_spec(path: str | os.PathLike[str], diagnostics: Diagnostics) -> str | None:
    """A spec file's text, or None with E0002 (or the size limit's error) in `diagnostics`."""
    try:
        return read_source(path)
    except SourceTooLarge as error:
        too_large(error.size, str(path), diagnostics)
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        diagnostics.error(
            "E0002",
            f"cannot read {path}: {reason}",
            Span(file=str(path), line=1, column=1, end_line=1, end_column=1),
            hint="check the path; spec files are UTF-8 text",
        )
    return None
