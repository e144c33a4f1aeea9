"""What `netspec train` shows while it runs: a progress bar, JSON lines, or nothing."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


def format_logs(logs: dict[str, float]) -> str:
    parts = []
    for name, value in logs.items():
        if name == "lr":
            parts.append(f"lr {value:.3g}")
        else:
            parts.append(f"{name} {value:.4f}")
    return "  ".join(parts)


def plan_lines(info: dict[str, Any]) -> list[str]:
    """What a run says once its framework has loaded, before its first step: the device
    (how `--device auto` chose it), then the data pipeline and the threads. What it says
    before (the model, the data, the settings, the run folder) is announce.py's."""
    device = f"device {info['device_description']}"
    if info.get("device_requested") == "auto":
        why = info.get("why_not_gpu")
        device += f" (--device auto; {why})" if why else " (--device auto)"
    threads = info["threads"]
    return [
        device,
        f"pipeline: {info['train_samples']:,} samples {info['plan']}, "
        f"{threads} CPU thread{'s' if threads != 1 else ''}"
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
    ]


def clock(seconds: float) -> str:
    """A duration as m:ss, or h:mm:ss from an hour."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Pace:
    """Samples per second and the time an epoch has left, from the steps reported so far.

    Where there is a later report the rate is taken from the first one on: the time before
    it holds one-off work (Keras traces its training step in the first call), which would
    make the rate too low and the time left too long for the rest of the epoch.
    """

    def __init__(self, samples: int, started: float) -> None:
        self.samples = samples
        self.started = started
        self.first: tuple[float, int] | None = None

    def update(self, samples_done: int, now: float) -> tuple[float, float | None]:
        """(samples per second, seconds left; None while the rate is unknown)."""
        if self.first is None or samples_done <= self.first[1]:
            if self.first is None:
                self.first = (now, samples_done)
            rate = samples_done / max(now - self.started, 1e-9)
        else:
            then, before = self.first
            rate = (samples_done - before) / max(now - then, 1e-9)
        left = (self.samples - samples_done) / rate if rate > 0 else None
        return rate, left


def _console(stderr: bool = False) -> Console:
    """A console that prints text as it is: a path or a name from the spec (`:x:`,
    `[bold]`) is no markup and no emoji code."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True, markup=False, emoji=False)


class Spinner:
    """A spinner on a terminal's stderr while nothing else moves (a framework loading);
    nothing at all when stderr is not a terminal (a pipe, a file, the tests)."""

    def __init__(self, console: Console | None) -> None:
        self.console = console
        self.status: Any = None

    def show(self, text: str) -> None:
        if self.console is None or not self.console.is_terminal:
            return
        if self.status is None:
            self.status = self.console.status(text, spinner="dots")
            self.status.start()
        else:
            self.status.update(text)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


class Reporter:
    """Quiet: reports nothing but errors. Subclasses show more."""

    wants_steps = False

    def plan(self, event: str, fields: dict[str, Any], lines: list[str]) -> None:
        """What the run will do, said before its framework is imported (announce.py)."""

    def loading(self, text: str) -> None:
        """Something slow with nothing to show yet (a framework loading): a spinner."""

    def start(self, info: dict[str, Any]) -> None: ...

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int) -> None: ...

    def waiting(self, text: str) -> None:
        """The first step is slow (Keras traces it): say so on the bar until a step ends."""

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

    def plan(self, event: str, fields: dict[str, Any], lines: list[str]) -> None:
        self._emit(event, **fields)

    def start(self, info: dict[str, Any]) -> None:
        self._emit("start", **info)

    def end_epoch(self, epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
        self._emit("epoch", epoch=epoch + 1, epochs=epochs, seconds=round(seconds, 3), **logs)

    def message(self, text: str) -> None:
        self._emit("message", text=text)

    def finish(self, result: dict[str, Any]) -> None:
        self._emit("result", **result)


class RichReporter(Reporter):
    """A progress bar per epoch (steps, samples/s, time left, running loss), then one line
    per epoch; a spinner on stderr while the framework loads."""

    wants_steps = True

    def __init__(
        self, console: Console | None = None, prefix: str = "", spinner: Spinner | None = None
    ) -> None:
        self.console = console or _console()
        self.prefix = prefix  # "[rank k] " with --log all-ranks
        self.spinner = spinner or Spinner(None)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.task: Any = None
        self.started = 0.0
        self.pace = Pace(0, 0.0)
        self.live = False

    def _print(self, text: str, markup: bool = False) -> None:
        self.spinner.stop()
        self.console.print(self.prefix + text, markup=markup)

    def plan(self, event: str, fields: dict[str, Any], lines: list[str]) -> None:
        for line in lines:
            self._print(line)

    def loading(self, text: str) -> None:
        self.spinner.show(text)

    def announce(self, info: dict[str, Any]) -> None:
        for line in plan_lines(info):
            self._print(line, markup=False)
        self.spinner.show("preparing the first epoch…")

    def start(self, info: dict[str, Any]) -> None:
        self.announce(info)

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int) -> None:
        self.spinner.stop()
        if not self.live:  # the bar's own live display, once the spinner's has gone
            self.progress.start()
            self.live = True
        self.started = time.perf_counter()
        self.pace = Pace(samples, self.started)
        description = f"epoch {epoch + 1}/{epochs}"
        if self.task is None:
            self.task = self.progress.add_task(description, total=steps, rate="", eta="", loss="")
        else:
            self.progress.reset(
                self.task, total=steps, description=description, rate="", eta="", loss=""
            )

    def waiting(self, text: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, loss=text)

    def step(self, steps_done: int, samples_done: int, running_loss: float) -> None:
        rate, left = self.pace.update(samples_done, time.perf_counter())
        self.progress.update(
            self.task,
            completed=steps_done,
            rate=f"{rate:,.0f} samples/s",
            eta=f"ETA {clock(left)}" if left is not None else "",
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
        self.spinner.stop()
        if self.live:
            self.progress.stop()
            self.live = False


class PlainReporter(RichReporter):
    """Epoch lines without the live bar (when output is not a terminal)."""

    wants_steps = False

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int) -> None:
        self.spinner.stop()

    def waiting(self, text: str) -> None: ...


def reporter(mode: str, rank: int = 0) -> Reporter:
    """The reporter of `--log mode`; in a data-parallel run only rank 0 reports, unless
    `--log all-ranks` (each rank's lines, prefixed with it, and no spinner)."""
    if mode == "all-ranks":
        return PlainReporter(_console(), prefix=f"[rank {rank}] ")
    if rank != 0 or mode == "quiet":
        return Reporter()
    if mode == "jsonl":
        return JsonLinesReporter()
    console = _console()
    spinner = Spinner(_console(stderr=True))
    if mode == "plain" or not console.is_terminal:
        return PlainReporter(console, spinner=spinner)
    return RichReporter(console, spinner=spinner)
