"""Syntax tree → checked IR: resolve names, validate arguments, infer shapes, count parameters.

Every problem becomes a diagnostic on the span that caused it, and checking carries on, so a
file with several independent errors reports all of them. Shape inference stops at the first
layer whose shape cannot be known, so one mistake does not cascade into a dozen.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netspec import catalogue, ir
from netspec.catalogue.shapes import fmt
from netspec.diagnostics import Diagnostics, Span
from netspec.parse import parse, parse_value, paused_gc

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

# Names a layer may not take: they would shadow what generated code needs.
RESERVED_NAMES = frozenset(
    {
        "self", "x", "input", "inputs", "outputs", "model", "torch", "nn", "keras", "layers", "np",
        "forward", "training", "parameters", "buffers", "children", "modules", "state_dict",
        "load_state_dict", "to", "cuda", "cpu", "train", "eval", "apply", "type", "float",
        "double", "half", "zero_grad", "reset_parameters", "register_buffer", "add_module",
        "named_parameters", "named_buffers", "named_children", "named_modules", "extra_repr",
        "requires_grad_", "share_memory", "dump_patches", "call_super_init", "get_submodule",
    }
)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def snake_case(kind: str) -> str:
    """Keras' way of naming a layer after its class.

    >>> snake_case("MaxPooling2D"), snake_case("Conv2D"), snake_case("LSTM")
    ('max_pooling2d', 'conv2d', 'lstm')
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", kind)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


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


def _message_for(kind: str, field: str, error: dict[str, Any]) -> str:
    message = str(error["msg"])
    if message.startswith("Input should be"):
        message = field + message[len("Input"):]
    elif message.startswith("Value error, "):
        message = f"{field}: " + message[len("Value error, "):]
    else:
        message = f"{field}: {message[0].lower()}{message[1:]}"
    return f"{kind}: {message}"


@dataclass
class _Bound:
    values: dict[str, Any]
    spans: dict[str, Span]
    ok: bool


def _bind(
    entry: type[catalogue.Entry], call: ir.Call, diagnostics: Diagnostics, what: str
) -> _Bound:
    """Positional and keyword arguments → field values, with their spans.

    Arguments that cannot be bound are reported and left out, so the others are still
    validated and their errors reported too.
    """
    fields = entry.Params.model_fields
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    ok = True
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
                ok = False
                continue
        if field in values:
            diagnostics.error(
                "E0112", f"{what}: argument '{field}' is given twice", field_span,
                hint="keep one of them",
            )
            ok = False
            continue
        plain_ok, value = _plain(arg.value, diagnostics, what)
        ok &= plain_ok
        values[field] = value
        spans[field] = arg.span
    return _Bound(values, spans, ok)


def _validate(
    entry: type[catalogue.Entry],
    call: ir.Call,
    diagnostics: Diagnostics,
) -> ir.Params | None:
    what = call.name
    bound = _bind(entry, call, diagnostics, what)
    try:
        params = entry.Params.model_validate(bound.values)
    except ValidationError as errors:
        # A value already reported (a call as a value, a number that is not finite) is not
        # reported again for the placeholder that stands in for it.
        reported: set[tuple[str, Span]] = {("", d.span) for d in diagnostics}
        for error in errors.errors():
            loc = error["loc"]
            field = str(loc[0]) if loc else ""
            path = field
            if isinstance(bound.values.get(field), tuple):  # point into a list the spec wrote
                path += "".join(f"[{i}]" for i in loc[1:])
            span = bound.spans.get(field, call.span)
            # `kernel_size=0` is wrong once, not per axis
            if (field, span) in reported or ("", span) in reported:
                continue
            reported.add((field, span))
            description = entry.Params.model_fields[field].description if field else None
            if error["type"] == "missing":
                diagnostics.error(
                    "E0110",
                    f"{what} is missing its required argument '{field}'",
                    call.span,
                    hint=f"{field}: {description}" if description else None,
                )
            elif error["type"] == "unknown_name":
                ctx = error.get("ctx", {})
                suggestion = ctx.get("suggestion")
                family = ctx.get("family", "activation")
                known = ", ".join(catalogue.names(family, include_aliases=False))
                diagnostics.error(
                    _UNKNOWN_CODES[family],
                    f"{what}: unknown {family} '{ctx.get('name')}'",
                    span,
                    hint=f"did you mean '{suggestion}'?" if suggestion else f"known: {known}",
                )
            else:
                given = bound.values.get(field)
                message = _message_for(what, path, error)
                if field in bound.values:
                    message += f", got {_describe_value(given)}"
                diagnostics.error("E0113", message, span, hint=description)
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


