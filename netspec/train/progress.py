"""What `netspec train` shows while it runs: a progress bar, JSON lines, or nothing."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def format_logs(logs: dict[str, float]) -> str:
    parts = []
    for name, value in logs.items():
        if name == "lr":
            parts.append(f"lr {value:.3g}")
        else:
            parts.append(f"{name} {value:.4f}")
    return "  ".join(parts)


def plan_lines(info: dict[str, Any]) -> list[str]:
    """What a run says before its first step: the device first (how `--device auto` chose
    it), then the data pipeline and the training settings, then the run folder."""
    device = f"device {info['device_description']}"
    if info.get("device_requested") == "auto":
        why = info.get("why_not_gpu")
        device += f" (--device auto; {why})" if why else " (--device auto)"
    threads = info["threads"]
    return [
        device,
        f"training {info['model']} on {info['backend']}: {info['train_samples']:,} samples "
        f"{info['plan']}, {info['epochs']} epochs, batch {info['batch_size']}, "
        f"{info['precision']}, {threads} CPU thread{'s' if threads != 1 else ''}"
        + (" per worker" if info.get("launcher") == "torchrun" else ""),
        *(
            [
                f"data-parallel: {info['replicas']} "
                + ("workers (torchrun)" if info["launcher"] == "torchrun" else "replicas (MirroredStrategy)")
                + f", {info['batch_size'] // info['replicas']} samples each per step"
            ]
            if info.get("replicas", 1) > 1
            else []
        ),
        f"run folder: {info['run_dir']}",
    ]


class Reporter:
    """Quiet: reports nothing but errors. Subclasses show more."""

    wants_steps = False

    def start(self, info: dict[str, Any]) -> None: ...

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int) -> None: ...

    def step(self, steps_done: int, samples_done: int, running_loss: float) -> None: ...

    def end_epoch(
        self, epoch: int, epochs: int, logs: dict[str, float], seconds: float
    ) -> None: ...

    def message(self, text: str) -> None: ...

    def finish(self, result: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class JsonLinesReporter(Reporter):
    """One JSON object per line: the start, every epoch, and the result."""

    def _emit(self, event: str, **fields: Any) -> None:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()

    def start(self, info: dict[str, Any]) -> None:
        self._emit("start", **info)

    def end_epoch(self, epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
        self._emit("epoch", epoch=epoch + 1, epochs=epochs, seconds=round(seconds, 3), **logs)

    def message(self, text: str) -> None:
        self._emit("message", text=text)

    def finish(self, result: dict[str, Any]) -> None:
        self._emit("result", **result)


class RichReporter(Reporter):
    """A progress bar per epoch (steps, samples/s, running loss), then one line per epoch."""

    wants_steps = True

    def __init__(self, console: Console | None = None, prefix: str = "") -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.prefix = prefix  # "[rank k] " with --log all-ranks
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.task: Any = None
        self.started = 0.0

    def _print(self, text: str, markup: bool = False) -> None:
        self.console.print(self.prefix + text, markup=markup)

    def announce(self, info: dict[str, Any]) -> None:
        for line in plan_lines(info):
            self._print(line, markup=False)

    def start(self, info: dict[str, Any]) -> None:
        self.announce(info)
        self.progress.start()

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int) -> None:
        self.started = time.perf_counter()
        description = f"epoch {epoch + 1}/{epochs}"
        if self.task is None:
            self.task = self.progress.add_task(description, total=steps, rate="", loss="")
        else:
            self.progress.reset(self.task, total=steps, description=description, rate="", loss="")

    def step(self, steps_done: int, samples_done: int, running_loss: float) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(
            self.task,
            completed=steps_done,
            rate=f"{samples_done / elapsed:,.0f} samples/s",
            loss=f"loss {running_loss:.4f}",
        )

    def end_epoch(self, epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
        self._print(
            f"epoch {epoch + 1}/{epochs}  {seconds:.1f}s  {format_logs(logs)}", markup=False
        )

    def message(self, text: str) -> None:
        self._print(text, markup=False)

    def finish(self, result: dict[str, Any]) -> None:
        self.close()
        test = result.get("test")
        if test:
            self._print(f"test: {format_logs(test)}", markup=False)
        self._print(f"saved to {result['run_dir']}", markup=False)

    def close(self) -> None:
        self.progress.stop()


class PlainReporter(RichReporter):
    """Epoch lines without the live bar (when output is not a terminal)."""

    wants_steps = False

    def start(self, info: dict[str, Any]) -> None:
        self.announce(info)

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int) -> None: ...

    def close(self) -> None: ...


def reporter(mode: str, rank: int = 0) -> Reporter:
    """The reporter of `--log mode`; in a data-parallel run only rank 0 reports, unless
    `--log all-ranks` (each rank's lines, prefixed with it)."""
    if mode == "all-ranks":
        return PlainReporter(Console(highlight=False, soft_wrap=True), prefix=f"[rank {rank}] ")
    if rank != 0 or mode == "quiet":
        return Reporter()
    if mode == "jsonl":
        return JsonLinesReporter()
    console = Console(highlight=False, soft_wrap=True)
    if mode == "plain" or not console.is_terminal:
        return PlainReporter(console)
    return RichReporter(console)
