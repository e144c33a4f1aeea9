"""The check pass, expanded syntax tree → checked IR: resolve names, validate arguments, infer
shapes, count parameters (`netspec.frontend` runs parse → expand → check).

Every problem becomes a diagnostic on the span that caused it, and checking carries on, so a
file with several independent errors reports all of them. Shape inference stops at the first
layer whose shape cannot be known, so one mistake does not cascade into a dozen.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netspec import catalogue, ir
from netspec.catalogue.merge import MergeEntry, MergeShapeError
from netspec.catalogue.shapes import fmt
from netspec.diagnostics import PYTHON_CONSTANTS, Diagnostics, Span, closest, did_you_mean
from netspec.limits import MAX_PARAMETERS, MAX_TENSOR_VALUES
from netspec.naming import NAME, RESERVED_NAMES, Namer, snake_case, usable_name
from netspec.parse import paused_gc

_UNKNOWN_CODES = {
    "layer": "E0101",
    "loss": "E0102",
    "optimizer": "E0103",
    "activation": "E0104",
    "metric": "E0106",
    "initializer": "E0108",
    "data": "E0109",
    "schedule": "E0114",
}

_FAMILY_WORDS = {"data": "data source", "schedule": "learning-rate schedule"}

# Train settings whose value names a catalogue entry, and the IR node it becomes.
_CALLED_SETTINGS: dict[str, tuple[str, type[ir.Node]]] = {
    "data": ("data", ir.DataSource),
    "lr_schedule": ("schedule", ir.Schedule),
}



@cache
def _count(number: int) -> str:
    """A count for a message; a huge one by its number of digits."""
    return f"{number:,}" if number < 10**30 else f"a {len(str(number))}-digit number of"


def _plain(value: ir.Value, diagnostics: Diagnostics, what: str) -> tuple[bool, Any]:
    """A syntax value as plain Python (a name becomes its string, a list a tuple)."""
    if isinstance(value, ir.Literal):
        return True, value.value
    if isinstance(value, ir.Symbol):
        return True, value.name
    if isinstance(value, ir.ListValue):
        items = [_plain(item, diagnostics, what) for item in value.items]
        return all(ok for ok, _ in items), tuple(v for _, v in items)
    diagnostics.error(
        "E0113",
        f"{what} takes a plain value here, not a call to {value.name}",
        value.span,
        hint="write a number, a string, a name or a list",
    )
    return False, None


def _describe_value(value: Any) -> str:
    if isinstance(value, tuple):
        return fmt(value) if all(isinstance(v, int) for v in value) else str(list(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _what_a_string_is(field: str) -> str:
    if field.endswith("activation"):
        return "the name of an activation, such as relu"
    if field.endswith("initializer"):
        return "the name of an initializer, such as glorot_uniform"
    return 'a string in double quotes, such as "data.npz"'


# How netspec says what a value should be, by pydantic's error type: in the words of the
# language (a whole number, true or false, a list), never pydantic's own ("a valid tuple").
_SHOULD_BE: dict[str, str] = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "tuple_type": "a list, such as [3, 3]",
    "list_type": "a list, such as [3, 3]",
}


def _message_for(kind: str, field: str, error: Mapping[str, Any]) -> str:
    """A validation error in netspec's words: `Dense: units should be a whole number`."""
    kind_of_error = str(error["type"])
    ctx = error.get("ctx") or {}
    message = str(error["msg"])
    if kind_of_error in _SHOULD_BE:
        message = f"{field} should be {_SHOULD_BE[kind_of_error]}"
    elif kind_of_error == "string_type":
        message = f"{field} should be {_what_a_string_is(field)}"
    elif kind_of_error == "literal_error":  # names are written bare: valid, not 'valid'
        message = f"{field} should be " + str(ctx.get("expected", "")).replace("'", "")
    elif kind_of_error in ("too_long", "too_short"):
        bound = ctx.get("max_length" if kind_of_error == "too_long" else "min_length")
        most = "at most" if kind_of_error == "too_long" else "at least"
        actual = ctx.get("actual_length")
        message = f"{field} takes {most} {bound} value{'' if bound == 1 else 's'}" + (
            f", got {actual}" if actual is not None else ""
        )
    elif message.startswith("Input should be"):
        message = field + message[len("Input"):]
    elif message.startswith("Value error, "):
        message = f"{field}: " + message[len("Value error, "):]
    else:
        message = f"{field}: {message[0].lower()}{message[1:]}"
    return f"{kind}: {message}"