def _resolve(family: str, call: ir.Call, diagnostics: Diagnostics) -> type[catalogue.Entry] | None:
    entry = catalogue.lookup(family, call.name)
    if entry is None:
        suggestion = catalogue.suggest(family, call.name)
        known = ", ".join(catalogue.names(family, include_aliases=False))
        what = _FAMILY_WORDS.get(family, family)
        diagnostics.error(
            _UNKNOWN_CODES[family],
            f"unknown {what} '{call.name}'",
            call.name_span,
            hint=f"did you mean '{suggestion}'?" if suggestion else f"known {what}s: {known}",
        )
    return entry


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

    def input_shape(self) -> ir.Shape | None:
        if not self.spec.inputs:
            self._missing("input", "input [28, 28, 1]")
            return None
        value = self.spec.inputs[0].shape
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
        return tuple(dims)

    def layers(self, input_shape: ir.Shape | None) -> list[ir.Layer] | None:
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
        names = self._names(statements)
        shape = input_shape if self.expanded else None
        previous = "input"
        result: list[ir.Layer] = []
        for statement, name in zip(statements, names, strict=True):
            with self.diagnostics.related(statement.origin):
                layer = self._layer(statement, name, shape, previous)
            if layer is None:
                shape = None
                continue
            result.append(layer)
            shape, previous = layer.output_shape, layer.name
        return result if len(result) == len(statements) else None

    def _layer(
        self, statement: ir.LayerStmt, name: str | None, shape: ir.Shape | None, previous: str
    ) -> ir.Layer | None:
        """One statement checked against the shape it reads; None when it fails."""
        call, trainable = _trainable(statement.call, self.diagnostics)
        entry = _resolve("layer", call, self.diagnostics)
        params = _validate(entry, call, self.diagnostics) if entry else None
        if entry is None or params is None or shape is None or name is None or trainable is None:
            return None
        layer_entry = entry()
        assert isinstance(layer_entry, catalogue.LayerEntry)
        try:
            out_shape = layer_entry.output_shape(params, shape)
        except catalogue.ShapeError as error:
            span = call.span
            positional = iter(entry.positional)
            for arg in call.args:
                field = arg.keyword if arg.keyword else next(positional, None)
                if error.arg and field == error.arg:
                    span = arg.span
            self.diagnostics.error(error.code, error.message, span, hint=error.hint)
            return None
        counted, frozen = layer_entry.param_counts(params, shape)
        if not trainable:  # a frozen layer's weights are all non-trainable
            counted, frozen = 0, counted + frozen
        return ir.Layer(
            name=name,
            kind=entry.kind,
            params=params,
            inputs=[previous],
            input_shape=shape,
            output_shape=out_shape,
            trainable=trainable,
            trainable_params=counted,
            non_trainable_params=frozen,
            span=statement.span,
        )

    def _names(self, statements: list[ir.LayerStmt]) -> list[str | None]:
        explicit: dict[str, Span] = {}
        names: list[str | None] = []
        for statement in statements:
            name, span = statement.name, statement.name_span
            if name is None or span is None:
                continue
            if not _NAME.match(name) or keyword.iskeyword(name) or name in RESERVED_NAMES:
                self.diagnostics.error(
                    "E0121",
                    f"'{name}' cannot name a layer: "
                    + (
                        "it is reserved in generated code"
                        if _NAME.match(name)
                        else "a layer name starts with a letter"
                    ),
                    span,
                    hint="choose another name, starting with a letter",
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
        taken = set(explicit)
        counters: dict[str, int] = {}
        for statement in statements:
            if statement.name is not None:
                names.append(statement.name if statement.name in explicit else None)
                continue
            entry = catalogue.lookup("layer", statement.call.name)
            base = snake_case(entry.kind if entry else statement.call.name)
            while True:
                n = counters.get(base, 0)
                counters[base] = n + 1
                candidate = base if n == 0 else f"{base}_{n}"
                if candidate not in taken and candidate not in RESERVED_NAMES:
                    break
            taken.add(candidate)
            names.append(candidate)
        # A duplicate keeps its first use; later uses are reported and get no layer.
        seen: set[str] = set()
        for i, statement in enumerate(statements):
            if statement.name is not None and statement.name in seen:
                names[i] = None
            elif statement.name is not None:
                seen.add(statement.name)
        return names

    def loss(self, layers: list[ir.Layer] | None) -> ir.Loss | None:
        call = self.spec.loss
        if call is None:
            self._missing("loss", "loss categorical_crossentropy")
            return None
        entry = _resolve("loss", call, self.diagnostics)
        params = _validate(entry, call, self.diagnostics) if entry else None
        if entry is None or params is None:
            return None
        if layers:
            loss_entry = entry()
            assert isinstance(loss_entry, catalogue.LossEntry)
            for finding in loss_entry.check_output(
                params, layers[-1].output_shape, self._output_activation(layers)
            ):
                report = self.diagnostics.warning if finding.warning else self.diagnostics.error
                report(finding.code, finding.message, call.span, finding.hint)
        return ir.Loss(kind=entry.kind, params=params, span=call.span)

    @staticmethod
    def _output_activation(layers: list[ir.Layer]) -> str | None:
        for layer in reversed(layers):
            entry = catalogue.lookup("layer", layer.kind)
            assert entry is not None
            instance = entry()
            assert isinstance(instance, catalogue.LayerEntry)
            if not instance.transparent:
                return instance.activation(layer.params)
        return "linear"

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

    def metrics(self, loss: ir.Loss | None) -> list[ir.Metric] | None:
        result: list[ir.Metric] = []
        ok = True
        target = None
        if loss is not None:
            loss_entry = catalogue.lookup("loss", loss.kind)
            target = loss_entry.target  # type: ignore[union-attr]
        for symbol in self.spec.metrics or []:
            call = ir.Call(name=symbol.name, name_span=symbol.span, span=symbol.span)
            entry = _resolve("metric", call, self.diagnostics)
            if entry is None:
                ok = False
                continue
            if target is not None and target not in entry.targets:  # type: ignore[attr-defined]
                self.diagnostics.error(
                    "E0305",
                    f"metric '{symbol.name}' does not apply to {loss.kind} "  # type: ignore[union-attr]
                    f"({target} targets)",
                    symbol.span,
                    hint="for regression use mean_absolute_error or mean_squared_error; "
                    "accuracy is for classification",
                )
                ok = False
                continue
            result.append(ir.Metric(kind=entry.kind, span=symbol.span))
        return result if ok else None

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
                self.diagnostics.error("E0113", message, spans.get(field, span), hint=description)
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
                hint='e.g. data = digits, data = npz("file.npz", x="x", y="y")'
                if family == "data" else "e.g. lr_schedule = step(every=10, gamma=0.5)",
            )
            return None
        entry = _resolve(family, value, self.diagnostics)
        params = _validate(entry, value, self.diagnostics) if entry else None
        if entry is None or params is None:
            return None
        return node(kind=entry.kind, params=params, span=value.span)

    def class_weight(
        self, train: ir.TrainConfig, loss: ir.Loss, layers: list[ir.Layer]
    ) -> None:
        """One non-negative weight per class the model outputs, for a classification loss."""
        weights = train.class_weight
        if weights is None:
            return
        span = next(
            (s.value.span for s in self.spec.train or [] if s.key == "class_weight"), train.span
        )
        target = catalogue.lookup("loss", loss.kind).target  # type: ignore[union-attr]
        units = layers[-1].output_shape[-1]
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
        input_shape = self.input_shape()
        layers = self.layers(input_shape)
        loss = self.loss(layers)
        optimizer = self.optimizer()
        metrics = self.metrics(loss)
        train = self.train()
        if train is not None and loss is not None and layers:
            self.class_weight(train, loss, layers)
        if (
            input_shape is None
            or layers is None
            or loss is None
            or optimizer is None
            or metrics is None
            or train is None
            or self.diagnostics.has_errors
        ):
            return None
        assert self.spec.inputs
        model = ir.Model(
            name=self.spec.model_name,
            source=self.spec.span.file,
            inputs=[ir.Input(name="input", shape=input_shape, span=self.spec.inputs[0].shape.span)],
            layers=layers,
            outputs=[layers[-1].name],
            loss=loss,
            optimizer=optimizer,
            metrics=metrics,
            train=train,
            span=self.spec.span,
        )
        if model.trainable_params == 0:
            self.diagnostics.warning(
                "W0304", "the model has no trainable parameters", self.spec.name_span,
                hint="add a layer with weights, such as Dense",
            )
        return model


