"""Learning-rate schedules: a per-epoch factor both targets compute alike, or a plateau rule."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from netspec import ir
from netspec.catalogue.base import Code, Entry, PyCall


class ScheduleEntry(Entry):
    """A per-epoch learning rate: lr(epoch) = lr × factor(epoch), or a plateau rule.

    Both generators write the same `learning_rate_factor(epoch)` function, so PyTorch
    (`LambdaLR`) and Keras (`LearningRateScheduler`) follow exactly the same curve.
    """

    family = "schedule"
    formula: ClassVar[str]

    def factor(self, p: Any, epochs: int) -> str | None:
        """Python expression of `epoch` (and `math`); None for rules that watch a metric."""
        raise NotImplementedError

    def torch(self, p: Any, mode: str = "min") -> PyCall:
        """The PyTorch scheduler of a rule that watches a metric (where `factor` is None)."""
        raise NotImplementedError

    def keras(self, p: Any, monitor: str, mode: str = "min") -> PyCall:
        """The Keras callback of a rule that watches a metric (where `factor` is None)."""
        raise NotImplementedError


class StepParams(ir.Params):
    every: int = Field(10, gt=0, description="epochs between two decays")
    gamma: float = Field(0.1, gt=0, description="factor applied at each decay")


class StepSchedule(ScheduleEntry):
    kind = "step"
    Params = StepParams
    formula = "lr × gamma^floor(epoch / every)"

    def factor(self, p: StepParams, epochs: int) -> str:
        return f"{p.gamma!r} ** (epoch // {p.every})"


class ExponentialParams(ir.Params):
    gamma: float = Field(0.96, gt=0, description="factor applied every epoch")


class ExponentialSchedule(ScheduleEntry):
    kind = "exponential"
    Params = ExponentialParams
    formula = "lr × gamma^epoch"

    def factor(self, p: ExponentialParams, epochs: int) -> str:
        return f"{p.gamma!r} ** epoch"


class CosineParams(ir.Params):
    min_factor: float = Field(0.0, ge=0, le=1, description="final lr as a fraction of the first")


class CosineSchedule(ScheduleEntry):
    kind = "cosine"
    Params = CosineParams
    formula = "lr × (m + (1 - m)(1 + cos(π · epoch / epochs)) / 2), m = min_factor"

    def factor(self, p: CosineParams, epochs: int) -> str:
        m = p.min_factor
        return f"{m!r} + {1.0 - m!r} * (1.0 + math.cos(math.pi * epoch / {epochs})) / 2.0"


class PlateauParams(ir.Params):
    factor: float = Field(0.1, gt=0, lt=1, description="multiply the lr by this on a plateau")
    patience: int = Field(5, ge=0, description="epochs without improvement before reducing")
    min_delta: float = Field(1e-4, ge=0, description="smallest decrease that counts as improvement")
    min_lr: float = Field(0.0, ge=0, description="the lr never goes below this")


class ReduceOnPlateau(ScheduleEntry):
    kind = "reduce_on_plateau"
    Params = PlateauParams
    formula = (
        "lr × factor after `patience` epochs whose monitored figure improved by less than min_delta"
    )

    def factor(self, p: PlateauParams, epochs: int) -> None:
        return None

    def torch(self, p: PlateauParams, mode: str = "min") -> PyCall:
        return PyCall(
            "torch.optim.lr_scheduler.ReduceLROnPlateau",
            (Code("optimizer"),),
            {
                "mode": mode,
                "factor": p.factor,
                "patience": p.patience,
                "threshold": p.min_delta,
                "threshold_mode": "abs",
                "min_lr": p.min_lr,
            },
        )

    def keras(self, p: PlateauParams, monitor: str, mode: str = "min") -> PyCall:
        return PyCall(
            "keras.callbacks.ReduceLROnPlateau",
            (),
            {
                "monitor": monitor,
                "mode": mode,
                "factor": p.factor,
                "patience": p.patience,
                "min_delta": p.min_delta,
                "min_lr": p.min_lr,
            },
        )