# A data file named in quotes where a source belongs: the source that reads it.
_SOURCE_OF_SUFFIX = {".npz": "npz", ".csv": "csv"}


def _quoted_name_hint(family: str, value: ir.Value) -> str | None:
    """`data = "iris"` → drop the quotes; `data = "mine.npz"` → `npz("mine.npz")`."""
    if not (isinstance(value, ir.Literal) and isinstance(value.value, str) and value.value):
        return None
    text = value.value
    suffix = Path(text).suffix.lower()
    if family == "data" and suffix in _SOURCE_OF_SUFFIX:
        return f'a file is read by a source: write data = {_SOURCE_OF_SUFFIX[suffix]}("{text}")'
    name = text if catalogue.lookup(family, text) else catalogue.suggest(family, text)
    if name:
        setting = "data" if family == "data" else "lr_schedule"
        return f"a name takes no quotes: write {setting} = {name}"
    if family == "data" and not suffix:
        return f'a folder is read by a source: write data = npy_dir("{text}") or image_folder("{text}")'
    return None


def _python_habit(given: Any) -> str | None:
    """A hint for Python's spelling of a constant, which netspec writes in lower case."""
    return PYTHON_CONSTANTS.get(given) if isinstance(given, str) else None


@dataclass
class _Bound:
    values: dict[str, Any]
    spans: dict[str, Span]
    ok: bool
    # Fields a misspelt keyword was taken for (`untis` → units): already reported, so not
    # reported missing too.
    misspelt: set[str]


@functools.cache
def _fields(params: type[ir.Params]) -> dict[str, Any]:
    """A parameter model's fields, looked up once (`model_fields` is a slow class property)."""
    return params.model_fields


def _bind(
    entry: type[catalogue.Entry], call: ir.Call, diagnostics: Diagnostics, what: str
) -> _Bound:
    """Positional and keyword arguments → field values, with their spans.

    Arguments that cannot be bound are reported and left out, so the others are still
    validated and their errors reported too.
    """
    fields = _fields(entry.Params)
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    ok = True
    misspelt: set[str] = set()
    positional_seen = 0
    for arg in call.args:
        if arg.keyword is None:
            if positional_seen >= len(entry.positional):
                count = len(entry.positional)
                takes = (
                    f"{count} positional argument{'' if count == 1 else 's'} "
                    f"({', '.join(entry.positional)})"
                    if count
                    else "no positional arguments"
                )
                named = [f for f in fields if f not in entry.positional]
                diagnostics.error(
                    "E0111",
                    f"{what} takes {takes}, got another",
                    arg.span,
                    hint="name the argument: " + ", ".join(f"{f}=..." for f in named)
                    if named
                    else f"{what} takes no arguments; remove it",
                )
                ok = False
                continue
            field = entry.positional[positional_seen]
            positional_seen += 1
            field_span = arg.span
        else:
            field = entry.arg_aliases.get(arg.keyword, arg.keyword)
            field_span = arg.keyword_span or arg.span
            if field not in fields:
                suggestion = catalogue.base.did_you_mean(field, [*fields, *entry.arg_aliases])
                known = ", ".join(fields) or "none"
                diagnostics.error(
                    "E0105",
                    f"{what} has no parameter '{arg.keyword}'",
                    field_span,
                    hint=f"did you mean '{suggestion}'?" if suggestion else f"parameters: {known}",
                )
                if suggestion:
                    misspelt.add(entry.arg_aliases.get(suggestion, suggestion))
                ok = False
                continue
        if field in values:
            diagnostics.error(
                "E0112", f"{what}: argument '{field}' is given twice", field_span,
                hint="keep one of them",
            )
            ok = False
            continue
        if field in entry.layer_args:  # a layer as a value: Bidirectional(LSTM(32))
            value = _layer_value(arg.value, diagnostics, what)
            ok &= value is not None
        else:
            plain_ok, value = _plain(arg.value, diagnostics, what)
            ok &= plain_ok
        values[field] = value
        spans[field] = arg.span
    return _Bound(values, spans, ok, misspelt)


