"""Where this process stands in a data-parallel run, and how `--devices N` starts one.

netspec keeps no cluster machinery of its own: PyTorch runs are started by torchrun (its
elastic agent starts a process per device and sets RANK, WORLD_SIZE, LOCAL_RANK and
LOCAL_WORLD_SIZE), Keras runs train in one process under tf.distribute's MirroredStrategy
over the local devices. This module reads those settings without importing a framework,
checks a spec against them, and builds the exact torchrun command line `--devices N` runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from netspec.train import atomic
from netspec.train.errors import TrainError


@dataclass(frozen=True)
class World:
    """This process's place among torchrun's workers: rank `rank` of `workers`,
    `local_workers` of them on this machine. One process is World(0, 1, 1)."""

    rank: int = 0
    workers: int = 1
    local_workers: int = 1

    @property
    def distributed(self) -> bool:
        return self.workers > 1

    @property
    def chief(self) -> bool:
        """The process that writes the run folder and prints the run."""
        return self.rank == 0


def torchrun_world() -> World:
    """The world torchrun describes in the environment; one process without it."""
    try:
        workers = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_WORLD_SIZE", str(workers)))
    except ValueError as error:
        raise TrainError(f"torchrun's environment is not understood: {error}") from None
    if workers <= 1:
        return World()
    return World(rank, workers, local)


def check_keras_world() -> None:
    """Keras trains data-parallel in one process (MirroredStrategy over --devices N); a
    Keras run started by torchrun, or with TF_CONFIG naming several workers, is refused
    before anything runs, rather than each process training alone into the same folder."""
    if torchrun_world().distributed:
        raise TrainError(
            "torchrun starts PyTorch workers; Keras trains on several devices in one process",
            hint="netspec train SPEC --backend keras --devices N (MirroredStrategy), or "
            "torchrun … -m netspec train SPEC --backend torch",
        )
    text = os.environ.get("TF_CONFIG")
    try:
        cluster = json.loads(text).get("cluster", {}) if text else {}
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    except (ValueError, AttributeError, TypeError):
        workers = 0
    if workers > 1:
        raise TrainError(
            "TF_CONFIG names several workers, but Keras 3's fit cannot train under "
            "MultiWorkerMirroredStrategy (it fails reducing the step's figures across "
            "workers: tensorflow/tensorflow#72388)",
            hint="train on several machines with --backend torch (torchrun), or on one machine "
            "with --backend keras --devices N; unset TF_CONFIG",
        )


def check_global_batch(batch_size: int, workers: int, where: str) -> None:
    """The spec's batch_size is the global batch: each of the workers takes an equal part."""
    if workers > 1 and batch_size % workers:
        lower = batch_size - batch_size % workers
        raise TrainError(
            f"batch_size {batch_size} does not divide among {workers} workers ({where}): "
            "the spec's batch_size is the global batch, each worker takes batch_size / workers",
            hint=f"use --batch-size {lower} or {lower + workers}, or a number of workers that "
            f"divides {batch_size}",
        )


def torchrun_command(devices: int, arguments: Sequence[str], threads: int) -> list[str]:
    """The torchrun line `netspec train … --devices N` runs: N workers on this machine,
    its rendezvous on a free port of 127.0.0.1, no restarts."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(devices),
        "--max-restarts",
        "0",
        "--monitor-interval",
        "0.5",
        "-m",
        "netspec",
        "--",  # torchrun's own parser leaves what follows alone (it would take --log for its own)
        *arguments,
        *(["--threads", str(threads)] if "--threads" not in arguments else []),
    ]


def shown(command: Sequence[str]) -> str:
    """The command as a user would type it: `torchrun …` rather than the interpreter's path."""
    words = list(command)
    if words[:3] == [sys.executable, "-m", "torch.distributed.run"]:
        words = ["torchrun", *words[3:]]
    return shlex.join(words)


_FAILED_RANK = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank\s*:\s*(\d+)\)")
_EXIT_CODE = re.compile(r"exitcode\s*:\s*(-?\d+)")


def failure_of(torchrun_output: str) -> str | None:
    """'worker rank R (local rank L) was killed by SIGKILL' from torchrun's failure report:
    its root cause (the first worker that failed; torchrun then stops the others)."""
    cause = torchrun_output.find("Root Cause")
    report = torchrun_output[cause:] if cause >= 0 else torchrun_output
    rank = _FAILED_RANK.search(report)
    if rank is None:
        return None
    what = f"worker rank {rank.group(1)} (local rank {rank.group(2)})"
    code = _EXIT_CODE.search(report, rank.end())
    if code is None:
        return f"{what} failed"
    value = int(code.group(1))
    if value < 0:
        try:
            return f"{what} was killed by {signal.Signals(-value).name}"
        except ValueError:
            return f"{what} was killed by signal {-value}"
    return f"{what} exited with status {value}"


def launch(command: Sequence[str], log: Path) -> tuple[int, str | None]:
    """Run torchrun, passing its workers' output through; returns its exit status and, when
    a worker failed, the sentence naming it. torchrun's own log lines and failure report
    (long blocks meant for cluster logs) go to the file `log` instead of the console."""
    process = subprocess.Popen(
        list(command), stderr=subprocess.PIPE, text=True, errors="replace", bufsize=1
    )
    assert process.stderr is not None
    report: list[str] = []
    in_report = False
    try:
        for line in process.stderr:
            if "ChildFailedError" in line or line.startswith(("=====", "Traceback")):
                in_report = True
            if in_report or _agent_noise(line):
                report.append(line)
                continue
            sys.stderr.write(line)
        status = process.wait()
        if report and status:
            log.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(log, "".join(report))  # whole or not at all, as every run file
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    return status, failure_of("".join(report)) if status else None


_AGENT_LOG = re.compile(r"^[WIEF]\d{4} \d\d:\d\d:\d\d|^\*{5}")


def _agent_noise(line: str) -> bool:
    """torchrun's own log lines (the OMP_NUM_THREADS notice, the agent's warnings)."""
    return bool(_AGENT_LOG.match(line)) or "OMP_NUM_THREADS" in line
