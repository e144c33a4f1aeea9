"""The check pass, expanded syntax tree → checked IR: resolve names, validate arguments, infer
shapes, count parameters (`netspec.frontend` runs parse → expand → check).

Every problem becomes a diagnostic on the span that caused it, and checking carries on, so a
file with several independent errors reports all of them. The pass has three parts, run in
this order by `check` below:

- `bind`: a call → its catalogue entry and validated parameters, for every family;
- `graph`: the inputs and the layer graph, with shapes and parameter counts;
- `objectives`: losses, metrics, optimizer and train settings, which read the graph.
"""

from __future__ import annotations

from netspec import ir
from netspec.check.graph import GraphChecker
from netspec.check.objectives import ObjectivesChecker
from netspec.diagnostics import Diagnostics
from netspec.limits import MAX_PARAMETERS
from netspec.parse import paused_gc

__all__ = ["check"]


def check(spec: ir.SpecFile, diagnostics: Diagnostics, expanded: bool = True) -> ir.Model | None:
    """The check pass: an expanded spec → the checked model, or None when there are errors.

    `expanded` is False when expansion reported errors (`netspec.expand.expand`): what it
    could not expand is then left unreported here. The whole pipeline, text → checked model,
    is `netspec.frontend`.
    """
    with paused_gc():  # the checked IR holds no cycles either; see `paused_gc`
        return _checked_model(spec, diagnostics, expanded)


def _checked_model(spec: ir.SpecFile, diagnostics: Diagnostics, expanded: bool) -> ir.Model | None:
    """Each section checked (all of them, so every error is reported), then the model."""
    layers = GraphChecker(spec, diagnostics, expanded=expanded)
    inputs = layers.inputs()
    graph = layers.graph(inputs)
    objectives = ObjectivesChecker(spec, diagnostics, graph.names if graph is not None else [])
    losses = objectives.losses(graph)
    optimizer = objectives.optimizer()
    metrics = objectives.metrics(losses, graph)
    train = objectives.train()
    if train is not None and losses is not None and graph is not None:
        objectives.class_weight(train, losses, graph)
    if (
        inputs is None
        or graph is None
        or graph.layers is None
        or graph.outputs is None
        or losses is None
        or optimizer is None
        or metrics is None
        or train is None
        or diagnostics.has_errors
    ):
        return None
    total = sum(layer.trainable_params + layer.non_trainable_params for layer in graph.layers)
    if total > MAX_PARAMETERS:
        diagnostics.error(
            "E0231",
            f"the model has {total:,} parameters, more than {MAX_PARAMETERS:,}",
            spec.name_span,
            hint="use fewer or smaller layers",
        )
        return None
    model = ir.Model(
        name=spec.model_name,
        source=spec.span.file,
        inputs=inputs,
        layers=graph.layers,
        outputs=graph.outputs,
        losses=losses,
        optimizer=optimizer,
        metrics=metrics,
        train=train,
        span=spec.span,
    )
    if not objectives.monitor(model):
        return None
    if model.trainable_params == 0:
        diagnostics.warning(
            "W0304", "the model has no trainable parameters", spec.name_span,
            hint="add a layer with weights, such as Dense",
        )
    return model
