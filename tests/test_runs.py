"""Run folders: one run per folder, what run.json records, threads, resume and Ctrl-C.

Each run here is digits_mlp on a few samples for an epoch or two, on the CPU with one thread.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT
from typer.testing import CliRunner

from netspec.cli import app
from netspec.train.progress import Reporter

DIGITS = ROOT / "specs" / "digits_mlp.net"
BACKENDS = ("torch", "keras")


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> str:
    """96 random digits-shaped samples, as a --data value."""
    path = tmp_path_factory.mktemp("data") / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(96, 64)).astype(np.float32), y=rng.integers(0, 10, 96))
    return f'npz("{path}")'


def train_args(out: Path, data: str, *extra: str, backend: str = "torch") -> list[str]:
    return [
        "train",
        str(DIGITS),
        "--backend",
        backend,
        "--device",
        "cpu",
        "--threads",
        "1",
        "--log",
        "quiet",
        "--data",
        data,
        "--out",
        str(out),
        *extra,
    ]


def invoke(runner: CliRunner, args: list[str], status: int = 0) -> Any:
    result = runner.invoke(app, args)
    assert result.exit_code == status, (result.output, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    return result


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- one run per folder


def test_a_folder_that_holds_a_run_is_refused(runner: CliRunner, tmp_path: Path, data: str) -> None:
    run = tmp_path / "run"
    invoke(runner, train_args(run, data, "--epochs", "3"))
    before = (run / "run.json").read_text(encoding="utf-8")
    started = time.monotonic()
    result = invoke(runner, train_args(run, data, "--epochs", "1"), status=2)
    assert time.monotonic() - started < 5  # refused before the data and the framework
    assert f"{run} holds a run already" in result.stderr
    assert f"--resume {run}" in result.stderr and "--overwrite" in result.stderr
    assert (run / "run.json").read_text(encoding="utf-8") == before  # left as it was

    (run / "notes.txt").write_text("mine", encoding="utf-8")
    (run / "internal-error.txt").write_text("Traceback of the old run", encoding="utf-8")
    invoke(runner, train_args(run, data, "--epochs", "1", "--overwrite"))
    assert not (run / "internal-error.txt").exists()  # the old run's, gone with it
    record = read_json(run / "run.json")
    assert record["epochs_done"] == 1
    assert sorted(p.name for p in (run / "checkpoints").glob("epoch_*.json")) == ["epoch_0001.json"]
    assert len(read_json(run / "history.json")["loss"]) == 1
    assert (run / "notes.txt").read_text(encoding="utf-8") == "mine"  # not a run's file: kept


def test_an_empty_or_unrelated_folder_is_taken(
    runner: CliRunner, tmp_path: Path, data: str
) -> None:
    empty = tmp_path / "empty"
    (empty / "checkpoints").mkdir(parents=True)  # as a --devices launcher leaves it
    invoke(runner, train_args(empty, data, "--epochs", "1"))
    assert read_json(empty / "run.json")["status"] == "completed"


def test_resume_and_overwrite_exclude_each_other(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(
        runner, ["train", "--resume", str(tmp_path), "--overwrite", "--log", "quiet"], status=2
    )
    assert "--resume" in result.stderr and "--overwrite" in result.stderr


# --------------------------------------------------------------------------- what a run records


def test_threads_default_to_the_usable_cores_whatever_the_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from netspec.train import context

    monkeypatch.setattr(context.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(context.os, "getloadavg", lambda: (3.0, 3.0, 3.0), raising=False)
    assert context.usable_cores() == 4
    assert context.default_threads() == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_json_records_versions_device_and_threads_and_resume_says_where(
    runner: CliRunner, tmp_path: Path, data: str, backend: str
) -> None:
    import keras
    import tensorflow as tf
    import torch

    import netspec

    run = tmp_path / "run"
    invoke(runner, train_args(run, data, "--epochs", "1", backend=backend))
    record = read_json(run / "run.json")
    versions = record["versions"]
    assert versions["netspec"] == netspec.__version__ == record["netspec"]
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    for module in (torch, keras, tf):  # both frameworks, whichever trained
        assert versions[module.__name__] == module.__version__, module.__name__
    assert record["device"] in ("cpu", "/CPU:0") and record["device_name"]
    assert record["threads"] == 1

    args = ["train", "--resume", str(run), "--epochs", "3", "--device", "cpu", "--threads", "1"]
    result = invoke(runner, [*args, "--log", "plain"])
    assert f"resuming at epoch 2 of 3 from {run / 'checkpoints' / 'epoch_0001'}" in result.stdout
    assert read_json(run / "run.json")["epochs_done"] == 3


def test_resume_keeps_the_recorded_threads_unless_told_otherwise(
    runner: CliRunner, tmp_path: Path, data: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another thread count sums in another order (results differ by ~1e-7): a resumed run
    takes the one run.json records, not this machine's default; --threads still overrides."""
    import netspec.train

    run = tmp_path / "run"
    invoke(runner, train_args(run, data, "--epochs", "1"))  # --threads 1
    monkeypatch.setattr(netspec.train, "default_threads", lambda: 3)
    resume = ["train", "--resume", str(run), "--device", "cpu", "--log", "quiet"]
    invoke(runner, [*resume, "--epochs", "2"])
    record = read_json(run / "run.json")
    assert record["threads"] == 1 and record["epochs_done"] == 2
    invoke(runner, [*resume, "--epochs", "3", "--threads", "2"])
    assert read_json(run / "run.json")["threads"] == 2


