"""NaN and infinity seen by netspec's side of a run, the same on both backends: what a run
says of the steps it skipped (on_nan = skip; the generated fit calls `on_skip(epoch, step,
loss)` for each), and the check of each epoch's figures before its checkpoint."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

SKIPS_SHOWN = 5
"""Skipped steps a run names one by one; it leaves the rest unsaid."""


def skip_reporter(reporter: Any) -> Callable[[int, int, float], None]:
    """The generated fit's `on_skip`: a message for each of the first SKIPS_SHOWN skips."""
    skipped = {"count": 0}

    def on_skip(epoch: int, step: int, loss: float) -> None:
        skipped["count"] += 1
        if skipped["count"] <= SKIPS_SHOWN:
            more = "; further ones go unsaid" if skipped["count"] == SKIPS_SHOWN else ""
            reporter.message(
                f"the loss is {loss} at epoch {epoch}, step {step}: skipped that step "
                f"(on_nan = skip){more}"
            )

    return on_skip


class NonFiniteEpoch(FloatingPointError):
    """An epoch whose steps all had a finite loss ended with a NaN or infinite figure (its
    last update made the weights so, and the validation figures say it): the run stops
    before that epoch's checkpoint, in either on_nan mode, as no step is left to skip."""

    def __init__(self, figure: str, value: float, epoch: int) -> None:
        super().__init__(f"{figure} is {value} at the end of epoch {epoch}")
        self.figure, self.value, self.epoch, self.step = figure, value, epoch, None


def check_epoch(figures: dict[str, float], epoch: int) -> None:
    """Raise NonFiniteEpoch for the first NaN or infinite figure of an epoch (from 1)."""
    for name, value in figures.items():
        if not math.isfinite(value):
            raise NonFiniteEpoch(name, value, epoch)
