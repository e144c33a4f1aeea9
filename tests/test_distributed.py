"""Data-parallel training: 2 workers train as 1 process does, write one run, survive a kill.

PyTorch runs under torchrun (gloo, 127.0.0.1); Keras under MirroredStrategy over two logical
CPU devices. Every process a test starts is bounded by a timeout and ends with the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from netspec.cli import app
from netspec.train.distributed import failure_of

ROOT = Path(__file__).resolve().parents[1]
STEPS = ROOT / "tests" / "distributed"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}


def _run(command: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The MLP on the bundled digits and the CNN on 329 random images (the last batch of 9
    splits 5 / 4 between two workers)."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    images = folder / "images.npz"
    np.savez(images, x=(rng.random((329, 28, 28)) * 255).astype(np.float32), y=rng.integers(0, 10, 329))
    cnn = {"data": f'npz("{images}")', "test_split": "0.0", "batch_size": "16", "epochs": "1"}
    return json.dumps(
        [[str(ROOT / "specs/digits_mlp.net"), {"epochs": "1"}], [str(ROOT / "specs/mnist_cnn.net"), cnn]]
    )


def _compare(one: Path, two: Path, load) -> None:
    for model in ("digits_mlp", "mnist_cnn"):
        alone = json.loads((one / f"{model}.json").read_text())["losses"][:20]
        shared = json.loads((two / f"{model}.json").read_text())["losses"][:20]
        assert len(alone) == len(shared) == 20
        np.testing.assert_allclose(shared, alone, atol=1e-5, err_msg=f"{model}: per-step losses")
        weights_one, weights_two = load(one, model), load(two, model)
        assert weights_one.keys() == weights_two.keys()
        for name in weights_one:
            np.testing.assert_allclose(
                weights_two[name], weights_one[name], atol=1e-5, err_msg=f"{model}: {name}"
            )


@pytest.mark.slow
def test_torchrun_two_workers_train_as_one_process(jobs: str, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    script = str(STEPS / "torch_steps.py")
    _run([sys.executable, script, str(tmp_path / "one"), jobs], tmp_path)
    _run([*TORCHRUN, script, str(tmp_path / "two"), jobs], tmp_path)
    _compare(tmp_path / "one", tmp_path / "two", lambda folder, m: load_file(folder / f"{m}.safetensors"))


@pytest.mark.slow
def test_mirrored_two_replicas_train_as_one_device(tmp_path: Path) -> None:
    """Keras weighs each replica's share of a batch equally, so its exact agreement needs
    batches that split evenly: 330 images, batches of 16, a last batch of 10."""
    rng = np.random.default_rng(0)
    images = tmp_path / "images.npz"
    np.savez(images, x=(rng.random((330, 28, 28)) * 255).astype(np.float32), y=rng.integers(0, 10, 330))
    cnn = {"data": f'npz("{images}")', "test_split": "0.0", "batch_size": "16", "epochs": "1"}
    jobs = json.dumps(
        [[str(ROOT / "specs/digits_mlp.net"), {"epochs": "1"}], [str(ROOT / "specs/mnist_cnn.net"), cnn]]
    )
    script = str(STEPS / "keras_steps.py")
    _run([sys.executable, script, str(tmp_path / "one"), "1", jobs], tmp_path)
    _run([sys.executable, script, str(tmp_path / "two"), "2", jobs], tmp_path)

    def load(folder: Path, model: str) -> dict[str, np.ndarray]:
        with np.load(folder / f"{model}.npz") as arrays:
            return {name: arrays[name] for name in arrays.files}

    _compare(tmp_path / "one", tmp_path / "two", load)


# --------------------------------------------------------------------------- netspec train --devices

TRAIN = ["train", str(ROOT / "specs/digits_mlp.net"), "--batch-size", "2", "--epochs", "3", "--log", "plain"]


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`netspec train --devices 2`: 3 epochs of 647 steps of 2 samples, one per worker, into
    a folder that held another run (--overwrite: the launcher lets it pass, rank 0 clears it)."""
    out = tmp_path_factory.mktemp("runs") / "two"
    (out / "checkpoints").mkdir(parents=True)
    (out / "run.json").write_text("{}")
    (out / "checkpoints/epoch_0009.json").write_text("{}")
    command = [sys.executable, "-m", "netspec", *TRAIN, "--devices", "2", "-o", str(out), "--overwrite"]
    _run(command, ROOT, timeout=240)
    return out