def _layer_value(
    value: ir.Value, diagnostics: Diagnostics, what: str
) -> catalogue.LayerValue | None:
    """A layer call given as an argument, resolved and validated like a layer statement."""
    if isinstance(value, ir.Symbol):
        value = ir.Call(name=value.name, name_span=value.span, span=value.span)
    if not isinstance(value, ir.Call):
        diagnostics.error(
            "E0113",
            f"{what} takes a layer here, such as LSTM(32)",
            value.span,
            hint="write the layer as a call, e.g. Bidirectional(LSTM(32))",
        )
        return None
    entry = _resolve("layer", value, diagnostics)
    params = _validate(entry, value, diagnostics) if entry else None
    if entry is None or params is None:
        return None
    return catalogue.LayerValue(kind=entry.kind, params=params)


_VALIDATED: dict[object, ir.Params] = {}
"""Parameter values → their validated (frozen) parameters: a model of 100,000 `Dense(8)`
validates one."""


def _typed(value: Any) -> object:
    """A bound value as a key that tells 1, 1.0 and true apart (they are equal in Python, and
    strict validation accepts one of them where it refuses the others)."""
    if isinstance(value, tuple):
        return (tuple, tuple(_typed(v) for v in value))
    if isinstance(value, float):
        return (float, repr(value))  # -0.0 == 0.0, but each is kept as written
    return (type(value), value)


def _validated(params: type[ir.Params], values: dict[str, Any]) -> ir.Params:
    """`params.model_validate(values)`, looked up when the same values were valid before."""
    try:
        key = (params, frozenset((name, _typed(v)) for name, v in values.items()))
        hash(key)
    except TypeError:
        return params.model_validate(values)
    found = _VALIDATED.get(key)
    if found is None:
        found = params.model_validate(values)
        if len(_VALIDATED) >= 4096:
            _VALIDATED.clear()
        _VALIDATED[key] = found
    return found


def _validate(
    entry: type[catalogue.Entry],
    call: ir.Call,
    diagnostics: Diagnostics,
) -> ir.Params | None:
    what = call.name
    bound = _bind(entry, call, diagnostics, what)
    try:
        params = _validated(entry.Params, bound.values)
    except ValidationError as errors:
        # A value already reported (a call as a value, a number that is not finite) is not
        # reported again for the placeholder that stands in for it.
        reported: set[tuple[str, Span]] = {("", d.span) for d in diagnostics}
        # A field left out whose default comes from a given one (strides from pool_size)
        # fails with it: one mistake, reported once, on the value written.
        given_failed = any(e["loc"] and str(e["loc"][0]) in bound.values for e in errors.errors())
        for error in errors.errors():
            loc = error["loc"]
            field = str(loc[0]) if loc else ""
            if given_failed and field not in bound.values and error["type"] != "missing":
                continue
            path = field
            if isinstance(bound.values.get(field), tuple):  # point into a list the spec wrote
                path += "".join(f"[{i}]" for i in loc[1:])
            span = bound.spans.get(field, call.span)
            # `kernel_size=0` is wrong once, not per axis
            if (field, span) in reported or ("", span) in reported:
                continue
            if field in entry.layer_args and bound.values.get(field, ...) is None:
                continue  # a layer argument that failed was reported inside it
            reported.add((field, span))
            description = entry.Params.model_fields[field].description if field else None
            if error["type"] == "missing":
                if field in bound.misspelt:
                    continue  # `Dense(untis=64)`: one mistake, reported as the misspelling
                diagnostics.error(
                    "E0110",
                    f"{what} is missing its required argument '{field}'",
                    call.span,
                    hint=f"{field}: {description}" if description else None,
                )
            elif error["type"] == "unknown_name":
                ctx = error.get("ctx", {})
                family = ctx.get("family", "activation")
                name = str(ctx.get("name"))
                diagnostics.error(
                    _UNKNOWN_CODES[family],
                    f"{what}: unknown {family} '{name}'",
                    span,
                    hint=_python_habit(name) or unknown_hint(family, name),
                )
            else:
                given = bound.values.get(field)
                message = _message_for(what, path, error)
                if field in bound.values:
                    message += f", got {_describe_value(given)}"
                hint = _python_habit(given) or description
                diagnostics.error("E0113", message, span, hint=hint)
        return None
    return params if bound.ok else None


