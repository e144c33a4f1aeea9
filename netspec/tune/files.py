"""What a tune folder holds besides the study: trials.csv, best.net and the two plots, each
written whole or not at all (netspec/train/atomic.py)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netspec.space import Dimension
from netspec.train import atomic


@dataclass(frozen=True)
class TrialRow:
    """One trial as the table shows it."""

    number: int
    slot: int | None
    state: str  # complete, pruned, failed, rerun (stopped before it ended: its slot ran again)
    params: dict[str, Any]
    value: float | None
    seconds: float | None
    epochs: int | None
    run_dir: str
    reason: str


def write_csv(
    path: Path, rows: Sequence[TrialRow], dimensions: Sequence[Dimension], metric: str
) -> None:
    names = [d.name for d in dimensions]
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(
        ["number", "slot", "state", *names, metric, "seconds", "epochs", "run_dir", "reason"]
    )
    for row in rows:
        writer.writerow(
            [
                row.number,
                "" if row.slot is None else row.slot,
                row.state,
                *(row.params.get(name, "") for name in names),
                "" if row.value is None else row.value,
                "" if row.seconds is None else row.seconds,
                "" if row.epochs is None else row.epochs,
                row.run_dir,
                row.reason,
            ]
        )
    atomic.write_text(path, table.getvalue())


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def write_plots(
    folder: Path,
    rows: Sequence[TrialRow],
    dimensions: Sequence[Dimension],
    metric: str,
    maximize: bool,
) -> list[Path]:
    """objective.png (each completed trial's figure, the best so far as a step line, pruned
    trials' last figure hollow) and params.png (the figure against each dimension's value)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.state == "complete" and _finite(r.value)]
    pruned = [r for r in rows if r.state == "pruned" and _finite(r.value)]
    written = []

    figure, axes = plt.subplots(figsize=(7, 4))
    try:
        if pruned:
            axes.scatter(
                [r.number for r in pruned],
                [r.value for r in pruned],
                facecolors="none",
                edgecolors="tab:gray",
                label="pruned (last epoch reported)",
            )
        axes.scatter(
            [r.number for r in done], [r.value for r in done], color="tab:blue", label="completed"
        )
        best, steps = None, []
        for row in done:
            assert row.value is not None
            if best is None or (row.value > best if maximize else row.value < best):
                best = row.value
            steps.append((row.number, best))
        if steps:
            last = max(r.number for r in rows)
            if steps[-1][0] < last:  # the best so far holds to the last trial
                steps.append((last, steps[-1][1]))
            axes.step(
                [s[0] for s in steps],
                [s[1] for s in steps],
                where="post",
                color="tab:red",
                label="best so far",
            )
        axes.set_xlabel("trial")
        axes.set_ylabel(metric)
        axes.set_title(f"{metric} over trials ({'higher' if maximize else 'lower'} is better)")
        axes.legend(loc="best", fontsize="small")
        path = folder / "objective.png"
        atomic.write_with(path, lambda tmp: figure.savefig(tmp, dpi=100))
        written.append(path)
    finally:
        plt.close(figure)

    columns = min(len(dimensions), 3)
    lines = -(-len(dimensions) // columns)
    figure, grid = plt.subplots(lines, columns, figsize=(4 * columns, 3.2 * lines), squeeze=False)
    try:
        for index, dimension in enumerate(dimensions):
            axes = grid[index // columns][index % columns]
            shown = [r for r in done if dimension.name in r.params]
            values = [r.params[dimension.name] for r in shown]
            figures = [r.value for r in shown]
            if dimension.kind == "choice":
                assert dimension.choices is not None
                options = list(dimension.choices)
                positions = [options.index(_option_text(v, options)) for v in values]
                axes.scatter(positions, figures, color="tab:blue")
                axes.set_xticks(range(len(options)), options)
            else:
                axes.scatter(values, figures, color="tab:blue")
                if dimension.kind == "log_range":
                    from matplotlib.ticker import NullFormatter

                    axes.set_xscale("log")
                    axes.xaxis.set_minor_formatter(NullFormatter())  # they overlap
            axes.set_xlabel(dimension.name)
            axes.set_ylabel(metric)
        for index in range(len(dimensions), lines * columns):
            grid[index // columns][index % columns].set_visible(False)
        figure.tight_layout()
        path = folder / "params.png"
        atomic.write_with(path, lambda tmp: figure.savefig(tmp, dpi=100))
        written.append(path)
    finally:
        plt.close(figure)
    return written


def _option_text(value: Any, options: list[str]) -> str:
    """The spec text of a choice's value as Optuna stored it (a number, or the text)."""
    from netspec.tune.search import option_value

    for text in options:
        if option_value(text) == value:
            return text
    return str(value)
