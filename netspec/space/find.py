"""Finding a spec's search space: every `choice`/`range`/`log_range`/`int_range` in its text.

A dimension is one written search value (a value inside a block used five times is one
dimension: every instance takes its value). Its name says where it is written, so that it
reads well in `--set`, in tune's table and in messages:

* a layer argument: the layer's name, then the parameter's (`h.units` for
  `h = Dense(choice(…))`; `dense_1.units` for an unnamed one, numbered as `summary` numbers
  it; a positional argument by its parameter's name in the catalogue);
* a block's use site: the instance's name and the block parameter (`stem.width`); a block
  parameter's default: the block and the parameter (`stem.width` too);
* inside a block's body: the block, the layer as the block names it, the parameter
  (`stem.dense.units`);
* `repeat N { … }` and `repeat=` : the (first) repeated statement's name and `.repeat`;
* `optimizer.lr`, `loss.delta`, `loss.<output>.delta`, `loss_weights.<output>`,
  `train.batch_size`, `input.shape.0`; an `if` condition: `if_line<N>`;
* a value inside a list or a call gets the item's index or the argument's name
  (`conv2d.kernel_size.0`, `train.lr_schedule.every`).

Unnamed layers are numbered as if each written statement made one layer (a `repeat` body
counted once), so a name never depends on the values the space takes. A name taken twice
gets `_2`, `_3`, … in source order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from netspec import catalogue, ir
from netspec.diagnostics import Diagnostics, Span
from netspec.naming import RESERVED_NAMES, Namer, snake_case
from netspec.parse import parse
from netspec.space.model import Dimension, SearchSpace
from netspec.space.text import Text

__all__ = ["find_space", "search_calls"]


def find_space(source: str, file: str, diagnostics: Diagnostics) -> SearchSpace | None:
    """The spec's search space (no dimensions for a plain spec); None, with diagnostics,
    when the text does not parse or a search value is malformed. Parses only.

    A parse error the parser recovers from (a search value where a metric name belongs, E0113)
    leaves a tree without what it dropped: no point of it is the spec written, so there is
    no space either."""
    errors = diagnostics.errors_reported
    spec = parse(source, file, diagnostics)
    if spec is None or diagnostics.errors_reported > errors:
        return None
    finder = _Finder(Text(source), file, diagnostics)
    finder.spec(spec)
    if not finder.ok:
        return None
    dimensions = sorted(finder.found, key=lambda d: (d.span.line, d.span.column))
    named = _unique_names([d.name for d in dimensions])
    dimensions = [
        Dimension(
            name=name, kind=d.kind, choices=d.choices, low=d.low, high=d.high, file=d.file,
            span=d.span, options=d.options, call=d.call,
        )
        for name, d in zip(named, dimensions, strict=True)
    ]
    return SearchSpace(source=source, file=file, dimensions=tuple(dimensions), tree=spec)


def search_calls(node: object) -> list[ir.Call]:
    """Every search-value call in a syntax tree (or part of one), in no particular order."""
    found: list[ir.Call] = []
    _collect(node, found)
    return found


def _collect(node: object, found: list[ir.Call]) -> None:
    if isinstance(node, ir.Call):
        if node.name in ir.SEARCH_FUNCTIONS:
            found.append(node)
        for arg in node.args:
            _collect(arg.value, found)
        return
    if isinstance(node, list):
        for item in node:
            _collect(item, found)
        return
    if isinstance(node, ir.Node):
        for name in type(node).model_fields:
            if name != "span" and not name.endswith("_span"):
                _collect(getattr(node, name), found)


def _unique_names(names: list[str]) -> list[str]:
    """`names` with each repeat suffixed `_2`, `_3`, … (first one kept)."""
    taken = set(names)
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0) + 1
        seen[name] = n
        if n == 1:
            out.append(name)
            continue
        k = n
        while f"{name}_{k}" in taken:
            k += 1
        taken.add(f"{name}_{k}")
        out.append(f"{name}_{k}")
    return out


@dataclass
class _Finder:
    text: Text
    file: str
    diagnostics: Diagnostics
    found: list[Dimension] = field(default_factory=list)
    ok: bool = True
    blocks: dict[str, ir.BlockDef] = field(default_factory=dict)

    # -- the spec's parts
    def spec(self, spec: ir.SpecFile) -> None:
        self.blocks = {b.name: b for b in spec.blocks}
        for block in spec.blocks:
            for param in block.params:
                if param.default is not None:
                    self.value(param.default, f"{block.name}.{param.name}")
            self.statements(block.body, block.name, _Names(block_local=True))
        for statement in spec.inputs or []:
            self.value(statement.shape, f"{statement.name or 'input'}.shape")
        if spec.layers is not None:
            explicit = set(_explicit_names(spec.layers))
            self.statements(spec.layers, None, _Names(Namer(explicit)))
        if spec.loss is not None:
            self.call_args(spec.loss, "loss", "loss")
        for loss in spec.losses or []:
            self.call_args(loss.call, f"loss.{loss.output}", "loss")
        for weight in spec.loss_weights or []:
            self.value(weight.value, f"loss_weights.{weight.output}")
        if spec.optimizer is not None:
            self.call_args(spec.optimizer, "optimizer", "optimizer")
        for setting in spec.train or []:
            self.value(setting.value, f"train.{setting.key}")

    def statements(self, statements: list[ir.Statement], prefix: str | None, names: _Names) -> str | None:
        """Visit statements; the name of the first one (for a `repeat` that holds them)."""
        first = None
        for statement in statements:
            if isinstance(statement, ir.RepeatStmt):
                inner = self.statements(statement.body, prefix, names)
                self.value(statement.count, f"{inner}.repeat" if inner else _full(prefix, "repeat"))
                first = first or inner
            elif isinstance(statement, ir.IfStmt):
                self.value(statement.condition, _full(prefix, f"if_line{statement.span.line}"))
                inner = self.statements(statement.then, prefix, names)
                other = self.statements(statement.otherwise, prefix, names)
                first = first or inner or other
            else:
                name = self.layer(statement, prefix, names)
                first = first or name
        return first

    def layer(self, statement: ir.LayerStmt, prefix: str | None, names: _Names) -> str:
        call = statement.call
        block = self.blocks.get(call.name)
        if block is not None:
            own = statement.name or names.instance(block.name)
            positional = tuple(p.name for p in block.params)
        else:
            entry = catalogue.lookup("layer", call.name)
            own = statement.name or names.layer(snake_case(entry.kind if entry else call.name))
            positional = entry.positional if entry is not None else ()
        full = _full(prefix, own)
        self.args(call.args, full, positional)
        return full

    def call_args(self, call: ir.Call, base: str, *families: str) -> None:
        """A call's arguments, a positional one named by the first family that knows it."""
        for family in families:
            entry = catalogue.lookup(family, call.name)
            if entry is not None:
                self.args(call.args, base, entry.positional)
                return
        self.args(call.args, base, ())

    def args(self, args: list[ir.Arg], base: str, positional: tuple[str, ...]) -> None:
        index = 0
        for arg in args:
            if arg.keyword is not None:
                key = arg.keyword
            else:
                key = positional[index] if index < len(positional) else str(index)
                index += 1
            self.value(arg.value, f"{base}.{key}")

    # -- values
    def value(self, value: ir.Value, base: str) -> None:
        if isinstance(value, ir.Call):
            if value.name in ir.SEARCH_FUNCTIONS:
                self.search(value, base)
                return
            self.call_args(value, base, "data", "schedule", "loss", "initializer")
        elif isinstance(value, ir.ListValue):
            for i, item in enumerate(value.items):
                self.value(item, f"{base}.{i}")
        elif isinstance(value, ir.BinaryOp):
            self.value(value.left, base)
            self.value(value.right, base)
        elif isinstance(value, ir.UnaryOp):
            self.value(value.operand, base)

    def search(self, call: ir.Call, name: str) -> None:
        nested = [c for a in call.args for c in search_calls(a.value)]
        if nested:
            self.error(
                f"search-space values do not nest: {nested[0].name}(…) inside {call.name}(…)",
                nested[0].span, "write one choice of plain values, e.g. choice(16, 32, 64)",
            )
            return
        keyword = next((a for a in call.args if a.keyword is not None), None)
        if keyword is not None:
            self.error(
                f"{call.name} takes its values by position, not '{keyword.keyword}='",
                keyword.keyword_span or keyword.span, _EXAMPLES[call.name],
            )
            return
        values = [a.value for a in call.args]
        if call.name == "choice":
            self.choice(call, values, name)
        else:
            self.bounds(call, values, name)

    def choice(self, call: ir.Call, options: list[ir.Value], name: str) -> None:
        if not options:
            self.error("choice() has no options", call.span, "e.g. choice(32, 64, 128)")
            return
        if len(options) == 1:
            self.diagnostics.warning(
                "W0193", "a choice of one value is not a search", call.span,
                hint=f"write the value itself: {self.text.of(options[0].span)}",
            )
        self.found.append(
            Dimension(
                name=name, kind="choice",
                choices=tuple(self.text.of(o.span) for o in options),
                low=None, high=None, file=self.file, span=call.span,
                options=tuple(options), call=call,
            )
        )

    def bounds(self, call: ir.Call, values: list[ir.Value], name: str) -> None:
        kind = call.name
        if len(values) != 2:
            self.error(
                f"{kind} takes two numbers, low and high; got {len(values)}", call.span,
                _EXAMPLES[kind],
            )
            return
        numbers = [_number(v) for v in values]
        for value, number in zip(values, numbers, strict=True):
            if number is None:
                self.error(f"{kind}'s bounds are plain numbers", value.span, _EXAMPLES[kind])
                return
            if kind == "int_range" and not isinstance(number, int):
                self.error(
                    f"int_range's bounds are whole numbers, got {self.text.of(value.span)}",
                    value.span, "e.g. int_range(1, 4) takes 1, 2, 3 or 4; range(…) takes floats",
                )
                return
        low, high = numbers
        assert low is not None and high is not None
        if kind == "int_range" and low == high:
            self.diagnostics.warning(
                "W0193", f"int_range({low}, {high}) takes one value only", call.span,
                hint=f"write the value itself: {low}",
            )
        elif low >= high and not (kind == "int_range" and low == high):
            self.error(
                f"{kind}'s low bound {_shown(low)} is not below its high bound {_shown(high)}",
                call.span, f"write the lower bound first: {kind}({_shown(high)}, {_shown(low)})"
                if low > high else "a range of one value is that value: write it alone",
            )
            return
        if kind == "log_range" and low <= 0:
            self.error(
                f"log_range's bounds must be above 0, got {_shown(low)}", values[0].span,
                "a log scale starts above 0, e.g. log_range(1e-5, 1e-2); range(…) takes 0",
            )
            return
        if kind != "int_range":
            low, high = float(low), float(high)
        self.found.append(
            Dimension(
                name=name, kind=kind, choices=None, low=low, high=high, file=self.file,
                span=call.span, call=call,
            )
        )

    def error(self, message: str, span: Span, hint: str) -> None:
        self.diagnostics.error("E0191", message, span, hint=hint)
        self.ok = False


