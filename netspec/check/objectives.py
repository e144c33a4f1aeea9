"""What the model is trained for and how: the losses and metrics of each output, the
optimizer, and the train settings (data source, schedule, class weights, monitor).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netspec import catalogue, ir
from netspec.check.bind import describe_value, message_for, plain, python_habit, resolve, validate
from netspec.check.context import SpecChecker
from netspec.check.graph import Graph
from netspec.diagnostics import Diagnostics, Span, did_you_mean

# Train settings whose value names a catalogue entry, and the IR node it becomes.
_CALLED_SETTINGS: dict[str, tuple[str, type[ir.Node]]] = {
    "data": ("data", ir.DataSource),
    "lr_schedule": ("schedule", ir.Schedule),
}


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


class ObjectivesChecker(SpecChecker):
    """Checks the loss, loss_weights, metrics, optimizer and train sections."""

    def __init__(
        self, spec: ir.SpecFile, diagnostics: Diagnostics, layer_names: list[str | None]
    ) -> None:
        super().__init__(spec, diagnostics)
        self._layer_names = layer_names  # the graph's, for naming a key that is not an output

    # -- losses and metrics, per output

    def losses(self, graph: Graph | None) -> list[ir.Loss] | None:
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

    def _loss(self, call: ir.Call, output: str | None, graph: Graph | None) -> ir.Loss | None:
        entry = resolve("loss", call, self.diagnostics)
        params = validate(entry, call, self.diagnostics) if entry else None
        if entry is None or params is None:
            return None
        shape = graph.shapes.get(output) if graph is not None and output is not None else None
        if graph is not None and output is not None and shape is not None:
            loss_entry = catalogue.loss(entry.kind)
            for finding in loss_entry.check_output(params, shape, graph.activation_of(output)):
                report = self.diagnostics.warning if finding.warning else self.diagnostics.error
                report(finding.code, finding.message, call.span, finding.hint)
        return ir.Loss(kind=entry.kind, params=params, output=output or "", span=call.span)

    def optimizer(self) -> ir.Optimizer | None:
        call = self.spec.optimizer
        if call is None:
            self._missing("optimizer", "optimizer Adam(lr=1e-3)")
            return None
        entry = resolve("optimizer", call, self.diagnostics)
        params = validate(entry, call, self.diagnostics) if entry else None
        if entry is None or params is None:
            return None
        return ir.Optimizer(kind=entry.kind, params=params, span=call.span)

    def metrics(self, losses: list[ir.Loss] | None, graph: Graph | None) -> list[ir.Metric] | None:
        """Metrics per output: `metrics [..]` for a model's one output, or `metrics { o = [..] }`."""
        outputs = graph.outputs if graph is not None else None
        targets: dict[str, str] = {}
        kinds: dict[str, str] = {}
        for loss in losses or []:
            targets[loss.output] = catalogue.loss(loss.kind).target
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
        entry = resolve("metric", call, self.diagnostics)
        if entry is None:
            return None
        target = targets.get(output) if output is not None else None
        if (
            output is not None
            and target is not None
            and target not in catalogue.metric(entry.kind).targets
        ):
            self.diagnostics.error(
                "E0305",
                f"metric '{symbol.name}' does not apply to {kinds[output]} "
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
            plain_ok, value = plain(setting.value, self.diagnostics, "train")
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
                message = message_for("train", field, error)
                if field in values:
                    message += f", got {describe_value(values[field])}"
                description = ir.TrainConfig.model_fields[field].description if field else None
                choices = (error.get("ctx") or {}).get("expected", "")
                if error["type"] == "literal_error" and isinstance(values.get(field), str):
                    options = re.findall(r"'([^']*)'", str(choices))
                    suggestion = did_you_mean(values[field], options)
                    description = f"did you mean '{suggestion}'?" if suggestion else description
                hint = python_habit(values.get(field)) or description
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
        entry = resolve(family, value, self.diagnostics)
        params = validate(entry, value, self.diagnostics) if entry else None
        if entry is None or params is None:
            return None
        return node(kind=entry.kind, params=params, span=value.span)

    def class_weight(self, train: ir.TrainConfig, losses: list[ir.Loss], graph: Graph) -> None:
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
        target = catalogue.loss(loss.kind).target
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
