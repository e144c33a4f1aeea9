"""Expansion: block uses instantiated, repeats unrolled, `if`s chosen, names prefixed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from netspec import catalogue, ir
from netspec.diagnostics import Diagnostics, Related, Span, did_you_mean
from netspec.expand.definitions import USE_SITE_ARGS
from netspec.expand.expr import (
    Evaluator,
    Failed,
    copy_node,
    describe,
    evaluate,
    same,
    search_value_elsewhere,
    value_key,
    with_value,
)
from netspec.naming import RESERVED_NAMES, Namer, snake_case


def _note(span: Span, message: str) -> Related:
    """`Related(span=span, message=message)`, both already of their fields' types: one per
    block instance, and a 65,536-layer nest of blocks makes 131,071 instances."""
    note = Related.__new__(Related)
    object.__setattr__(note, "__dict__", {"span": span, "message": message})
    object.__setattr__(note, "__pydantic_extra__", None)
    object.__setattr__(note, "__pydantic_fields_set__", {"span", "message"})
    object.__setattr__(note, "__pydantic_private__", None)
    return note


_BLOCK_USE_FIELDS = {"span", "name", "block"}
"""Every BlockUse's fields-set: one set for all (a frozen model never adds to it; a copy
copies it), not 216 bytes more per instance."""


def _block_use(span: Span, name: str, block: str) -> ir.BlockUse:
    """`ir.BlockUse(span=span, name=name, block=block)`, unvalidated like `_note`: one per
    block instance, of fields already of their types."""
    use = ir.BlockUse.__new__(ir.BlockUse)
    object.__setattr__(use, "__dict__", {"span": span, "name": name, "block": block})
    object.__setattr__(use, "__pydantic_extra__", None)
    object.__setattr__(use, "__pydantic_fields_set__", _BLOCK_USE_FIELDS)
    object.__setattr__(use, "__pydantic_private__", None)
    return use


@dataclass
class _Namer(Namer):
    """Unique layer names within one instance (or the model), numbered like Keras'."""

    explicit: dict[str, Span] = field(default_factory=dict)
    copies: set[tuple[str, Span]] = field(default_factory=set)


@dataclass
class Frame:
    """Where statements are being expanded: the model itself or one block instance."""

    prefix: str | None
    env: dict[str, ir.Value]
    scope: dict[str, ir.BlockDef]
    origin: list[Related]
    stack: tuple[ir.BlockDef, ...]
    blocks: ir.BlockPath = ()
    """The instances being expanded, outermost first: every statement made here shares it."""
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
    def body(self, statements: list[ir.Statement], frame: Frame) -> None:
        for statement in statements:
            with self.diagnostics.related(frame.origin):
                if isinstance(statement, ir.RepeatStmt):
                    self.repeat(statement.count, statement.body, frame, statement.span)
                elif isinstance(statement, ir.IfStmt):
                    self.if_statement(statement, frame)
                else:
                    self.statement(statement, frame)

    def repeat(
        self, count: ir.Value, body: list[ir.Statement], frame: Frame, span: Span
    ) -> None:
        try:
            value = Evaluator(frame.env, self.diagnostics).value(count)
        except Failed:
            self.ok = False
            return
        if isinstance(value, ir.Call) and value.name in ir.SEARCH_FUNCTIONS:
            search_value_elsewhere(value, self.diagnostics)
            self.ok = False
            return
        times = value.value if isinstance(value, ir.Literal) else None
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            shown = repr(times) if isinstance(value, ir.Literal) else describe(value)
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

    def if_statement(self, statement: ir.IfStmt, frame: Frame) -> None:
        """Expand the branch the condition chooses; a tensor name only one branch defines
        is not visible after the if, whichever branch ran, so no use depends on the choice."""
        try:
            chosen = Evaluator(frame.env, self.diagnostics).boolean(
                statement.condition, "an if condition"
            )
        except Failed:
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

    def statement(self, statement: ir.LayerStmt, frame: Frame) -> None:
        call = statement.call
        repeat = None
        for arg in call.args:
            if arg.keyword == "repeat":
                repeat = arg
                break
        if repeat is not None:
            rest = [a for a in call.args if a is not repeat]
            once = copy_node(statement, {"call": copy_node(call, {"args": rest})})
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

    def layer(self, statement: ir.LayerStmt, frame: Frame) -> None:
        call = statement.call
        args = []
        for arg in call.args:
            if frame.trainable is not None and arg.keyword == "trainable":
                continue  # the use site's trainable= applies to the whole instance
            args.append(with_value(arg, self._value(arg.value, frame)))
        if frame.trainable is not None:
            args.append(frame.trainable)
        inputs = self._tensors(statement, frame)
        name, name_span = self._name(statement, frame)
        self.out.append(
            copy_node(
                statement,
                {
                    "name": name,
                    "name_span": name_span,
                    "call": call if same(args, call.args) else copy_node(call, {"args": args}),
                    "inputs": inputs,
                    "origin": list(frame.origin),
                    "blocks": frame.blocks,
                },
            )
        )
        if statement.name is not None:
            frame.tensors[statement.name] = name
        frame.last = name

    def _tensors(self, statement: ir.LayerStmt, frame: Frame) -> list[ir.Symbol] | None:
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
            mapped.append(copy_node(symbol, {"name": final}))
        return mapped

    def _value(self, value: ir.Value, frame: Frame) -> ir.Value:
        return evaluate(value, frame.env, self.diagnostics)

    def _name(self, statement: ir.LayerStmt, frame: Frame) -> tuple[str, Span]:
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

    def _claim(self, statement: ir.LayerStmt, frame: Frame) -> bool:
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
    def instance(self, statement: ir.LayerStmt, block: ir.BlockDef, frame: Frame) -> None:
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
        failed = (id(block), tuple(sorted((n, value_key(v)) for n, v in env.items())) if env else ())
        if failed in self.failed:
            self.ok = False  # an instance with these arguments had errors: the same again
            return
        inputs = self._instance_inputs(statement, block, frame)
        if inputs is None:
            self.ok = False
            return
        prefix = self._prefix(statement, block, frame)
        note = _note(call.span, f"in block '{block.name}' used here (as '{prefix}')")
        inner = Frame(
            prefix=prefix,
            env=env,
            scope=self.scopes[block.span.file],
            origin=[note, *frame.origin],
            stack=(*frame.stack, block),
            stack_ids=(*frame.stack_ids, id(block)),
            blocks=(*frame.blocks, _block_use(call.span, prefix, block.name)),
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
        self, statement: ir.LayerStmt, block: ir.BlockDef, frame: Frame
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

    def _prefix(self, statement: ir.LayerStmt, block: ir.BlockDef, frame: Frame) -> str:
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
        self, block: ir.BlockDef, call: ir.Call, frame: Frame
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
            except Failed:
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
                    except Failed:
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


def collect_names(statements: list[ir.Statement]) -> Iterator[str]:
    for statement in statements:
        if isinstance(statement, ir.RepeatStmt):
            yield from collect_names(statement.body)
        elif isinstance(statement, ir.IfStmt):
            yield from collect_names(statement.then)
            yield from collect_names(statement.otherwise)
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
