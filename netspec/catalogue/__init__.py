"""The catalogue: every layer, loss, optimizer, activation, initializer and metric netspec knows.

Importing this package registers every entry. To add a layer, add a class to the module of its
family (or a new module imported here), with its parity `examples`, and its section in
docs/semantics.md; nothing else changes.

The typed getters below (`layer(kind)`, `loss(kind)`, …) return the entry of a name that
checked IR holds, typed as its family's class; `lookup` answers None for a name that may be
unknown (a spec's text, a typo).
"""

from netspec.catalogue import (  # noqa: F401  (imported to register their entries)
    activations,
    attention,
    conv,
    core,
    data,
    embedding,
    initializers,
    losses,
    merge,
    metrics,
    normalization,
    optimizers,
    preprocessing,
    recurrent,
    schedules,
)
from netspec.catalogue.activations import ActivationEntry
from netspec.catalogue.base import (
    Code,
    Entry,
    Layout,
    PyCall,
    ShapeError,
    TorchLowering,
    entries,
    get,
    lookup,
    names,
    suggest,
)
from netspec.catalogue.data import DataSourceEntry
from netspec.catalogue.layer import LayerEntry, LayerValue, WeightMap
from netspec.catalogue.losses import LossEntry
from netspec.catalogue.metrics import MetricEntry
from netspec.catalogue.optimizers import OptimizerEntry
from netspec.catalogue.schedules import ScheduleEntry

# `layer` below shadows the submodule netspec.catalogue.layer as an attribute of this package;
# import from that module by its full name (`from netspec.catalogue.layer import ...`).


def layer(kind: str) -> LayerEntry:
    """The layer entry of a checked layer's kind."""
    return get("layer", kind, LayerEntry)


def loss(kind: str) -> LossEntry:
    """The loss entry of a checked loss's kind."""
    return get("loss", kind, LossEntry)


def optimizer(kind: str) -> OptimizerEntry:
    """The optimizer entry of a checked optimizer's kind."""
    return get("optimizer", kind, OptimizerEntry)


def metric(kind: str) -> MetricEntry:
    """The metric entry of a checked metric's kind."""
    return get("metric", kind, MetricEntry)


def schedule(kind: str) -> ScheduleEntry:
    """The learning-rate schedule entry of a checked schedule's kind."""
    return get("schedule", kind, ScheduleEntry)


def activation(name: str) -> ActivationEntry:
    """The activation entry of a checked activation name."""
    return get("activation", name, ActivationEntry)


def data_source(kind: str) -> DataSourceEntry:
    """The data source entry of a checked source's kind (`data` is the module of sources)."""
    return get("data", kind, DataSourceEntry)


__all__ = [
    "ActivationEntry",
    "Code",
    "DataSourceEntry",
    "Entry",
    "LayerEntry",
    "LayerValue",
    "Layout",
    "LossEntry",
    "MetricEntry",
    "OptimizerEntry",
    "PyCall",
    "ScheduleEntry",
    "ShapeError",
    "TorchLowering",
    "WeightMap",
    "activation",
    "data_source",
    "entries",
    "get",
    "layer",
    "lookup",
    "loss",
    "metric",
    "names",
    "optimizer",
    "schedule",
    "suggest",
]
