"""A `netspec tune` worker: a process of its own that trains trial after trial with netspec's
own `train`, each into an ordinary run folder, and tells the search its epoch figures.

With --jobs 1 the search trains its trials itself, one after the other (`run_trial`); with
more, each runs in a worker. Why processes, not Optuna's n_jobs threads: a PyTorch run sets
process-wide state (its global seed before building the model, its thread count) and
TensorFlow more, so two trials in one process would draw each other's initial weights; and a
small model's steps hold Python's GIL. A worker stays up for many trials, so the framework is
imported once per worker, not once per trial. The search (parent) alone touches the study; a
worker only asks it, after each epoch, whether to go on (the pruner's verdict).

The worker is `python -m netspec.tune.worker FD LOG`, started with subprocess (not
multiprocessing's spawn, which would import the caller's main script again): FD is its end of
a socket pair, on which JSON messages go framed by multiprocessing's Connection. The parent
sends a job (an object) or null (stop); the worker sends ["epoch", epoch, figures] and waits
for a reply (null: go on; text: stop, that is why), then ["done", result]. Its own output
(a framework's warnings, a failed trial's traceback) goes to LOG.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netspec.train.errors import Stopped
from netspec.train.progress import Reporter

Verdict = Callable[[int, dict[str, float]], "str | None"]  # after an epoch: why to stop, or None


class _TrialReporter(Reporter):
    """Quiet, but each epoch's figures go to the search, whose answer may stop the run."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.epochs = 0

    def end_epoch(self, epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
        self.epochs = epoch + 1
        why = self.verdict(epoch + 1, dict(logs))
        if why is not None:
            raise Stopped(str(why))


def asking(connection: Any) -> Verdict:
    """The verdict of the search at the other end of `connection`."""

    def verdict(epoch: int, figures: dict[str, float]) -> str | None:
        send(connection, ["epoch", epoch, figures])
        return receive(connection)

    return verdict


def send(connection: Any, message: Any) -> None:
    connection.send_bytes(json.dumps(message).encode("utf-8"))


def receive(connection: Any) -> Any:
    return json.loads(connection.recv_bytes().decode("utf-8"))


def serve(connection: Any) -> None:
    """The worker's loop: one job at a time until told to stop or the search is gone."""
    while True:
        try:
            job = receive(connection)
            if job is None:
                return
            result = run_trial(job, asking(connection))
            send(connection, ["done", result])
        except (EOFError, BrokenPipeError, ConnectionResetError):
            return  # the search ended (killed): nothing is left to report to


def main(arguments: list[str]) -> None:
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the search's to handle
    descriptor = os.open(arguments[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 1)  # a framework's own prints and warnings go to the log
    os.dup2(descriptor, 2)
    os.close(descriptor)
    serve(Connection(int(arguments[0])))


def run_trial(job: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """Train one trial; its state (complete, pruned, failed), figure and reason. `verdict`
    is asked after every epoch (the search's pruner)."""
    from netspec.train import TrainError, TrainOptions, train
    from netspec.train.errors import Interrupted

    if job.get("log"):
        print(f"--- trial {job['number']}: {job['run_dir']}", flush=True)
    reporter = _TrialReporter(verdict)
    options = TrainOptions(
        backend=job["backend"],
        device=job["device"],
        out=Path(job["run_dir"]),
        threads=job["threads"],
        log="quiet",
        reporter=reporter,
        source=job["source"],
        curves=False,  # the search draws its best trial's curves.png when it ends
    )
    started = time.perf_counter()
    result: dict[str, Any] = {"state": "failed", "value": None, "reason": None}
    try:
        outcome = train(Path(job["file"]), {}, options)
        if outcome.status:
            errors = [d for d in outcome.diagnostics if d.severity == "error"]
            first = errors[0] if errors else None
            result["reason"] = f"{first.code}: {first.message}" if first else "the run failed"
        else:
            result.update(_figure(Path(job["run_dir"]), job["metric"]))
    except Stopped as stop:
        result.update(state="pruned", reason=stop.reason)
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        raise
    except Interrupted:  # Ctrl-C in a trial trained in the search's own process
        raise KeyboardInterrupt from None
    except TrainError as error:
        result["reason"] = error.message
    except (
        Exception
    ) as error:  # the generated code's own error: the trial fails, the search goes on
        traceback.print_exc(file=sys.stderr)  # a worker's goes to its log
        result["reason"] = f"{type(error).__name__}: {error}".splitlines()[0]
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["epochs"] = reporter.epochs
    sys.stdout.flush()
    return result


def _figure(run_dir: Path, metric: str) -> dict[str, Any]:
    """The objective of a finished run: `metric` at the epoch whose weights it saved (the
    last one, or the best with restore_best), as its history.json holds it."""
    import json

    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    values = history.get(metric)
    if not values:
        return {"state": "failed", "reason": f"the run reported no {metric}"}
    epoch = int(record.get("weights", {}).get("epoch") or len(values))
    return {"state": "complete", "value": float(values[epoch - 1]), "epoch": epoch}


if __name__ == "__main__":
    main(sys.argv[1:])
