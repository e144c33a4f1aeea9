"""The figures of a run (loss, metrics, learning rate) in one order and one rounding on
both backends, wherever a run shows or writes them: epoch lines, `test:`, history.json and
.csv, test.json, curves.png.

The order is the PyTorch module's: the loss, each output's loss (several outputs), then the
metrics as the spec lists them; the validation figures in the same order; then `lr`. Keras
reports its figures in name order, so they are put in this one. Both frameworks compute the
figures in float32; each is kept as the shortest decimal that is the same float32
(`0.001`, not `0.0010000000474974513`), which loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from netspec import ir
from netspec.codegen.writer import identifier


def figure_names(model: ir.Model) -> list[str]:
    """The names of a model's training figures, in the order a run shows them."""
    if len(model.outputs) == 1:  # one output's loss is the loss (also with several inputs)
        return ["loss", *(metric.kind for metric in model.metrics)]
    names = ["loss", *(f"{identifier(loss.output)}_loss" for loss in model.losses)]
    names += [
        f"{identifier(loss.output)}_{metric.kind}"
        for loss in model.losses
        for metric in model.metrics
        if metric.output == loss.output
    ]
    return names


def in_order(logs: Mapping[str, float], model: ir.Model) -> dict[str, float]:
    """The figures in the order of figure_names (validation ones after them, then `lr`);
    a name it does not list keeps its place after those of its kind."""
    names = figure_names(model)

    def rank(name: str) -> tuple[int, int]:
        validation = name.startswith("val_")
        base = name[4:] if validation else name
        if name == "lr":
            return (2, 0)
        return (int(validation), names.index(base) if base in names else len(names))

    return {name: logs[name] for name in sorted(logs, key=rank)}  # sorted is stable


def float32_figure(value: float) -> float:
    """The shortest decimal that reads back as the same float32 value."""
    import numpy as np

    return float(str(np.float32(value)))


def tidy(logs: Mapping[str, float], model: ir.Model, lr_float32: bool = True) -> dict[str, float]:
    """Figures in order, each as its float32's shortest decimal. PyTorch keeps its learning
    rate as a Python float (`lr_float32=False`): that one is kept as it is."""
    return {
        name: float(value) if name == "lr" and not lr_float32 else float32_figure(value)
        for name, value in in_order(logs, model).items()
    }
