"""Which checkpoints a run keeps, and which epoch's weights it saves at its end.

After every epoch the run keeps the checkpoints of the last `keep_checkpoints` epochs (the
newest one is what --resume continues from) and that of the best epoch by the monitored
figure, which checkpoints/best.json names. The best is picked by the rule of the generated
modules' early stopping and restore_best (snippets/monitor.py), so one epoch is the best for
all of them, on both backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netspec import ir
from netspec.codegen.snippets.monitor import best_epoch
from netspec.codegen.training import plan
from netspec.train.rundir import RunDir


@dataclass(frozen=True)
class Keeping:
    monitor: str  # the figure that says which epoch is the best
    higher: bool  # it improves upwards (accuracy)
    min_delta: float  # the least change that counts as an improvement
    keep: int  # the last epochs whose checkpoints stay
    restore_best: bool  # the run saves the best epoch's weights, not the last's

    @classmethod
    def of(cls, model: ir.Model) -> Keeping:
        training = plan(model)
        return cls(
            training.monitor,
            training.higher_is_better,
            training.min_delta,
            model.train.keep_checkpoints,
            model.train.restore_best,
        )

    def best(self, history: dict[str, list[float]]) -> int | None:
        """The best epoch so far, counting from 1; None when the figure is not in the history."""
        values = history.get(self.monitor)
        if not values:
            return None
        return best_epoch(values, self.min_delta, self.higher) + 1

    def best_record(self, history: dict[str, list[float]]) -> dict[str, Any] | None:
        """The best epoch as best.json and run.json state it."""
        best = self.best(history)
        if best is None:
            return None
        return {
            "epoch": best,
            "monitor": self.monitor,
            "value": history[self.monitor][best - 1],
            "mode": "max" if self.higher else "min",
            "min_delta": self.min_delta,
        }

    def after_epoch(self, run: RunDir, history: dict[str, list[float]]) -> None:
        """Once the newest checkpoint is complete: best.json names the best epoch, and the
        checkpoints older than the last `keep` go, except the best epoch's."""
        best = self.best_record(history)
        if best is not None:
            run.write_json("checkpoints/best.json", best)
        last = run.last_checkpoint()
        for epoch in run.checkpoint_epochs():
            if epoch <= last - self.keep and (best is None or epoch != best["epoch"]):
                run.remove_checkpoint(epoch)

    def saved_epoch(self, history: dict[str, list[float]]) -> int:
        """The epoch whose weights the run saves: the best with restore_best, else the last."""
        best = self.best(history)
        if self.restore_best and best is not None:
            return best
        return len(history.get("loss", []))


def saved_line(weights: str, saved: int, best: dict[str, Any] | None, restore_best: bool) -> str:
    """What a run says of the weights it saved: which epoch's, and where the best one is."""
    if best is None:
        return f"saved the weights of epoch {saved}, the last, to {weights}"
    figure = f"{best['monitor']} {best['value']:.4g}"
    if restore_best:
        return (
            f"saved the weights of epoch {saved}, the best by {figure} (restore_best), to {weights}"
        )
    if best["epoch"] == saved:
        return (
            f"saved the weights of epoch {saved}, the last and the best by {figure}, to {weights}"
        )
    return (
        f"saved the weights of epoch {saved}, the last, to {weights}; the best by {figure} is "
        f"epoch {best['epoch']}'s checkpoint (restore_best = true saves that one)"
    )