@pytest.mark.slow
def test_two_worker_run_folder_is_written_once(two_worker_run: Path) -> None:
    record = json.loads((two_worker_run / "run.json").read_text())
    assert record["workers"] == 2 and record["launcher"] == "torchrun"
    assert record["status"] == "completed" and record["epochs_done"] == 3
    names = sorted(p.name for p in (two_worker_run / "checkpoints").iterdir())
    best = json.loads((two_worker_run / "checkpoints/best.json").read_text())["epoch"]
    kept = sorted({2, 3, best})  # the last two (keep_checkpoints = 2) and the best by val_loss
    assert names == ["best.json", *(f"epoch_000{e}.{s}" for e in kept for s in ("json", "safetensors"))]
    assert record["weights"]["epoch"] == 3 and record["best"]["epoch"] == best
    assert len(json.loads((two_worker_run / "history.json").read_text())["loss"]) == 3
    assert not (two_worker_run / "torchrun.log").exists()  # written only when a worker fails


@pytest.mark.slow
def test_two_worker_run_equals_one_process(two_worker_run: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    _run([sys.executable, "-m", "netspec", *TRAIN, "--threads", "1", "-o", str(tmp_path / "one")], ROOT)
    one, two = load_file(tmp_path / "one/weights.safetensors"), load_file(two_worker_run / "weights.safetensors")
    for name in one:
        np.testing.assert_allclose(two[name], one[name], atol=1e-5, err_msg=name)
    history_one = json.loads((tmp_path / "one/history.json").read_text())
    history_two = json.loads((two_worker_run / "history.json").read_text())
    for figure in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history_two[figure], history_one[figure], atol=1e-5, err_msg=figure)


def _worker_pids(launcher: int) -> dict[int, int]:
    """rank → pid of the workers torchrun started (its children), from their environment."""
    found = {}
    for child in _children(launcher):
        environment = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        ranks = [e.split(b"=", 1)[1] for e in environment if e.startswith(b"RANK=")]
        if ranks:
            found[int(ranks[0])] = int(child)
    return found


