"""The model's inputs and its layer graph: names, references, topological order, cycles,
each layer's arguments bound and its output shape and parameter counts inferred, the outputs.

Shape inference stops at the first layer whose shape cannot be known, so one mistake does not
cascade into a dozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from netspec import catalogue, ir
from netspec.catalogue.merge import MergeEntry, MergeShapeError
from netspec.catalogue.shapes import fmt
from netspec.check.bind import resolve, trainable_arg, validate
from netspec.check.context import SpecChecker
from netspec.diagnostics import Diagnostics, Span, did_you_mean
from netspec.limits import MAX_PARAMETERS, MAX_TENSOR_VALUES
from netspec.naming import NAME, RESERVED_NAMES, Namer, snake_case, usable_name


@cache
def _count(number: int) -> str:
    """A count for a message; a huge one by its number of digits."""
    return f"{number:,}" if number < 10**30 else f"a {len(str(number))}-digit number of"



_LAYER_FIELDS = tuple(ir.Layer.model_fields)


def _is_shape(value: object) -> bool:
    return type(value) is tuple and all(type(size) is int for size in value)


def _layer_node(**fields: Any) -> ir.Layer:
    """`ir.Layer(**fields)`, not validated again when every value already has its field's
    exact type (validating them was half the time a 100,000-layer model took to check);
    anything else goes through pydantic, as before."""
    exact = (
        type(fields["name"]) is str
        and type(fields["kind"]) is str
        and isinstance(fields["params"], ir.Params)
        and type(fields["inputs"]) is list
        and all(type(name) is str for name in fields["inputs"])
        and _is_shape(fields["input_shape"])
        and type(fields["input_shapes"]) is list
        and all(_is_shape(shape) for shape in fields["input_shapes"])
        and _is_shape(fields["output_shape"])
        and type(fields["trainable"]) is bool
        and type(fields["trainable_params"]) is int
        and type(fields["non_trainable_params"]) is int
        and type(fields["span"]) is Span
        and type(fields["blocks"]) is tuple  # of BlockUse: a statement's, validated or expanded
    )
    if not exact:
        return ir.Layer(**fields)
    layer = ir.Layer.__new__(ir.Layer)
    values = {name: fields[name] for name in _LAYER_FIELDS}  # in field order
    object.__setattr__(layer, "__dict__", values)
    object.__setattr__(layer, "__pydantic_extra__", None)
    object.__setattr__(layer, "__pydantic_fields_set__", set(fields))
    object.__setattr__(layer, "__pydantic_private__", None)
    return layer


def _reaching(layers: list[ir.Layer], outputs: list[str]) -> list[ir.Layer]:
    """The layers an output depends on, in their order: Keras' functional model holds only
    these, so both targets, the summary and the weights leave the others out alike."""
    needed = set(outputs)
    for layer in reversed(layers):
        if layer.name in needed:
            needed.update(layer.inputs)
    return [layer for layer in layers if layer.name in needed]


@dataclass
class Graph:
    """The checked layer graph; `layers` is None when any statement failed."""

    layers: list[ir.Layer] | None
    outputs: list[str] | None
    shapes: dict[str, ir.Shape | None]
    made: dict[str, int | None]  # tensor → the statement that makes it (None: a model input)
    built: dict[str, ir.Layer]  # the layers that checked, even if others did not
    names: list[str | None]  # each statement's layer name (None: its name was refused)

    def activation_of(self, tensor: str) -> str | None:
        """The activation a tensor ends with, looking through layers that pass values on."""
        while True:
            if self.made.get(tensor) is None:
                return "linear"  # a model input
            layer = self.built.get(tensor)
            if layer is None:
                return None
            entry = catalogue.layer(layer.kind)
            if not entry.transparent:
                return entry.activation(layer.params)
            tensor = layer.inputs[0]


class GraphChecker(SpecChecker):
    """Checks the input and layers sections; `graph()` returns what the objectives read."""

    def __init__(self, spec: ir.SpecFile, diagnostics: Diagnostics, expanded: bool = True) -> None:
        super().__init__(spec, diagnostics)
        self.expanded = expanded  # False: a statement is missing, so infer no shapes
        self._layer_names: list[str | None] = []

    # -- inputs

    def inputs(self) -> list[ir.Input] | None:
        """The model inputs: `input [shape]` is one named "input"; `input NAME [shape]` any."""
        statements = self.spec.inputs
        if not statements:
            self._missing("input", "input [28, 28, 1]")
            return None
        result: list[ir.Input] = []
        seen: dict[str, Span] = {}
        for statement in statements:
            name = statement.name or "input"
            span = statement.name_span or statement.span
            shape = self._shape(statement.shape)
            if statement.name is not None and not self._valid_name(statement.name, span, "an input"):
                continue
            if name in seen:
                self.diagnostics.error(
                    "E0120",
                    f"the name '{name}' is already used by the input at line {seen[name].line}",
                    span,
                    hint="give each input its own name: input NAME [shape]",
                )
                continue
            seen[name] = span
            if shape is not None:
                result.append(ir.Input(name=name, shape=shape, span=statement.shape.span))
        return result if len(result) == len(statements) else None

    def _shape(self, value: ir.Value) -> ir.Shape | None:
        if not isinstance(value, ir.ListValue):  # e.g. `input [4.95e16,e+16]` reads as an index
            self.diagnostics.error(
                "E0132",
                "the input shape must be a list of positive integers",
                value.span,
                hint="give the shape of one sample, channels last, e.g. input [28, 28, 1]",
            )
            return None
        dims = [item.value if isinstance(item, ir.Literal) else None for item in value.items]
        bad = [
            item
            for item, d in zip(value.items, dims, strict=True)
            if not (isinstance(d, int) and not isinstance(d, bool) and d > 0)
        ]
        if not dims or bad:
            self.diagnostics.error(
                "E0132",
                "the input shape must be a list of positive integers",
                bad[0].span if bad else value.span,  # the first size that is not one
                hint="give the shape of one sample, channels last, e.g. input [28, 28, 1]",
            )
            return None
        if not self._fits(tuple(dims), value.span, "the input"):  # type: ignore[arg-type]
            return None
        return tuple(dims)  # type: ignore[arg-type]

    def _fits(self, shape: ir.Shape, span: Span, what: str) -> bool:
        """E0230 for a tensor with more than `MAX_TENSOR_VALUES` values per sample."""
        values = 1
        for size in shape:
            values *= size if isinstance(size, int) else 1
        if values <= MAX_TENSOR_VALUES:
            return True
        self.diagnostics.error(
            "E0230",
            f"{what} {fmt(shape) if values < 10**40 else '(' + str(len(shape)) + ' dimensions)'} "
            f"holds {_count(values)} values per sample, more than {MAX_TENSOR_VALUES:,}",
            span,
            hint="a tensor holds at most 2**31 - 1 values per sample; use smaller sizes",
        )
        return False

    def _valid_name(self, name: str, span: Span, what: str) -> bool:
        if not usable_name(name):
            self.diagnostics.error(
                "E0121",
                f"'{name}' cannot name {what}: "
                + (
                    "it is reserved in generated code"
                    if NAME.match(name)
                    else f"{'an input' if what == 'an input' else 'a layer'} name starts with a letter"
                ),
                span,
                hint="choose another name, starting with a letter",
            )
            return False
        return True

    # -- the layer graph

    def graph(self, inputs: list[ir.Input] | None) -> Graph | None:
        """Statements → layers in topological order, with shapes, and the model outputs."""
        statements = self.spec.layers
        if statements is None:
            self._missing("layers", "layers { Dense(10) }")
            return None
        if not statements and not self.expanded:
            return None  # every statement failed to expand, and was reported
        if not statements:
            self.diagnostics.error(
                "E0130", "the 'layers' section is empty", self.spec.layers_span or self.spec.span,
                hint="list at least one layer, e.g. Dense(10)",
            )
            return None
        assert all(isinstance(s, ir.LayerStmt) for s in statements), "expand() runs first"
        statements = [s for s in statements if isinstance(s, ir.LayerStmt)]
        input_spans = {s.name or "input": s.name_span or s.span for s in self.spec.inputs or []}
        names = self._names(statements, input_spans)
        made: dict[str, int | None] = {name: None for name in input_spans}  # tensor → statement
        for i, name in enumerate(names):
            if name is not None:
                made[name] = i
        references = []
        for i, statement in enumerate(statements):
            with self.diagnostics.related(statement.origin):  # the block use that made it
                references.append(self._references(i, statements, names, made, input_spans))
        order = self._order(statements, names, references, made)
        # A statement that failed to expand leaves a gap: validate each layer, infer no shapes.
        shapes: dict[str, ir.Shape | None] = {
            i.name: i.shape if self.expanded else None for i in inputs or []
        }
        self._checked: dict[tuple[int, tuple], tuple] = {}  # see `_layer`
        by_index: dict[int, ir.Layer] = {}
        for i in order:
            with self.diagnostics.related(statements[i].origin):
                layer = self._layer(statements[i], names[i], references[i], shapes)
            if layer is not None:
                by_index[i] = layer
                shapes[layer.name] = layer.output_shape
        outputs = self._outputs(statements, names, made)
        complete = (
            inputs is not None
            and len(by_index) == len(statements)
            and all(r is not None for r in references)
            and outputs is not None
        )
        if complete and outputs is not None:
            self._unused(statements, names, references, outputs, input_spans)
        layers = [by_index[i] for i in order if i in by_index]
        built = {layer.name: layer for layer in layers}
        if complete and outputs is not None:
            layers = _reaching(layers, outputs)
        return Graph(layers if complete else None, outputs, shapes, made, built, names)

    def _references(
        self,
        i: int,
        statements: list[ir.LayerStmt],
        names: list[str | None],
        made: dict[str, int | None],
        input_spans: dict[str, Span],
    ) -> list[tuple[str, Span]] | None:
        """The tensors statement i reads, with where it names them; None if one is unknown.

        A statement without tensor arguments reads the previous statement's output, the
        first one the first model input.
        """
        statement = statements[i]
        if statement.inputs is None:
            if i == 0:
                first = next(iter(input_spans), None)
                return None if first is None else [(first, statement.span)]
            previous = names[i - 1]
            return None if previous is None else [(previous, statement.span)]
        result: list[tuple[str, Span]] = []
        ok = True
        for symbol in statement.inputs:
            if symbol.name in made:
                result.append((symbol.name, symbol.span))
                continue
            suggestion = did_you_mean(symbol.name, list(made))
            known = ", ".join(sorted(made)) or "none"
            self.diagnostics.error(
                "E0140",
                f"unknown tensor '{symbol.name}': no input or layer has this name",
                symbol.span,
                hint=f"did you mean '{suggestion}'?" if suggestion else f"known tensors: {known}",
            )
            ok = False
        return result if ok else None

    def _order(
        self,
        statements: list[ir.LayerStmt],
        names: list[str | None],
        references: list[list[tuple[str, Span]] | None],
        made: dict[str, int | None],
    ) -> list[int]:
        """Statement indices so that each comes after those it reads (statement order where
        free, so a chain keeps its order). Statements on a cycle, or reading one, are left
        out; each cycle is reported once. Iterative: a spec may hold thousands of layers."""
        order: list[int] = []
        state = [0] * len(statements)  # 0 new, 1 on the path, 2 done, 3 broken (cycle)
        for root in range(len(statements)):
            if state[root]:
                continue
            path: list[int] = [root]
            pending: list[list[int]] = [self._deps(root, references, made)]
            state[root] = 1
            while path:
                if pending[-1]:
                    dep = pending[-1].pop(0)
                    if state[dep] == 1:
                        self._cycle(path[path.index(dep):], statements, names, references)
                        for node in path[path.index(dep):]:
                            state[node] = 3
                    elif state[dep] == 0:
                        state[dep] = 1
                        path.append(dep)
                        pending.append(self._deps(dep, references, made))
                    continue
                node = path.pop()
                pending.pop()
                deps = self._deps(node, references, made)
                if state[node] == 1 and all(state[d] == 2 for d in deps):
                    state[node] = 2
                    order.append(node)
                else:
                    state[node] = 3
        return order

    @staticmethod
    def _deps(
        i: int, references: list[list[tuple[str, Span]] | None], made: dict[str, int | None]
    ) -> list[int]:
        refs = references[i] or []
        return [d for name, _ in refs if (d := made.get(name)) is not None]

    def _cycle(
        self,
        cycle: list[int],
        statements: list[ir.LayerStmt],
        names: list[str | None],
        references: list[list[tuple[str, Span]] | None],
    ) -> None:
        """Report a cycle of statements, starting at the one written first."""
        start = cycle.index(min(cycle))
        cycle = cycle[start:] + cycle[:start]
        # The path runs from a statement to what it reads; the data flows the other way.
        flow = list(reversed(cycle))
        start = flow.index(min(flow))
        flow = flow[start:] + flow[:start]
        labels = [names[i] or statements[i].call.name for i in flow]
        related = []
        for k, i in enumerate(flow):
            reader = flow[(k + 1) % len(flow)]
            span = next(
                (s for name, s in references[reader] or [] if name == names[i]),
                statements[reader].span,
            )
            related.append((span, f"'{labels[(k + 1) % len(flow)]}' reads '{labels[k]}' here"))
        first = statements[flow[0]]
        self.diagnostics.error(
            "E0141",
            "the layers form a cycle: " + " -> ".join([*labels, labels[0]]),
            first.name_span or first.span,
            hint="a layer may only read model inputs and layers that do not read it back",
            related=related,
        )

    def _layer(
        self,
        statement: ir.LayerStmt,
        name: str | None,
        refs: list[tuple[str, Span]] | None,
        shapes: dict[str, ir.Shape | None],
    ) -> ir.Layer | None:
        key = None
        if name is not None and refs is not None:
            # What follows depends only on the call and the shapes it reads; the copies of a
            # repeat (or of a block's statement) share their call, so it runs once for them.
            key = (id(statement.call), tuple(shapes.get(ref) for ref, _ in refs))
            found = self._checked.get(key)
            if found is not None:
                kind, params, out_shape, trainable, counted, frozen = found
                return _layer_node(
                    name=name,
                    kind=kind,
                    params=params,
                    inputs=[ref for ref, _ in refs],
                    input_shape=key[1][0],
                    input_shapes=list(key[1]),
                    output_shape=out_shape,
                    trainable=trainable,
                    trainable_params=counted,
                    non_trainable_params=frozen,
                    span=statement.span,
                    blocks=statement.blocks,  # the statement's own: not shared via the cache key
                )
        errors = self.diagnostics.errors_reported
        call, trainable = trainable_arg(statement.call, self.diagnostics)
        entry = resolve("layer", call, self.diagnostics)
        params = validate(entry, call, self.diagnostics) if entry else None
        if entry is None or params is None or name is None or refs is None or trainable is None:
            return None
        layer_entry = catalogue.layer(entry.kind)
        if not self._arity(layer_entry, statement, refs):
            return None
        in_shapes = [shapes.get(ref) for ref, _ in refs]
        if any(shape is None for shape in in_shapes):
            return None  # reported where that shape went wrong
        known = [shape for shape in in_shapes if shape is not None]
        try:
            if isinstance(layer_entry, MergeEntry):
                out_shape = layer_entry.merged_shape(params, known)
            else:
                out_shape = layer_entry.output_shape(params, known[0])
        except MergeShapeError as error:
            self._merge_error(error, statement, refs, known)
            return None
        except catalogue.ShapeError as error:
            span = call.span
            positional = iter(entry.positional)
            for arg in call.args:
                field = arg.keyword if arg.keyword else next(positional, None)
                if error.arg and field == error.arg:
                    span = arg.span
            self.diagnostics.error(error.code, error.message, span, hint=error.hint)
            return None
        if not self._fits(out_shape, statement.call.span, f"{entry.kind}'s output"):
            return None
        counted, frozen = layer_entry.param_counts(params, known[0])
        if counted + frozen > MAX_PARAMETERS:
            self.diagnostics.error(
                "E0231",
                f"{entry.kind} has {counted + frozen:,} parameters, more than {MAX_PARAMETERS:,}",
                statement.call.span,
                hint="use fewer units, filters or a smaller input",
            )
            return None
        if not trainable:  # a frozen layer's weights are all non-trainable
            counted, frozen = 0, counted + frozen
        if key is not None and self.diagnostics.errors_reported == errors:  # (it warns never)
            self._checked[key] = (entry.kind, params, out_shape, trainable, counted, frozen)
        return _layer_node(
            name=name,
            kind=entry.kind,
            params=params,
            inputs=[ref for ref, _ in refs],
            input_shape=known[0],
            input_shapes=known,
            output_shape=out_shape,
            trainable=trainable,
            trainable_params=counted,
            non_trainable_params=frozen,
            span=statement.span,
            blocks=statement.blocks,
        )

    def _arity(
        self, entry: catalogue.LayerEntry, statement: ir.LayerStmt, refs: list[tuple[str, Span]]
    ) -> bool:
        count, kind = len(refs), statement.call.name
        if entry.max_inputs is not None and count > entry.max_inputs:
            self.diagnostics.error(
                "E0142",
                f"{kind} reads one tensor, got {count}",
                refs[entry.max_inputs][1],
                hint="combine tensors first with Add, Concatenate, Multiply or Average",
            )
            return False
        if count < entry.min_inputs:
            self.diagnostics.error(
                "E0142",
                f"{kind} merges {entry.min_inputs} or more tensors, got {count}",
                refs[0][1] if statement.inputs else statement.span,
                hint=f"name the tensors to merge: {kind}()(a, b)",
            )
            return False
        return True

    def _merge_error(
        self,
        error: MergeShapeError,
        statement: ir.LayerStmt,
        refs: list[tuple[str, Span]],
        shapes: list[ir.Shape],
    ) -> None:
        """A merge whose operands do not fit: name both, with their shapes and origins."""
        related = []
        described = []
        for k in error.operands:
            name = refs[k][0]
            described.append(f"'{name}' is {fmt(shapes[k])}")
            related.append((self._origin(name), f"'{name}' ({fmt(shapes[k])}) is made here"))
        self.diagnostics.error(
            "E0210",
            f"{error.message}: " + ", ".join(described),
            statement.span,
            hint=error.hint,
            related=related,
        )

    def _origin(self, tensor: str) -> Span:
        """Where a tensor is made: its input statement or its layer statement."""
        for source in self.spec.inputs or []:
            if (source.name or "input") == tensor:
                return source.span
        for statement, name in zip(self.spec.layers or [], self._layer_names, strict=False):
            if name == tensor:
                return statement.span
        return self.spec.span

    def _outputs(
        self, statements: list[ir.LayerStmt], names: list[str | None], made: dict[str, int | None]
    ) -> list[str] | None:
        symbols = self.spec.outputs
        if symbols is None:
            last = names[-1]
            return None if last is None else [last]
        result: list[str] = []
        ok = bool(symbols)
        if not symbols:
            self.diagnostics.error(
                "E0143", "the output list is empty", self.spec.outputs_span or self.spec.span,
                hint="name one or more layers: output [a, b]",
            )
        for symbol in symbols:
            if symbol.name not in made:
                suggestion = did_you_mean(symbol.name, [n for n in names if n is not None])
                self.diagnostics.error(
                    "E0140",
                    f"unknown tensor '{symbol.name}': no layer has this name",
                    symbol.span,
                    hint=f"did you mean '{suggestion}'?" if suggestion else "an output names a layer",
                )
                ok = False
            elif made[symbol.name] is None:
                self.diagnostics.error(
                    "E0143", f"'{symbol.name}' is a model input, not a layer", symbol.span,
                    hint="a model output names a layer",
                )
                ok = False
            elif symbol.name in result:
                self.diagnostics.error(
                    "E0143", f"output '{symbol.name}' is listed twice", symbol.span,
                    hint="list each output once",
                )
                ok = False
            else:
                result.append(symbol.name)
        return result if ok else None

    def _unused(
        self,
        statements: list[ir.LayerStmt],
        names: list[str | None],
        references: list[list[tuple[str, Span]] | None],
        outputs: list[str],
        input_spans: dict[str, Span],
    ) -> None:
        used = {name for refs in references for name, _ in refs or []} | set(outputs)
        for name, span in input_spans.items():
            if name not in used:
                self.diagnostics.warning(
                    "W0140", f"input '{name}' is never used", span,
                    hint="read it in a layer, e.g. Dense(8)(" + name + "), or remove it",
                )
        for statement, name in zip(statements, names, strict=True):
            if name is not None and name not in used:
                self.diagnostics.warning(
                    "W0140",
                    f"the output of '{name}' is never used and is not a model output",
                    statement.name_span or statement.span,
                    hint="read it in another layer or list it in output [...]; as it is, "
                    "it is left out of the model",
                )

    def _names(
        self, statements: list[ir.LayerStmt], input_spans: dict[str, Span] | None = None
    ) -> list[str | None]:
        inputs = input_spans or {}
        explicit: dict[str, Span] = {}
        names: list[str | None] = []
        for statement in statements:
            name, span = statement.name, statement.name_span
            if name is None or span is None:
                continue
            if not self._valid_name(name, span, "a layer"):
                continue
            if name in inputs:
                self.diagnostics.error(
                    "E0120",
                    f"the name '{name}' is already used by the input at line {inputs[name].line}",
                    span,
                    hint="give each layer and input a unique name",
                )
            elif name in explicit:
                self.diagnostics.error(
                    "E0120",
                    f"the name '{name}' is already used by the layer at line {explicit[name].line}",
                    span,
                    hint="give each layer a unique name",
                )
            else:
                explicit[name] = span
        taken = set(explicit) | set(inputs)
        namer = Namer(taken)
        for statement in statements:
            if statement.name is not None:
                names.append(statement.name if statement.name in explicit else None)
                continue
            entry = catalogue.lookup("layer", statement.call.name)
            base = snake_case(entry.kind if entry else statement.call.name)
            names.append(namer.fresh(base, reserved=RESERVED_NAMES))
        # A duplicate keeps its first use; later uses are reported and get no layer.
        seen: set[str] = set()
        for i, statement in enumerate(statements):
            if statement.name is not None and statement.name in seen:
                names[i] = None
            elif statement.name is not None:
                seen.add(statement.name)
        self._layer_names = names
        return names
