"""Argument binding, for every family: a call in a spec (`Dense(64, activation=relu)`,
`Adam(lr=1e-3)`, `step(every=10)`) → its catalogue entry and validated parameters.

Names are resolved against the catalogue (an unknown one gets a did-you-mean hint), arguments
bound to the entry's fields, and the values validated by its parameter model; each mistake is
reported in the language's words on the argument that caused it, and binding carries on.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from netspec import catalogue, ir
from netspec.catalogue.shapes import fmt
from netspec.diagnostics import PYTHON_CONSTANTS, Diagnostics, Span, closest
from netspec.expand.expr import search_value_elsewhere

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



def plain(value: ir.Value, diagnostics: Diagnostics, what: str) -> tuple[bool, Any]:
    """A syntax value as plain Python (a name becomes its string, a list a tuple)."""
    if isinstance(value, ir.Literal):
        return True, value.value
    if isinstance(value, ir.Symbol):
        return True, value.name
    if isinstance(value, ir.ListValue):
        items = [plain(item, diagnostics, what) for item in value.items]
        return all(ok for ok, _ in items), tuple(v for _, v in items)
    if isinstance(value, ir.Call) and value.name in ir.SEARCH_FUNCTIONS:
        search_value_elsewhere(value, diagnostics)
        return False, None
    diagnostics.error(
        "E0113",
        f"{what} takes a plain value here, not a call to {value.name}",
        value.span,
        hint="write a number, a string, a name or a list",
    )
    return False, None


def describe_value(value: Any) -> str:
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


def message_for(kind: str, field: str, error: Mapping[str, Any]) -> str:
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


def python_habit(given: Any) -> str | None:
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
            plain_ok, value = plain(arg.value, diagnostics, what)
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
    entry = resolve("layer", value, diagnostics)
    params = validate(entry, value, diagnostics) if entry else None
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


def validate(
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
                    hint=python_habit(name) or unknown_hint(family, name),
                )
            else:
                given = bound.values.get(field)
                message = message_for(what, path, error)
                if field in bound.values:
                    message += f", got {describe_value(given)}"
                hint = python_habit(given) or description
                diagnostics.error("E0113", message, span, hint=hint)
        return None
    return params if bound.ok else None


def trainable_arg(call: ir.Call, diagnostics: Diagnostics) -> tuple[ir.Call, bool | None]:
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


def resolve(family: str, call: ir.Call, diagnostics: Diagnostics) -> type[catalogue.Entry] | None:
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
