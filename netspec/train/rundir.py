"""The run folder: everything a run leaves behind, in plain files a user can open.

spec.net            the spec as trained         ir.json        the checked IR
model.py            the generated module that ran
run.json            backend, device, seed, options, status, timings, data summary
history.csv/.json   every epoch's figures       curves.png     loss and metric curves
weights.safetensors (PyTorch) or model.keras (Keras): the final weights
checkpoints/        one checkpoint per epoch, for --resume
test.json           the final test evaluation
standardization.npz the fitted input standardization, when the spec asks for one
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from pathlib import Path
from typing import Any


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def fresh_path(model_name: str, backend: str) -> Path:
        """runs/<model>-<backend>-<time>, with a suffix when that folder exists."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{model_name}-{backend}-{stamp}"
        suffix = 1
        while out.exists():
            suffix += 1
            out = Path("runs") / f"{model_name}-{backend}-{stamp}-{suffix}"
        return out

    @classmethod
    def create(cls, out: Path | None, model_name: str, backend: str) -> RunDir:
        if out is None:
            out = cls.fresh_path(model_name, backend)
        out.mkdir(parents=True, exist_ok=True)
        (out / "checkpoints").mkdir(exist_ok=True)
        return cls(out)

    # -- paths
    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, epoch: int, suffix: str) -> Path:
        """The checkpoint written after `epoch` epochs (counting from 1)."""
        return self.checkpoints / f"epoch_{epoch:04d}{suffix}"

    def last_checkpoint(self) -> int:
        """How many epochs the newest checkpoint holds; 0 when there is none."""
        epochs = [
            int(m.group(1))
            for p in self.checkpoints.glob("epoch_*.json")
            if (m := re.fullmatch(r"epoch_(\d+)\.json", p.name))
        ]
        return max(epochs, default=0)

    # -- files
    def write_json(self, name: str, data: Any) -> None:
        path = self.path / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=_plain) + "\n", encoding="utf-8")
        tmp.replace(path)  # never leave a half-written file behind

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def write_history(self, history: dict[str, list[float]]) -> None:
        self.write_json("history.json", history)
        names = list(history)
        epochs = max((len(v) for v in history.values()), default=0)
        with open(self.path / "history.csv", "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(["epoch", *names])
            for epoch in range(epochs):
                row = [history[n][epoch] if epoch < len(history[n]) else "" for n in names]
                writer.writerow([epoch + 1, *row])

    def plot_curves(
        self, history: dict[str, list[float]], title: str, test: dict[str, float] | None = None
    ) -> None:
        """curves.png: the loss and each metric per epoch, training and validation, with
        the test figure marked after the last epoch."""
        import matplotlib.pyplot as plt

        figure = curves_figure(history, title, test)
        if figure is None:
            return
        figure.savefig(self.path / "curves.png", dpi=100)
        plt.close(figure)


def curves_figure(
    history: dict[str, list[float]], title: str, test: dict[str, float] | None = None
) -> Any:
    """The figure of curves.png (None without figures): a panel per figure in the history's
    order (the same on both backends), epochs as whole numbers, the test figure a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figures = [n for n in history if not n.startswith("val_") and n != "lr"]
    if not figures or not history[figures[0]]:
        return None
    fig, axes = plt.subplots(1, len(figures), figsize=(5 * len(figures), 3.6), squeeze=False)
    for ax, name in zip(axes[0], figures, strict=True):
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", markersize=3, label="training")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", markersize=3, label="validation")
        if test is not None and name in test:
            ax.plot(
                [len(history[name])], [test[name]], marker="*", markersize=12, linestyle="none",
                color="tab:red", label=f"test {test[name]:.4g}",
            )
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plain(value: Any) -> Any:
    import numpy as np  # here: `netspec train` says its first line before numpy loads

    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def finite(logs: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in logs.values())