def _trainable(call: ir.Call, diagnostics: Diagnostics) -> tuple[ir.Call, bool | None]:
    """The call without its `trainable=` argument, and that argument (true when left out).

    `trainable` is an attribute every layer has, not a catalogue parameter: false freezes
    the layer's weights (Keras `trainable=False`, PyTorch `requires_grad_(False)`).
    """
    given = [a for a in call.args if a.keyword == "trainable"]
    if not given:
        return call, True
    rest = call.model_copy(update={"args": [a for a in call.args if a.keyword != "trainable"]})
    for extra in given[1:]:
        diagnostics.error(
            "E0112", f"{call.name}: argument 'trainable' is given twice",
            extra.keyword_span or extra.span, hint="keep one of them",
        )
    value = given[0].value
    if isinstance(value, ir.Literal) and isinstance(value.value, bool) and len(given) == 1:
        return rest, value.value
    if len(given) == 1 and value.span not in {d.span for d in diagnostics}:
        diagnostics.error(
            "E0113", f"{call.name}: trainable should be true or false", value.span,
            hint="trainable=false freezes the layer's weights",
        )
    return rest, None


@functools.lru_cache(maxsize=1024)  # a spec may repeat one unknown name thousands of times
def unknown_hint(family: str, name: str) -> str:
    """What to write instead of an unknown name: the one it is a typo of, else the few
    closest (all of a short list); for a layer named after an activation, `Activation(…)`."""
    suggestion = catalogue.suggest(family, name)
    if suggestion:
        entry = catalogue.lookup(family, suggestion)
        return f"did you mean '{entry.kind if entry else suggestion}'?"
    spelled = name.lower().replace("_", "")  # ReLU, LeakyReLU: PyTorch's activation modules
    act = next(
        (a for a in catalogue.names("activation") if a.replace("_", "") == spelled), None
    )
    if family == "layer" and act is not None:
        return f"{act} is an activation: write Activation({act}), or activation={act} on a layer"
    known = catalogue.names(family, include_aliases=False)
    what = _FAMILY_WORDS.get(family, family)
    if len(known) <= 8:
        return f"known {what}s: {', '.join(known)}"
    kinds: list[str] = []  # by the closest of each entry's names, aliases included
    for alike in closest(name, catalogue.names(family), n=len(catalogue.names(family))):
        entry = catalogue.lookup(family, alike)
        if entry is not None and entry.kind not in kinds:
            kinds.append(entry.kind)
    return f"the closest {what}s: {', '.join(kinds[:3])}"


def _resolve(family: str, call: ir.Call, diagnostics: Diagnostics) -> type[catalogue.Entry] | None:
    entry = catalogue.lookup(family, call.name)
    if entry is None:
        what = _FAMILY_WORDS.get(family, family)
        diagnostics.error(
            _UNKNOWN_CODES[family],
            f"unknown {what} '{call.name}'",
            call.name_span,
            hint=unknown_hint(family, call.name),
        )
    return entry


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
class _Graph:
    """The checked layer graph; `layers` is None when any statement failed."""

    layers: list[ir.Layer] | None
    outputs: list[str] | None
    shapes: dict[str, ir.Shape | None]
    statements: list[ir.LayerStmt]
    made: dict[str, int | None]  # tensor → the statement that makes it (None: a model input)
    built: dict[str, ir.Layer]  # the layers that checked, even if others did not


