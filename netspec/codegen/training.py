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
    monitor: str  # the figure early stopping, plateau schedules and the best checkpoint watch
    higher_is_better: bool  # how they read it: accuracy up, losses and errors down
    min_delta: float  # the least change that counts as an improvement
    restore_best: bool  # fit ends with the best epoch's weights
    schedule: ir.Schedule | None
    schedule_factor: str | None  # expression of `epoch`, None for plateau rules
    early_stopping: int | None
    clip_norm: float | None
    loop_weight_decay: float  # decoupled decay the PyTorch loop applies itself
    base_lr: float
    has_convolutions: bool

    @property
    def mode(self) -> str:
        """Keras' and PyTorch's word for the monitor's direction."""
        return "max" if self.higher_is_better else "min"


def plan(model: ir.Model) -> TrainingPlan:
    config = model.train
    optimizer = catalogue.optimizer(model.optimizer.kind)
    schedule = config.lr_schedule
    factor = None
    if schedule is not None:
        factor = catalogue.schedule(schedule.kind).factor(schedule.params, config.epochs)
    monitor = config.monitor or ("val_loss" if config.has_validation else "loss")
    return TrainingPlan(
        monitor=monitor,
        higher_is_better=higher_is_better(model, monitor),
        min_delta=config.min_delta,
        restore_best=config.restore_best,
        schedule=schedule,
        schedule_factor=factor,
        early_stopping=config.early_stopping,
        clip_norm=config.clip_norm,
        loop_weight_decay=optimizer.loop_weight_decay(model.optimizer.params),
        base_lr=float(getattr(model.optimizer.params, "lr", 0.0)),
        has_convolutions=any(_channels_last(layer) for layer in model.layers),
    )


def higher_is_better(model: ir.Model, figure: str) -> bool:
    """Whether a figure of `model.figures` (or its val_ twin) improves upwards: a metric that
    says so (accuracy); losses and errors improve downwards."""
    name = figure.removeprefix("val_")
    for metric in model.metrics:
        if name in (metric.kind, f"{metric.output}_{metric.kind}"):
            return catalogue.metric(metric.kind).higher_is_better
    return False


def _channels_last(layer: ir.Layer) -> bool:
    return catalogue.layer(layer.kind).channels_last_memory


def write_schedule_factor(w: Writer, training: TrainingPlan) -> None:
    """`learning_rate_factor(epoch)`, the same function in both targets."""
    assert training.schedule is not None and training.schedule_factor is not None
    entry = catalogue.schedule(training.schedule.kind)
    w.line()
    w.line()
    w.line("def learning_rate_factor(epoch: int) -> float:")
    with w.indent():
        w.docstring(f"The {training.schedule.kind} schedule: lr(epoch) = {entry.formula}.")
        w.line(f"return {training.schedule_factor}")