def check(
    spec: ir.SpecFile, diagnostics: Diagnostics, sources: dict[str, str] | None = None
) -> ir.Model | None:
    """Check a parsed spec; returns the checked model, or None when there are errors.

    Blocks, imports, `repeat` and arithmetic are expanded first (`netspec.blocks`); the
    texts of imported files are added to `sources` for rendering their diagnostics.
    """
    from netspec.blocks import expand

    with paused_gc():  # the checked IR holds no cycles either; see `paused_gc`
        expanded, ok = expand(spec, diagnostics, sources)
        return _Checker(expanded, diagnostics, expanded=ok).run()


def override_train(
    spec: ir.SpecFile, overrides: Mapping[str, str], diagnostics: Diagnostics
) -> ir.SpecFile | None:
    """The spec with train settings replaced by values written in spec syntax (`--data …`).

    A value's diagnostics name the option as their file (`--data:1:5`), so they render like
    any other: the option's text, a caret and a hint.
    """
    settings = {s.key: s for s in spec.train or []}
    ok = True
    for key, text in overrides.items():
        value = parse_value(text, f"--{key.replace('_', '-')}", diagnostics)
        if value is None:
            ok = False
            continue
        settings[key] = ir.Setting(key=key, key_span=value.span, value=value, span=value.span)
    if not ok:
        return None
    return spec.model_copy(update={"train": list(settings.values())})