class _Checker:
    def __init__(
        self, spec: ir.SpecFile, diagnostics: Diagnostics, expanded: bool = True
    ) -> None:
        self.spec = spec
        self.diagnostics = diagnostics
        self.expanded = expanded  # False: a statement is missing, so infer no shapes

    def _missing(self, section: str, example: str) -> None:
        self.diagnostics.error(
            "E0130",
            f"model '{self.spec.model_name}' has no '{section}' section",
            self.spec.name_span,
            hint=f"add, for example: {example}",
        )

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

    def graph(self, inputs: list[ir.Input] | None) -> _Graph | None:
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
        return _Graph(layers if complete else None, outputs, shapes, statements, made, built)

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
                )
        errors = self.diagnostics.errors_reported
        call, trainable = _trainable(statement.call, self.diagnostics)
        entry = _resolve("layer", call, self.diagnostics)
        params = _validate(entry, call, self.diagnostics) if entry else None
        if entry is None or params is None or name is None or refs is None or trainable is None:
            return None
        layer_entry = entry()
        assert isinstance(layer_entry, catalogue.LayerEntry)
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

    # -- losses and metrics, per output

    def losses(self, graph: _Graph | None) -> list[ir.Loss] | None:
        """One loss per model output, from `loss X` or `loss { output = X, … }`."""
        outputs = graph.outputs if graph is not None else None
        if self.spec.loss is None and self.spec.losses is None:
            self._missing("loss", "loss categorical_crossentropy")
            return None
        span = self.spec.loss_span or self.spec.span
        weights = self._loss_weights(outputs)
        if self.spec.loss is not None:
            if outputs is not None and len(outputs) > 1:
                listed = ", ".join(f"{o} = ..." for o in outputs)
                self.diagnostics.error(
                    "E0310",
                    f"the model has {len(outputs)} outputs ({', '.join(outputs)}); "
                    "give each its own loss",
                    self.spec.loss.span,
                    hint=f"write loss {{ {listed} }}",
                )
                return None
            output = outputs[0] if outputs else None
            loss = self._loss(self.spec.loss, output, graph)
            if loss is None or output is None or weights is None:
                return None
            return [loss.model_copy(update={"weight": weights.get(output, 1.0)})]
        by_output: dict[str, ir.Loss | None] = {}
        keys_ok = True
        for item in self.spec.losses or []:
            if not self._output_key(item.output, item.output_span, outputs, by_output, "loss"):
                keys_ok = False
                continue
            by_output[item.output] = self._loss(item.call, item.output, graph)
        if outputs is None or weights is None or not keys_ok:  # a misspelt key: not missing too
            return None
        missing = [o for o in outputs if o not in by_output]
        if missing:
            self.diagnostics.error(
                "E0312",
                f"output{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
                f"{'have' if len(missing) > 1 else 'has'} no loss",
                span,
                hint="add " + ", ".join(f"{m} = mean_squared_error" for m in missing)
                + " (or the loss that fits) to the loss section",
            )
            return None
        result = []
        for output in outputs:
            loss = by_output[output]
            if loss is None:
                return None
            result.append(loss.model_copy(update={"weight": weights.get(output, 1.0)}))
        return result

    def _output_key(
        self, key: str, span: Span, outputs: list[str] | None, seen: Mapping[str, Any], section: str
    ) -> bool:
        """Whether a key of a per-output section names an output not named before in it."""
        if outputs is not None and key not in outputs:
            suggestion = did_you_mean(key, outputs)
            known = ", ".join(outputs)
            graph_names = set(self._layer_names or []) | {
                s.name or "input" for s in self.spec.inputs or []
            }
            message = (
                f"'{key}' is not a model output (outputs: {known})"
                if key in graph_names
                else f"unknown output '{key}' in the {section} section"
            )
            self.diagnostics.error(
                "E0311", message, span,
                hint=f"did you mean '{suggestion}'?" if suggestion
                else f"list it in output [...], or use one of: {known}",
            )
            return False
        if key in seen:
            self.diagnostics.error(
                "E0112", f"{section}: output '{key}' is given twice", span, hint="keep one of them"
            )
            return False
        return True

    def _loss_weights(self, outputs: list[str] | None) -> dict[str, float] | None:
        weights: dict[str, float] = {}
        ok = True
        for item in self.spec.loss_weights or []:
            if not self._output_key(item.output, item.output_span, outputs, weights, "loss_weights"):
                ok = False
                continue
            value = item.value.value if isinstance(item.value, ir.Literal) else None
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                self.diagnostics.error(
                    "E0113", f"loss_weights: the weight of '{item.output}' must be a number ≥ 0",
                    item.value.span, hint="e.g. loss_weights { a = 1.0, b = 0.5 }",
                )
                ok = False
                continue
            weights[item.output] = float(value)
        return weights if ok else None

    def _loss(self, call: ir.Call, output: str | None, graph: _Graph | None) -> ir.Loss | None:
        entry = _resolve("loss", call, self.diagnostics)
        params = _validate(entry, call, self.diagnostics) if entry else None
        if entry is None or params is None:
            return None
        if graph is not None and output is not None and graph.shapes.get(output) is not None:
            loss_entry = entry()
            assert isinstance(loss_entry, catalogue.LossEntry)
            shape = graph.shapes[output]
            assert shape is not None
            for finding in loss_entry.check_output(params, shape, self._activation_of(output, graph)):
                report = self.diagnostics.warning if finding.warning else self.diagnostics.error
                report(finding.code, finding.message, call.span, finding.hint)
        return ir.Loss(kind=entry.kind, params=params, output=output or "", span=call.span)

    @staticmethod
    def _activation_of(tensor: str, graph: _Graph) -> str | None:
        """The activation a tensor ends with, looking through layers that pass values on."""
        while True:
            index = graph.made.get(tensor)
            if index is None:
                return "linear"  # a model input
            statement = graph.statements[index]
            entry = catalogue.lookup("layer", statement.call.name)
            layer = graph.built.get(tensor)
            if entry is None or layer is None:
                return None
            instance = entry()
            assert isinstance(instance, catalogue.LayerEntry)
            if not instance.transparent:
                return instance.activation(layer.params)
            tensor = layer.inputs[0]

    def optimizer(self) -> ir.Optimizer | None:
        call = self.spec.optimizer
        if call is None:
            self._missing("optimizer", "optimizer Adam(lr=1e-3)")
            return None
        entry = _resolve("optimizer", call, self.diagnostics)
        params = _validate(entry, call, self.diagnostics) if entry else None
        if entry is None or params is None:
            return None
        return ir.Optimizer(kind=entry.kind, params=params, span=call.span)

    def metrics(self, losses: list[ir.Loss] | None, graph: _Graph | None) -> list[ir.Metric] | None:
        """Metrics per output: `metrics [..]` for a model's one output, or `metrics { o = [..] }`."""
        outputs = graph.outputs if graph is not None else None
        targets: dict[str, str] = {}
        kinds: dict[str, str] = {}
        for loss in losses or []:
            loss_entry = catalogue.lookup("loss", loss.kind)
            targets[loss.output] = loss_entry.target  # type: ignore[union-attr]
            kinds[loss.output] = loss.kind
        if self.spec.metrics and outputs is not None and len(outputs) > 1:
            listed = ", ".join(f"{o} = [...]" for o in outputs)
            self.diagnostics.error(
                "E0310",
                f"the model has {len(outputs)} outputs ({', '.join(outputs)}); "
                "give the metrics of each",
                self.spec.metrics[0].span,
                hint=f"write metrics {{ {listed} }}",
            )
            return None
        groups: list[tuple[str | None, list[ir.Symbol]]] = []
        if self.spec.metrics is not None:
            groups.append((outputs[0] if outputs else None, self.spec.metrics))
        seen: dict[str, bool] = {}
        ok = True
        for item in self.spec.output_metrics or []:
            if self._output_key(item.output, item.output_span, outputs, seen, "metrics"):
                seen[item.output] = True
                groups.append((item.output, item.metrics))
            else:
                ok = False
        result: list[ir.Metric] = []
        for output, symbols in groups:
            for symbol in symbols:
                metric = self._metric(symbol, output, targets, kinds)
                ok &= metric is not None
                if metric is not None:
                    result.append(metric)
        return result if ok else None

    def _metric(
        self, symbol: ir.Symbol, output: str | None, targets: dict[str, str], kinds: dict[str, str]
    ) -> ir.Metric | None:
        call = ir.Call(name=symbol.name, name_span=symbol.span, span=symbol.span)
        entry = _resolve("metric", call, self.diagnostics)
        if entry is None:
            return None
        target = targets.get(output) if output is not None else None
        if target is not None and target not in entry.targets:  # type: ignore[attr-defined]
            self.diagnostics.error(
                "E0305",
                f"metric '{symbol.name}' does not apply to {kinds[output]} "  # type: ignore[index]
                f"({target} targets)",
                symbol.span,
                hint="for regression use mean_absolute_error or mean_squared_error; "
                "accuracy is for classification",
            )
            return None
        return ir.Metric(kind=entry.kind, output=output or "", span=symbol.span)

    def train(self) -> ir.TrainConfig | None:
        span = self.spec.train_span or self.spec.span
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        ok = True
        known = [f for f in ir.TrainConfig.model_fields if f != "span"]
        for setting in self.spec.train or []:
            if setting.key not in known:
                suggestion = catalogue.base.did_you_mean(setting.key, known)
                self.diagnostics.error(
                    "E0107",
                    f"unknown train setting '{setting.key}'",
                    setting.key_span,
                    hint=f"did you mean '{suggestion}'?" if suggestion else "settings: " + ", ".join(known),
                )
                ok = False
                continue
            if setting.key in values:
                self.diagnostics.error(
                    "E0112", f"train setting '{setting.key}' is given twice", setting.key_span,
                    hint="keep one of them",
                )
                ok = False
                continue
            spans[setting.key] = setting.value.span
            if setting.key in _CALLED_SETTINGS:
                family, node = _CALLED_SETTINGS[setting.key]
                called = self._called(family, node, setting.value)
                ok &= called is not None
                values[setting.key] = called
                continue
            plain_ok, value = _plain(setting.value, self.diagnostics, "train")
            ok &= plain_ok
            values[setting.key] = value
        try:
            config = ir.TrainConfig(span=span, **values)
        except ValidationError as errors:
            earlier = {d.span for d in self.diagnostics}
            for error in errors.errors():
                field = str(error["loc"][0]) if error["loc"] else ""
                if field in spans and spans[field] in earlier:  # reported already
                    continue
                message = _message_for("train", field, error)
                if field in values:
                    message += f", got {_describe_value(values[field])}"
                description = ir.TrainConfig.model_fields[field].description if field else None
                choices = (error.get("ctx") or {}).get("expected", "")
                if error["type"] == "literal_error" and isinstance(values.get(field), str):
                    options = re.findall(r"'([^']*)'", str(choices))
                    suggestion = did_you_mean(values[field], options)
                    description = f"did you mean '{suggestion}'?" if suggestion else description
                hint = _python_habit(values.get(field)) or description
                self.diagnostics.error("E0113", message, spans.get(field, span), hint=hint)
            return None
        return config if ok else None

    def _called(self, family: str, node: type[ir.Node], value: ir.Value) -> ir.Node | None:
        """A setting that names a catalogue entry: `digits`, `idx("dir")`, `step(every=10)`."""
        if isinstance(value, ir.Symbol):
            value = ir.Call(name=value.name, name_span=value.span, span=value.span)
        if not isinstance(value, ir.Call):
            examples = ", ".join(catalogue.names(family, include_aliases=False)[:4])
            self.diagnostics.error(
                "E0113",
                f"expected a {family} name or call here, such as {examples}",
                value.span,
                hint=_quoted_name_hint(family, value)
                or ('e.g. data = digits, data = npz("file.npz", x="x", y="y")'
                    if family == "data" else "e.g. lr_schedule = step(every=10, gamma=0.5)"),
            )
            return None
        entry = _resolve(family, value, self.diagnostics)
        params = _validate(entry, value, self.diagnostics) if entry else None
        if entry is None or params is None:
            return None
        return node(kind=entry.kind, params=params, span=value.span)

    def class_weight(self, train: ir.TrainConfig, losses: list[ir.Loss], graph: _Graph) -> None:
        """One non-negative weight per class the model outputs, for a classification loss."""
        weights = train.class_weight
        if weights is None:
            return
        span = next(
            (s.value.span for s in self.spec.train or [] if s.key == "class_weight"), train.span
        )
        if len(losses) > 1:
            self.diagnostics.error(
                "E0306",
                f"class_weight applies to a model with one output; this one has {len(losses)}",
                span,
                hint="remove class_weight",
            )
            return
        loss = losses[0]
        target = catalogue.lookup("loss", loss.kind).target  # type: ignore[union-attr]
        shape = graph.shapes.get(loss.output)
        if shape is None:
            return
        units = shape[-1]
        classes = {"sparse": units, "one_hot": units, "binary": 2 if units == 1 else None}.get(target)
        if classes is None:
            self.diagnostics.error(
                "E0306",
                f"class_weight needs a loss over classes with one label per sample; "
                f"{loss.kind} on {units} output unit{'s' if units != 1 else ''} has none",
                span,
                hint="remove class_weight, or use a classification loss",
            )
        elif len(weights) != classes:
            self.diagnostics.error(
                "E0306",
                f"class_weight gives {len(weights)} weights, the model has {classes} classes",
                span,
                hint=f"give one weight per class: {classes} numbers",
            )
        elif any(w < 0 for w in weights):
            self.diagnostics.error(
                "E0306", "class weights must not be negative", span, hint="use weights ≥ 0"
            )

    def run(self) -> ir.Model | None:
        self._layer_names: list[str | None] = []
        inputs = self.inputs()
        graph = self.graph(inputs)
        losses = self.losses(graph)
        optimizer = self.optimizer()
        metrics = self.metrics(losses, graph)
        train = self.train()
        if train is not None and losses is not None and graph is not None:
            self.class_weight(train, losses, graph)
        if (
            inputs is None
            or graph is None
            or graph.layers is None
            or graph.outputs is None
            or losses is None
            or optimizer is None
            or metrics is None
            or train is None
            or self.diagnostics.has_errors
        ):
            return None
        total = sum(layer.trainable_params + layer.non_trainable_params for layer in graph.layers)
        if total > MAX_PARAMETERS:
            self.diagnostics.error(
                "E0231",
                f"the model has {total:,} parameters, more than {MAX_PARAMETERS:,}",
                self.spec.name_span,
                hint="use fewer or smaller layers",
            )
            return None
        model = ir.Model(
            name=self.spec.model_name,
            source=self.spec.span.file,
            inputs=inputs,
            layers=graph.layers,
            outputs=graph.outputs,
            losses=losses,
            optimizer=optimizer,
            metrics=metrics,
            train=train,
            span=self.spec.span,
        )
        if not self.monitor(model):
            return None
        if model.trainable_params == 0:
            self.diagnostics.warning(
                "W0304", "the model has no trainable parameters", self.spec.name_span,
                hint="add a layer with weights, such as Dense",
            )
        return model


    def monitor(self, model: ir.Model) -> bool:
        """`monitor` names a figure the run reports: `model.figures`, or one of them with
        `val_` when there is validation data."""
        name = model.train.monitor
        if name is None:
            return True
        figures = model.figures
        validated = [f"val_{figure}" for figure in figures]
        span = next(
            (s.value.span for s in self.spec.train or [] if s.key == "monitor"), model.train.span
        )
        if name in validated and not model.train.has_validation:
            self.diagnostics.error(
                "E0113",
                f"monitor '{name}' is a validation figure, but the run has no validation data",
                span,
                hint=f"set validation_split (e.g. 0.1), or monitor = {name.removeprefix('val_')}",
            )
            return False
        if name in figures or name in validated:
            return True
        choices = figures + validated if model.train.has_validation else figures
        suggestion = did_you_mean(name, choices)
        self.diagnostics.error(
            "E0113", f"monitor '{name}' is not a figure this model reports", span,
            hint=(f"did you mean '{suggestion}'? " if suggestion else "")
            + "it reports " + ", ".join(choices),
        )
        return False


def check(spec: ir.SpecFile, diagnostics: Diagnostics, expanded: bool = True) -> ir.Model | None:
    """The check pass: an expanded spec → the checked model, or None when there are errors.

    `expanded` is False when expansion reported errors (`netspec.blocks.expand`): what it
    could not expand is then left unreported here. The whole pipeline, text → checked model,
    is `netspec.frontend`.
    """
    with paused_gc():  # the checked IR holds no cycles either; see `paused_gc`
        return _Checker(spec, diagnostics, expanded=expanded).run()
