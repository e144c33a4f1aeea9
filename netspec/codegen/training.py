"""What both generators need to know about the spec's training rule.

The training loop itself is written per framework (`torch_loop`, `keras_loop`); this module
derives the few facts they share from the IR, and writes the learning-rate factor function
that both targets use, so that both follow the same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

from netspec import catalogue, ir
from netspec.codegen.writer import Writer


@dataclass(frozen=True)
class TrainingPlan:
    monitor: str  # the figure early stopping and plateau schedules watch
    schedule: ir.Schedule | None
    schedule_factor: str | None  # expression of `epoch`, None for plateau rules
    early_stopping: int | None
    clip_norm: float | None
    loop_weight_decay: float  # decoupled decay the PyTorch loop applies itself
    base_lr: float
    has_convolutions: bool


def plan(model: ir.Model) -> TrainingPlan:
    config = model.train
    optimizer_entry = catalogue.lookup("optimizer", model.optimizer.kind)
    assert optimizer_entry is not None
    optimizer = optimizer_entry()
    schedule = config.lr_schedule
    factor = None
    if schedule is not None:
        entry = catalogue.lookup("schedule", schedule.kind)
        assert entry is not None
        factor = entry().factor(schedule.params, config.epochs)  # type: ignore[attr-defined]
    return TrainingPlan(
        monitor="val_loss" if config.validation_split > 0 else "loss",
        schedule=schedule,
        schedule_factor=factor,
        early_stopping=config.early_stopping,
        clip_norm=config.clip_norm,
        loop_weight_decay=optimizer.loop_weight_decay(model.optimizer.params),
        base_lr=float(getattr(model.optimizer.params, "lr", 0.0)),
        has_convolutions=any(_channels_last(layer) for layer in model.layers),
    )


def _channels_last(layer: ir.Layer) -> bool:
    entry = catalogue.lookup("layer", layer.kind)
    return bool(getattr(entry, "channels_last_memory", False))


def write_schedule_factor(w: Writer, training: TrainingPlan) -> None:
    """`learning_rate_factor(epoch)`, the same function in both targets."""
    assert training.schedule is not None and training.schedule_factor is not None
    entry = catalogue.lookup("schedule", training.schedule.kind)
    assert entry is not None
    w.line()
    w.line()
    w.line("def learning_rate_factor(epoch: int) -> float:")
    with w.indent():
        w.docstring(f"The {training.schedule.kind} schedule: lr(epoch) = {entry.formula}.")  # type: ignore[attr-defined]
        w.line(f"return {training.schedule_factor}")
