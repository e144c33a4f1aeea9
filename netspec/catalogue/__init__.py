"""The catalogue: every layer, loss, optimizer, activation, initializer and metric netspec knows.

Importing this package registers every entry. To add a layer, add a class to the module of its
family (or a new module imported here) and a row to the per-layer tests; nothing else changes.
"""

from netspec.catalogue import (  # noqa: F401  (imported to register their entries)
    activations,
    attention,
    conv,
    core,
    data,
    embedding,
    initializers,
    merge,
    normalization,
    preprocessing,
    recurrent,
    training,
)
from netspec.catalogue.base import (
    Code,
    Entry,
    Layout,
    PyCall,
    ShapeError,
    TorchLowering,
    entries,
    lookup,
    names,
    suggest,
)
from netspec.catalogue.layer import LayerEntry, LayerValue, WeightMap
from netspec.catalogue.training import LossEntry, MetricEntry, OptimizerEntry

__all__ = [
    "Code",
    "Entry",
    "LayerEntry",
    "LayerValue",
    "Layout",
    "LossEntry",
    "MetricEntry",
    "OptimizerEntry",
    "PyCall",
    "ShapeError",
    "TorchLowering",
    "WeightMap",
    "entries",
    "lookup",
    "names",
    "suggest",
]
