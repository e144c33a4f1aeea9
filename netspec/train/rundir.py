"""The run folder: everything a run leaves behind, in plain files a user can open.

spec.net            the spec as trained         ir.json        the checked IR
model.py            the generated module that ran   model.svg   the layer graph (`netspec graph`)
run.json            backend, device, seed, options, status, timings, data summary, and
                    the process id and host that trained it: a "running" run whose process
                    is gone (SIGKILL, a crash, a power cut) is told as interrupted (`gone`)
history.csv/.json   every epoch's figures       curves.png     loss and metric curves
weights.safetensors (PyTorch) or model.keras (Keras): the final weights
checkpoints/        the last `keep_checkpoints` epochs' checkpoints (for --resume) and the
                    best epoch's by `monitor`, which checkpoints/best.json names
test.json           the final test evaluation
standardization.npz the fitted input standardization, when the spec asks for one
.netspec.lock       held (flock, lock.py) while a run writes: a second run there refuses

Every file is written whole or not at all (atomic.py: a temporary file, fsync, rename), so
a kill or a full disk at any moment leaves each file as it was or as it is after. A folder
is one run: `train -o DIR` refuses a folder that holds a run's files (continue it with
--resume, or --overwrite deletes them first), so old checkpoints never sit beside a new
run.json.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from netspec import internal_error
from netspec.train import atomic
from netspec.train.errors import TrainError
from netspec.train.lock import RunLock, check_unlocked, held

RUN_FILES = (
    "spec.net",
    "ir.json",
    "model.py",
    "model.svg",
    "run.json",
    "history.csv",
    "history.json",
    "curves.png",
    "weights.safetensors",
    "model.keras",
    "checkpoints",
    "test.json",
    "standardization.npz",
    "classes.json",
    "torchrun.log",
    "internal-error.txt",
)
"""What `netspec train` writes into a run folder: a folder holding any of them holds a run."""


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock: RunLock | None = None
        self.interrupted: str | None = None  # a resumed run's `gone`, for its first line

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

    @staticmethod
    def check_free(out: Path | None, overwrite: bool = False, locked: bool = False) -> None:
        """Refuse `--out` when a live run writes it (FolderBusy), or when it holds a run (a
        TrainError with the way on), unless `overwrite`: then its run files go when the run
        starts (`create`). `locked`: this process holds its lock."""
        if out is None:
            return
        if out.exists() and not out.is_dir():
            raise TrainError(f"--out {out} is a file, not a folder", hint="choose a folder")
        found = run_files(out)
        if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):  # refused before any work
            raise atomic.write_failure(out, _unwritable(out))
        if not locked:
            check_unlocked(out)  # a live run there: "being written", not "holds a run"
        if found and not overwrite:
            shown = ", ".join(f"{name}/" if (out / name).is_dir() else name for name in found[:4])
            reason = RunDir(out).gone()
            was = f", an interrupted one ({reason})" if reason else ""
            raise TrainError(
                f"{out} holds a run already{was} ({shown}{', …' if len(found) > 4 else ''}); "
                "a new run there would mix its files with the old one's",
                hint=f"continue it with `netspec train --resume {out}`, start afresh there "
                "with --overwrite (deletes that run's files), or choose another --out",
            )

    @classmethod
    def create(
        cls, out: Path | None, model_name: str, backend: str, overwrite: bool = False
    ) -> RunDir:
        """A folder for a new run, locked (lock.py): a fresh runs/… one, or `out`, checked
        under the lock to hold no run (with `overwrite`, its run files are deleted; other
        files stay)."""
        if out is None:
            out = cls.fresh_path(model_name, backend)
        cls.check_free(out, overwrite)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise atomic.write_failure(out, error) from error
        run = cls(out).locked()
        try:
            cls.check_free(out, overwrite, locked=True)  # again, now that no other run can start here
            for name in run_files(out):
                target = out / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            (out / "checkpoints").mkdir(exist_ok=True)
        except OSError as error:
            run.unlock()
            raise atomic.write_failure(out, error) from error
        except BaseException:
            run.unlock()
            raise
        return run

    def locked(self) -> RunDir:
        """This folder, with its lock held (FolderBusy when another live run holds it), and
        the temporary files of writes a killed run left unfinished gone."""
        self.lock = RunLock(self.path).acquire()
        internal_error.note_run_folder(self.path)  # a netspec bug leaves its traceback here
        leftovers = [atomic.temporary(self.path / name) for name in RUN_FILES]
        leftovers += [*self.checkpoints.glob("epoch_*.tmp.*"), self.checkpoints / "best.tmp.json"]
        for leftover in leftovers:
            if leftover.is_file() and not leftover.is_symlink():
                leftover.unlink(missing_ok=True)
        return self

    def unlock(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

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

    def resume_line(self, done: int, epochs: int) -> str:
        """What a resumed run says before its first step: where it takes up (and, for a run
        whose run.json still said "running", that it was interrupted)."""
        was = f"the run was interrupted ({self.interrupted}); " if self.interrupted else ""
        if done == 0:
            return f"{was}resuming at epoch 1 of {epochs}: {self.path} holds no checkpoint yet"
        if done >= epochs:
            return (
                f"{was}{self.path} holds {done} epochs, --epochs is {epochs}: nothing left to train"
            )
        return f"{was}resuming at epoch {done + 1} of {epochs} from {self.checkpoint(done, '')}"

    def gone(self, record: dict[str, Any] | None = None) -> str | None:
        """For a run.json that says "running" while no process trains the run (it was killed
        and could not say so), why we know, in words ("process 123 on host h is gone"); None
        for a live run, a run that ended, or when nothing can tell. The folder's lock is the
        witness (lock.py: the system lets go of it when its process dies, whatever the host);
        without one, the process id, on its own host only (ids are reused: second best)."""
        if record is None:
            try:
                record = self.read_json("run.json")
            except (OSError, ValueError):
                return None
        if not isinstance(record, dict) or record.get("status") != "running":
            return None
        pid, host = record.get("pid"), record.get("host")
        known = isinstance(pid, int) and pid > 0 and host == socket.gethostname()
        alive = known and process_alive(pid)
        holding = held(self.path)
        if holding or (holding is None and (not known or alive)):
            return None
        if not (pid and host):
            return "its process is gone"
        # a live process without the lock stopped training (netspec.train() from Python)
        return f"process {pid} on host {host} " + ("no longer trains it" if alive else "is gone")

    def checkpoint_epochs(self) -> list[int]:
        """The epochs that have checkpoint files, complete or not, in order."""
        epochs = {
            int(m.group(1))
            for p in self.checkpoints.glob("epoch_*")
            if (m := re.fullmatch(r"epoch_(\d+)\..+", p.name))
        }
        return sorted(epochs)

    def remove_checkpoint(self, epoch: int) -> None:
        """Delete one epoch's checkpoint: its JSON first, which marks it complete."""
        marker = self.checkpoint(epoch, ".json")
        marker.unlink(missing_ok=True)
        for path in self.checkpoints.glob(f"{marker.stem}.*"):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    # -- files
    def write_json(self, name: str, data: Any) -> None:
        """Whole or not at all (atomic.py), as every file of the folder."""
        atomic.write_text(self.path / name, json.dumps(data, indent=2, default=_plain) + "\n")

    def write_text(self, name: str, text: str) -> None:
        atomic.write_text(self.path / name, text)

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def write_history(self, history: dict[str, list[float]]) -> None:
        self.write_json("history.json", history)
        names = list(history)
        epochs = max((len(v) for v in history.values()), default=0)
        table = io.StringIO(newline="")
        writer = csv.writer(table)
        writer.writerow(["epoch", *names])
        for epoch in range(epochs):
            row = [history[n][epoch] if epoch < len(history[n]) else "" for n in names]
            writer.writerow([epoch + 1, *row])
        atomic.write_text(self.path / "history.csv", table.getvalue())

    def plot_curves(
        self, history: dict[str, list[float]], title: str, test: dict[str, float] | None = None
    ) -> None:
        """curves.png: the loss and each metric per epoch, training and validation, with
        the test figure marked after the last epoch."""
        import matplotlib.pyplot as plt

        figure = curves_figure(history, title, test)
        if figure is None:
            return
        try:
            atomic.write_with(self.path / "curves.png", lambda tmp: figure.savefig(tmp, dpi=100))
        finally:
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


def run_files(folder: Path) -> list[str]:
    """The run files in `folder` (an empty checkpoints/ folder is none: a launcher's
    fresh folder, made for its workers, holds no run)."""
    if not folder.is_dir():
        return []
    found = []
    for name in RUN_FILES:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            if any(path.iterdir()):
                found.append(name)
        elif path.exists() or path.is_symlink():
            found.append(name)
    return found


def _unwritable(folder: Path) -> OSError:
    """Why `folder` cannot be written: its file system is mounted read-only, or its mode."""
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    if read_only:
        return OSError(errno.EROFS, "read-only file system")
    return PermissionError(errno.EACCES, "permission denied")


def process_alive(pid: int) -> bool:
    """Whether a process of that id runs on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _plain(value: Any) -> Any:
    import numpy as np  # here: `netspec train` says its first line before numpy loads

    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