_EXAMPLES = {
    "choice": "e.g. choice(32, 64, 128)",
    "range": "e.g. range(0.1, 0.5): any float from 0.1 to 0.5",
    "log_range": "e.g. log_range(1e-4, 1e-2): floats spread evenly on a log scale",
    "int_range": "e.g. int_range(1, 4): 1, 2, 3 or 4",
}


def _shown(number: float | int) -> str:
    return repr(number) if isinstance(number, float) else str(number)


def _number(value: ir.Value) -> int | float | None:
    """A plain number as written (`3`, `-0.5`, `+2`); None for anything else."""
    sign = 1
    while isinstance(value, ir.UnaryOp) and value.op in ("-", "+"):
        sign = -sign if value.op == "-" else sign
        value = value.operand
    if isinstance(value, ir.Literal) and isinstance(value.value, int | float):
        if isinstance(value.value, bool) or not math.isfinite(value.value):
            return None
        return sign * value.value
    return None


def _full(prefix: str | None, name: str) -> str:
    return name if prefix is None else f"{prefix}.{name}"


def _explicit_names(statements: list[ir.Statement]) -> list[str]:
    names = []
    for statement in statements:
        if isinstance(statement, ir.RepeatStmt):
            names += _explicit_names(statement.body)
        elif isinstance(statement, ir.IfStmt):
            names += _explicit_names(statement.then) + _explicit_names(statement.otherwise)
        elif statement.name is not None:
            names.append(statement.name)
    return names


@dataclass
class _Names:
    """Names for unnamed statements: Keras' numbering over the model (as `summary` shows
    it), or a block's own numbering inside its body."""

    namer: Namer = field(default_factory=lambda: Namer(set()))
    block_local: bool = False
    instances: Namer = field(default_factory=lambda: Namer(set()))

    def layer(self, base: str) -> str:
        if self.block_local:
            return self.namer.fresh(base)
        return self.namer.fresh(base, reserved=RESERVED_NAMES)

    def instance(self, block: str) -> str:
        return self.instances.fresh(block)