@pytest.mark.slow
def test_killed_worker_stops_the_run_and_resume_finishes_it(
    two_worker_run: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file

    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "netspec", *TRAIN, "--devices", "2", "-o", str(out)],
        cwd=ROOT, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints/epoch_0001.json").exists():  # then epoch 2 is under way
            assert process.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        launcher = int(_children(process.pid)[0])  # netspec's one child: torchrun
        os.kill(_worker_pids(launcher)[1], signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = process.communicate(timeout=60)
        assert time.monotonic() - killed < 60
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    assert "worker rank 1" in stderr and "SIGKILL" in stderr and "Traceback" not in stderr, stderr
    assert f"--resume {out} --devices 2" in stderr
    assert not (out / "checkpoints/epoch_0003.json").exists()

    _run([sys.executable, "-m", "netspec", "train", "--resume", str(out), "--devices", "2", "--log", "plain"], ROOT)
    resumed, whole = load_file(out / "weights.safetensors"), load_file(two_worker_run / "weights.safetensors")
    for name in whole:
        np.testing.assert_allclose(resumed[name], whole[name], atol=1e-6, err_msg=name)


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


# --------------------------------------------------------------------------- refused before any process


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_batch_that_does_not_divide_is_refused_before_any_process(backend: str) -> None:
    started = time.monotonic()
    result = CliRunner().invoke(
        app, ["train", str(ROOT / "specs/digits_mlp.net"), "--backend", backend, "--devices", "3"]
    )
    assert result.exit_code == 2
    assert "batch_size 32 does not divide among 3 workers" in result.output
    assert "--batch-size 30 or 33" in result.output
    assert time.monotonic() - started < 10  # no torchrun, no framework


def test_a_folder_holding_a_run_is_refused_before_any_process(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints/epoch_0001.json").write_text("{}")
    started = time.monotonic()
    result = CliRunner().invoke(
        app, ["train", str(ROOT / "specs/digits_mlp.net"), "--devices", "2", "--epochs", "1", "-o", str(run)]
    )
    assert result.exit_code == 2, result.output
    assert f"{run} holds a run already (checkpoints/)" in result.output
    assert f"--resume {run}" in result.output
    assert time.monotonic() - started < 10  # no torchrun, no framework
    assert not (run / "run.json").exists()


def test_keras_under_tf_config_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    result = CliRunner().invoke(app, ["train", str(ROOT / "specs/digits_mlp.net"), "--backend", "keras"])
    assert result.exit_code == 2
    assert "MultiWorkerMirroredStrategy" in result.output and "--backend torch" in result.output


def test_failure_report_names_the_root_cause() -> None:
    report = """netspec FAILED
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 11)
Root Cause (first observed failure):
[0]:
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 12)
"""
    assert failure_of(report) == "worker rank 1 (local rank 1) was killed by SIGKILL"
    assert failure_of("nothing to see") is None



def test_torchrun_log_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchrun's failure report goes to torchrun.log as every run file does: a disk that
    fills while writing the next one leaves the previous log whole and names the path."""
    import errno

    from netspec.train import distributed
    from netspec.train.atomic import RunFolderError

    def failing(text: str) -> list[str]:
        return [sys.executable, "-c", f"import sys; sys.stderr.write({text!r}); sys.exit(1)"]

    log = tmp_path / "run" / "torchrun.log"
    status, _ = distributed.launch(failing("Traceback (first)\nboom\n"), log)
    assert status == 1 and log.read_text(encoding="utf-8") == "Traceback (first)\nboom\n"

    def full_disk(path: Path, data: bytes | str, *args: object, **kwargs: object) -> None:
        with open(path, "wb") as handle:  # as far as it got
            handle.write((data if isinstance(data, bytes) else data.encode())[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(RunFolderError, match=r"torchrun\.log: no space left"):
        distributed.launch(failing("Traceback (second)\n"), log)
    monkeypatch.undo()
    assert log.read_text(encoding="utf-8") == "Traceback (first)\nboom\n"
    assert sorted(p.name for p in log.parent.iterdir()) == ["torchrun.log"]

BATCHNORM_SPEC = """
model bn_mlp {
  input [64]
  layers {
    Dense(16)
    BatchNormalization
    Activation(relu)
    Dense(10, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=1e-3)
  metrics [accuracy]
  train {
    data = digits
    epochs = 1
    batch_size = 32
    standardize = true
    sync_batchnorm = true
    lr_scaling = linear
  }
}
"""


@pytest.mark.slow
def test_keras_replicas_scale_the_learning_rate_and_synchronize_batchnorm(tmp_path: Path) -> None:
    spec = tmp_path / "bn.net"
    spec.write_text(BATCHNORM_SPEC)
    out = tmp_path / "run"
    _run([sys.executable, "-m", "netspec", "train", str(spec), "--backend", "keras", "--devices", "2",
          "-o", str(out), "--log", "plain"], ROOT)
    assert json.loads((out / "history.json").read_text())["lr"] == [pytest.approx(2e-3)]
    record = json.loads((out / "run.json").read_text())
    assert record["workers"] == 2 and record["launcher"] == "mirrored"
    assert "layer.synchronized = True" in (out / "model.py").read_text()


def test_torch_sync_batchnorm_on_cpus_is_refused_before_any_process(tmp_path: Path) -> None:
    spec = tmp_path / "bn.net"
    spec.write_text(BATCHNORM_SPEC)
    result = CliRunner().invoke(app, ["train", str(spec), "--devices", "2", "--device", "cpu", "-o", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "SyncBatchNorm runs on CUDA only" in result.output
    assert not (tmp_path / "r").exists()