def check_source(
    source: str,
    file: str = "<spec>",
    overrides: Mapping[str, str] | None = None,
    sources: dict[str, str] | None = None,
) -> tuple[ir.Model | None, Diagnostics]:
    """Parse and check spec text in one go, with train settings overridden if given.

    Files the spec imports are read relative to `file`; their texts go into `sources`.
    """
    diagnostics = Diagnostics()
    spec = parse(source, file, diagnostics)
    if spec is not None and overrides:
        spec = override_train(spec, overrides, diagnostics)
    if spec is None:
        return None, diagnostics
    return check(spec, diagnostics, sources), diagnostics


def check_file(
    path: str | Path, overrides: Mapping[str, str] | None = None
) -> tuple[ir.Model | None, Diagnostics, str | dict[str, str] | None]:
    """Read, parse and check a spec file; the source comes back for rendering diagnostics:
    its text, or the texts by file name when it imports others."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        diagnostics = Diagnostics()
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        diagnostics.error(
            "E0002",
            f"cannot read {path}: {reason}",
            Span(file=str(path), line=1, column=1, end_line=1, end_column=1),
            hint="check the path; spec files are UTF-8 text",
        )
        return None, diagnostics, None
    sources: dict[str, str] = {}
    model, diagnostics = check_source(source, str(path), overrides, sources)
    if sources:
        return model, diagnostics, {str(path): source, **sources}
    return model, diagnostics, source