# --------------------------------------------------------------------------- killed runs


def _ended() -> int:
    """The id of a process that ran and ended, as a SIGKILLed run's has."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def fake_running(folder: Path, pid: int, **fields: Any) -> Path:
    """A run folder whose run.json says "running", as a killed run leaves it."""
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.net").write_text(DIGITS.read_text(encoding="utf-8"), encoding="utf-8")
    record = {"spec": str(DIGITS), "backend": "torch", "status": "running", "pid": pid,
              "host": socket.gethostname(), **fields}  # fmt: skip
    (folder / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return folder


def test_a_running_run_whose_process_is_gone_is_told_as_interrupted(tmp_path: Path) -> None:
    """The lock decides (held: live, whoever asks; free: gone); without a lock file, the
    process id on this host."""
    import socket

    from netspec.train.lock import RunLock
    from netspec.train.rundir import RunDir

    pid, host = _ended(), socket.gethostname()
    run = RunDir(fake_running(tmp_path / "run", pid))
    assert run.gone() == f"process {pid} on host {host} is gone"  # no lock file: the pid
    lock = RunLock(run.path).acquire()
    try:
        assert run.gone() is None  # held: it trains
    finally:
        lock.release()
    assert run.gone() == f"process {pid} on host {host} is gone"  # the lock free: gone
    (run.path / ".netspec.lock").unlink()
    assert RunDir(fake_running(tmp_path / "live", os.getpid())).gone() is None
    other = RunDir(fake_running(tmp_path / "other", pid, host="elsewhere"))
    assert other.gone() is None  # another host's process cannot be asked, and no lock tells
    for status in ("completed", "failed", "interrupted"):
        assert RunDir(fake_running(tmp_path / status, pid, status=status)).gone() is None


def test_evaluate_resume_and_out_see_a_killed_run_for_what_it_is(
    runner: CliRunner, tmp_path: Path, data: str
) -> None:
    import socket

    empty = fake_running(tmp_path / "empty", _ended())
    result = invoke(runner, ["evaluate", str(empty), "--device", "cpu"], status=2)
    shown = " ".join(result.stderr.split())
    assert "was interrupted (process" in shown and "is gone) before its first checkpoint" in shown
    assert f"--resume {empty}" in shown

    run = tmp_path / "run"
    invoke(runner, train_args(run, data, "--epochs", "1"))
    record = read_json(run / "run.json")
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    pid = _ended()
    (run / "run.json").write_text(json.dumps({**record, "status": "running", "pid": pid}))
    (run / "weights.safetensors").unlink()  # as a run killed in epoch 2 leaves its folder
    gone = f"interrupted (process {pid} on host {socket.gethostname()} is gone)"
    result = invoke(runner, ["evaluate", str(run), "--device", "cpu", "--threads", "1"])
    assert f"note: the run was {gone}: evaluating its last checkpoint (1 epoch" in " ".join(
        result.stderr.split()
    )
    from netspec.train import torch_backend

    evaluate_run, checkpoint = torch_backend.evaluate_run, run / "checkpoints" / "epoch_0001"
    saved = (checkpoint.with_suffix(".safetensors")).read_bytes()

    def removed_meanwhile(ctx: Any, weights: Path, split: Any) -> Any:
        weights.unlink()  # as a live run's keep_checkpoints does while evaluate reads it
        return evaluate_run(ctx, weights, split)

    torch_backend.evaluate_run = removed_meanwhile
    try:
        result = invoke(runner, ["evaluate", str(run), "--device", "cpu"], status=2)
    finally:
        torch_backend.evaluate_run = evaluate_run
        checkpoint.with_suffix(".safetensors").write_bytes(saved)
    assert "epoch_0001.safetensors was removed while evaluate read it" in result.stderr
    refused = invoke(runner, train_args(run, data, "--epochs", "1"), status=2)
    gone_words = gone.removeprefix("interrupted ")
    assert f"holds a run already, an interrupted one {gone_words}" in " ".join(refused.stderr.split())
    resume = ["train", "--resume", str(run), "--device", "cpu", "--log", "plain", "--epochs", "2"]
    resumed = invoke(runner, resume)
    assert f"the run was {gone}; resuming at epoch 2 of 2" in resumed.stdout
    assert read_json(run / "run.json")["status"] == "completed"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_folder_that_turns_read_only_mid_run_names_the_file_and_the_stale_run_json(
    runner: CliRunner, tmp_path: Path, data: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From epoch 2's checkpoint on no write succeeds (a remount read-only, a full disk):
    the error names that file and says run.json still says "running"; later commands see
    the run ended."""
    import errno
    import socket

    from netspec.train import atomic
    from netspec.train.rundir import RunDir

    flush, broken = atomic._flush, []

    def failing(path: Path) -> None:
        if "epoch_0002" in path.name or broken:
            broken.append(path)
            raise PermissionError(errno.EACCES, "Permission denied")
        flush(path)

    monkeypatch.setattr(atomic, "_flush", failing)
    run = tmp_path / "run"
    result = invoke(runner, train_args(run, data, "--epochs", "3", backend=backend), status=1)
    suffix = ".safetensors" if backend == "torch" else ".keras"
    shown = " ".join(result.stderr.split())
    assert f"cannot write {run / 'checkpoints' / ('epoch_0002' + suffix)}: permission denied" in shown
    assert 'run.json could not be updated either and still says "running"' in shown
    assert read_json(run / "run.json")["status"] == "running"
    assert not list(run.glob("*.tmp*")) and not list((run / "checkpoints").glob("*.tmp*"))
    gone = f"process {os.getpid()} on host {socket.gethostname()} no longer trains it"
    assert RunDir(run).gone() == gone


def test_an_out_folder_on_a_read_only_file_system_says_so(
    runner: CliRunner, tmp_path: Path, data: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "permission denied", which would send the user to chmod (mounted read-only, as a
    test cannot be: the folder's file system says it is)."""
    from types import SimpleNamespace

    from netspec.train import rundir

    out = tmp_path / "mounted"
    out.mkdir()
    access = os.access
    writable = lambda path, mode: access(path, mode) and not (  # noqa: E731
        Path(path) == out and mode & os.W_OK
    )
    monkeypatch.setattr(rundir.os, "access", writable)
    monkeypatch.setattr(rundir.os, "statvfs", lambda path: SimpleNamespace(f_flag=os.ST_RDONLY))
    result = invoke(runner, train_args(out, data, "--epochs", "1"), status=1)
    assert f"cannot write {out}: the file system is read-only" in " ".join(result.stderr.split())
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- Ctrl-C


class CtrlC(Reporter):
    """Sends this process SIGINT at the first step epoch 2 reports (Keras reports once per
    call into TensorFlow, several steps), as Ctrl-C would."""

    wants_steps = True

    def __init__(self) -> None:
        self.epoch, self.sent = 0, 0.0

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int) -> None:
        self.epoch = epoch

    def step(self, steps_done: int, samples_done: int, running_loss: float) -> None:
        if self.epoch == 1 and not self.sent:
            self.sent = time.monotonic()
            signal.raise_signal(signal.SIGINT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_mid_epoch_keeps_the_last_epoch_and_exits_130(
    runner: CliRunner, tmp_path: Path, data: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import netspec.train as training

    ctrl_c = CtrlC()
    monkeypatch.setattr(training, "reporter", lambda mode, rank=0: ctrl_c)
    run = tmp_path / "run"
    result = invoke(runner, train_args(run, data, "--epochs", "5", backend=backend), status=130)
    assert 0 < time.monotonic() - ctrl_c.sent < 1.0
    assert "interrupted; the last checkpoint holds 1 epoch" in result.stderr
    assert f"continue with: netspec train --resume {run}" in result.stderr
    record = read_json(run / "run.json")
    assert record["status"] == "interrupted" and record["epochs_done"] == 1
    assert [p.name for p in (run / "checkpoints").glob("epoch_*.json")] == ["epoch_0001.json"]


@pytest.mark.slow
def test_ctrl_c_stops_the_process_within_a_second_and_exits_130(tmp_path: Path, data: str) -> None:
    """SIGINT to the process group, as a terminal's Ctrl-C sends it, once two epochs are done:
    the process is gone within a second (the interpreter's teardown with torch loaded alone
    took 0.6-1.2 s)."""
    backend = "torch"
    run = tmp_path / "run"
    args = train_args(run, data, "--epochs", "100000", backend=backend)
    args[args.index("--log") + 1] = "plain"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "netspec", *args],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        epochs = 0
        for line in process.stdout:  # bounded: the run trains until it is interrupted
            epochs += line.startswith("epoch ")
            if epochs == 2:
                break
        assert epochs == 2, process.stderr.read() if process.stderr else ""
        sent = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        stopped = time.monotonic() - sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 130, stderr
    assert stopped < 1.0, f"{stopped:.2f} s from SIGINT to exit"  # measured 0.1-0.2 s
    assert "Traceback" not in stderr and "interrupted; the last checkpoint holds" in stderr
    assert f"continue with: netspec train --resume {run}" in stderr
    record = read_json(run / "run.json")
    assert record["status"] == "interrupted" and record["epochs_done"] >= 2
    last = record["epochs_done"]
    suffix = ".safetensors" if backend == "torch" else ".keras"
    assert (run / "checkpoints" / f"epoch_{last:04d}.json").is_file()
    assert (run / "checkpoints" / f"epoch_{last:04d}{suffix}").is_file()
