"""Faults during training lose at most one epoch: SIGKILL at chosen moments (in the middle of
a checkpoint's write, between its two files, between a write and its rename, at a random
time), a full disk, a read-only folder, a second run in the same folder.

A killed run is a real process killed with SIGKILL: `KILLER` patches netspec's atomic writes
in that process only, to kill it at the moment a test names, then runs the CLI.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT

DIGITS = ROOT / "specs" / "digits_mlp.net"

ZYGOTE = r"""
import contextlib, json, os, random, signal, sys, threading
import importlib
importlib.import_module(sys.argv[1])  # the framework, imported once: each run is forked
from netspec.train import atomic
import netspec.cli
original = atomic.replacing


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def install(moment):
    name, nth, how = moment.split(":")
    seen = {"count": 0}

    @contextlib.contextmanager
    def replacing(path):
        hit = False
        if path.name == name:
            seen["count"] += 1
            hit = seen["count"] == int(nth)
        if hit and how == "random":  # from this write on, at a random moment
            threading.Timer(random.Random(int(nth)).uniform(0.0, 1.5), die).start()
        with original(path) as tmp:
            yield tmp
            if hit and how == "half":  # the temporary file half written, as a kill mid-write leaves it
                data = tmp.read_bytes()
                tmp.write_bytes(data[: len(data) // 2])
                die()
            if hit and how == "unrenamed":  # written whole, not yet renamed
                die()
        if hit and how == "renamed":
            die()

    atomic.replacing = replacing


for line in sys.stdin:
    moment, log, args = json.loads(line)
    pid = os.fork()
    if pid == 0:
        descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(descriptor, 1)
        os.dup2(descriptor, 2)
        install(moment)
        sys.argv = ["netspec", *args]
        try:
            netspec.cli.main()
        except SystemExit as done:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(done.code if isinstance(done.code, int) else 1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


class Runs:
    """A process with the framework imported that forks a `netspec` process per run (a fresh
    interpreter per run took 4-5 s here, most of it importing torch or TensorFlow); a run can
    be made to SIGKILL itself at a moment (NAME:NTH:HOW: at the NTH write of file NAME, the
    temporary file `half` written, or written but `unrenamed`, or `renamed`; or at a `random`
    moment within 1.5 s of that write)."""

    def __init__(self, framework: str, folder: Path) -> None:
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.folder, self.runs = folder, 0
        self.process = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, framework], cwd=folder, env=environment,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def run(self, args: list[str], moment: str = "none:0:none") -> tuple[int, str]:
        """The exit status (-9: killed) and the output of `netspec ARGS`."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.runs += 1
        log = self.folder / f"run{self.runs}.log"
        self.process.stdin.write(json.dumps([moment, str(log), args]) + "\n")
        self.process.stdin.flush()
        status = self.process.stdout.readline()
        assert status, "the forking process died"
        return int(status), log.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def torch_runs(tmp_path: Path) -> Iterator[Runs]:
    runs = Runs("torch", tmp_path)
    yield runs
    runs.close()


@pytest.fixture
def keras_runs(tmp_path: Path) -> Iterator[Runs]:
    runs = Runs("netspec.train.keras_backend", tmp_path)
    yield runs
    runs.close()


def data_file(folder: Path) -> str:
    path = folder / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(96, 64)).astype(np.float32), y=rng.integers(0, 10, 96))
    return f'npz("{path}")'


def train_args(out: Path, data: str, backend: str, epochs: int, spec: Path = DIGITS) -> list[str]:
    return [
        "train", str(spec), "--backend", backend, "--device", "cpu", "--threads", "1",
        "--log", "quiet", "--data", data, "--epochs", str(epochs), "--out", str(out),
    ]  # fmt: skip


def resume_args(out: Path) -> list[str]:
    return ["train", "--resume", str(out), "--device", "cpu", "--threads", "1", "--log", "quiet"]


def assert_whole(run: Path) -> int:
    """Every file of the folder reads whole; returns the epochs of its newest complete
    checkpoint (a JSON marker and the weights beside it, both readable)."""
    from safetensors.numpy import load_file

    for name in ("run.json", "history.json", "ir.json", "checkpoints/best.json"):
        if (run / name).exists():
            json.loads((run / name).read_text(encoding="utf-8"))
    complete = 0
    for marker in sorted((run / "checkpoints").glob("epoch_????.json")):
        meta = json.loads(marker.read_text(encoding="utf-8"))
        weights = marker.with_suffix(".safetensors")
        if weights.exists() or marker.with_suffix(".keras").exists():
            if weights.exists():
                load_file(str(weights))
            complete = max(complete, meta["epoch"])
    if (run / "weights.safetensors").exists():
        load_file(str(run / "weights.safetensors"))
    return complete


def final_tensors(run: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(run / "weights.safetensors"))


@pytest.mark.slow
def test_sigkill_at_five_moments_loses_nothing_on_the_digits_mlp(
    tmp_path: Path, torch_runs: Runs
) -> None:
    """One run killed five times, each at another moment, then resumed to its end: its final
    weights are bit-exact those of the run never killed, and after every kill each file of
    the folder is whole and the newest complete checkpoint at most one epoch behind."""
    data = data_file(tmp_path)
    straight, run = tmp_path / "straight", tmp_path / "run"
    status, output = torch_runs.run(train_args(straight, data, "torch", 6))
    assert status == 0, output
    moments = [
        ("epoch_0002.safetensors:1:half", 1),  # mid-write of a checkpoint's weights
        ("epoch_0003.json:1:unrenamed", 2),  # a checkpoint's marker written, not renamed
        ("history.csv:2:half", 4),  # mid-write of the history, after epoch 4's checkpoint
        ("spec.net:1:random", None),  # at a random moment of the run
        ("weights.safetensors:1:half", 6),  # mid-write of the final weights
    ]
    args = train_args(run, data, "torch", 6)
    for moment, complete in moments:
        status, output = torch_runs.run(args, moment)
        if status == 0:  # the random moment came after the run's end
            assert moment.endswith("random"), output
            (run / "weights.safetensors").unlink()
            continue
        assert status == -9, (moment, output)
        done = assert_whole(run)
        if complete is not None:
            assert done == complete, moment
        args = resume_args(run)
    status, output = torch_runs.run(args)
    assert status == 0, output
    assert json.loads((run / "run.json").read_text(encoding="utf-8"))["status"] == "completed"
    assert not list(run.glob("*.tmp.*")) and not list((run / "checkpoints").glob("*.tmp.*"))
    whole, resumed = final_tensors(straight), final_tensors(run)
    assert whole.keys() == resumed.keys()
    for name in whole:
        assert np.array_equal(whole[name], resumed[name]), name


DROPOUT_BN = """
model dropout_bn {
  input [64]
  layers {
    Dense(32)
    BatchNormalization()
    Dense(32, activation=relu)
    Dropout(0.5)
    Dense(10, activation=softmax)
  }
  loss      sparse_categorical_crossentropy
  optimizer Adam(lr=1e-3)
  metrics   [accuracy]
  train { batch_size = 16, seed = 3 }
}
"""


@pytest.mark.slow
def test_a_killed_keras_run_with_dropout_and_batchnorm_resumes_to_the_same_run(
    tmp_path: Path, keras_runs: Runs
) -> None:
    """A .keras file holds the weights, BatchNorm's moving statistics and the optimizer, but
    not Dropout's generator state: the checkpoint's JSON keeps that, so a run killed and
    resumed drops the units the uninterrupted run drops and ends with its history."""
    spec = tmp_path / "dropout_bn.net"
    spec.write_text(DROPOUT_BN, encoding="utf-8")
    data = data_file(tmp_path)
    straight, run = tmp_path / "straight", tmp_path / "run"
    status, output = keras_runs.run(train_args(straight, data, "keras", 3, spec))
    assert status == 0, output
    moment = "epoch_0003.keras:1:renamed"  # between a checkpoint's two files
    status, output = keras_runs.run(train_args(run, data, "keras", 3, spec), moment)
    assert status == -9, output
    assert assert_whole(run) == 2
    status, output = keras_runs.run(resume_args(run))
    assert status == 0, output
    history = [json.loads((r / "history.json").read_text(encoding="utf-8")) for r in (straight, run)]
    assert history[0] == history[1]
    meta = json.loads((run / "checkpoints" / "epoch_0003.json").read_text(encoding="utf-8"))
    assert meta["seed_states"]  # Dropout's generator, saved


# --------------------------------------------------------------------------- disks and locks


def cli_train(out: Path, data: str, epochs: int = 2) -> Any:
    from typer.testing import CliRunner

    from netspec.cli import app

    return CliRunner().invoke(app, train_args(out, data, "torch", epochs))


def test_a_full_disk_names_the_file_leaves_the_last_checkpoint_whole_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while epoch 2's checkpoint is written (its first half is on the disk):
    the error names that file, the temporary file goes, epoch 1's checkpoint stays whole."""
    from safetensors.torch import save_file

    from netspec.train import torch_backend

    def filling(tensors: dict[str, Any], path: str) -> None:
        if "epoch_0002" not in path:
            return save_file(tensors, path)
        save_file(tensors, path)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch_backend, "save_file", filling)
    run = tmp_path / "run"
    result = cli_train(run, data_file(tmp_path), epochs=3)
    assert result.exit_code == 1, result.output
    shown = " ".join(result.stderr.split())
    assert f"cannot write {run / 'checkpoints' / 'epoch_0002.safetensors'}: no space" in shown
    assert "Traceback" not in result.stderr
    assert assert_whole(run) == 1
    assert not list((run / "checkpoints").glob("*.tmp.*"))
    assert sorted(p.name for p in (run / "checkpoints").glob("epoch_*")) == [
        "epoch_0001.json",
        "epoch_0001.safetensors",
    ]
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "failed" and record["epochs_done"] == 1


def test_a_read_only_folder_is_refused_before_the_run_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    try:
        (out / "probe").touch()  # root writes anyway: then the folder says it is read-only
    except PermissionError:
        pass
    else:
        (out / "probe").unlink()
        from netspec.train import rundir

        access = os.access
        writable = lambda path, mode: access(path, mode) and not (  # noqa: E731
            Path(path) == out and mode & os.W_OK
        )
        monkeypatch.setattr(rundir.os, "access", writable)
    try:
        result = cli_train(out, data_file(tmp_path))
    finally:
        out.chmod(0o755)
    assert result.exit_code == 1, result.output
    assert f"cannot write {out}: permission denied" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert list(out.iterdir()) == []


def test_a_second_run_in_a_folder_being_written_is_refused(tmp_path: Path) -> None:
    """A live run holds the folder's lock (here this process holds it): a second run there,
    fresh or resumed, is refused before it loads anything; once the holder is gone (killed),
    the lock does not block."""
    from netspec.train.lock import RunLock

    data = data_file(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    lock = RunLock(run).acquire()
    try:
        result = cli_train(run, data)
    finally:
        lock.release()
    assert result.exit_code == 1, result.output
    shown = " ".join(result.stderr.split())
    assert f"{run} is being written by another `netspec train` (process {os.getpid()})" in shown
    assert not (run / "run.json").exists()

    holder = subprocess.run(  # takes the lock and dies without letting go of it
        [sys.executable, "-c", "import os, sys; from pathlib import Path; "
         "from netspec.train.lock import RunLock; RunLock(Path(sys.argv[1])).acquire(); "
         "os.kill(os.getpid(), 9)", str(run)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
    )  # fmt: skip
    assert holder.returncode == -9 and (run / ".netspec.lock").read_text().strip()
    assert cli_train(run, data).exit_code == 0  # a dead run's lock blocks nothing

    lock = RunLock(run).acquire()
    try:
        from typer.testing import CliRunner

        from netspec.cli import app

        resumed = CliRunner().invoke(app, [*resume_args(run), "--epochs", "3"])
    finally:
        lock.release()
    assert resumed.exit_code == 1 and "is being written by another" in resumed.stderr


# --------------------------------------------------------------------------- NaN and Inf losses

DIVERGING = """
model diverging {
  input [64]
  layers { Dense(1) }
  loss      mse
  optimizer SGD(lr=3.0)
  train { batch_size = 16, seed = 0, test_split = 0.0 }
}
"""


@pytest.fixture(scope="module")
def diverging(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A regression whose learning rate is far too high: its loss is infinite in epoch 3."""
    folder = tmp_path_factory.mktemp("diverging")
    spec = folder / "diverging.net"
    spec.write_text(DIVERGING, encoding="utf-8")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 64)).astype(np.float32)
    np.savez(folder / "d.npz", x=x, y=x.sum(axis=1, keepdims=True))
    return spec, f'npz("{folder / "d.npz"}")'


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_non_finite_loss_stops_the_run_at_its_step_and_keeps_the_last_checkpoint(
    tmp_path: Path, diverging: tuple[Path, str], backend: str
) -> None:
    from typer.testing import CliRunner

    from netspec.cli import app

    spec, data = diverging
    run = tmp_path / "run"
    result = CliRunner().invoke(app, train_args(run, data, backend, 6, spec))
    assert result.exit_code == 1, result.output
    shown = " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    step = "step" if backend == "torch" else "by step"
    assert "the loss is inf at epoch 3, " + step in shown or "the loss is nan at epoch 3" in shown
    assert "training stopped there (on_nan = stop)" in shown
    assert f"the last checkpoint, {run / 'checkpoints' / 'epoch_0002'}, holds 2 epochs" in shown
    assert "learning rate" in shown and "clip_norm" in shown and "standardize" in shown
    assert assert_whole(run) == 2
    assert not (run / "checkpoints" / "epoch_0003.json").exists()
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "failed" and record["epochs_done"] == 2


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_an_epoch_that_ends_on_non_finite_weights_stops_before_its_checkpoint(
    tmp_path: Path, diverging: tuple[Path, str], backend: str
) -> None:
    """At lr = 4 every step of epoch 3 has a finite loss, but its last update leaves the
    weights so large that val_loss is infinite: the run, asked for 3 epochs, stops (exit 1)
    instead of ending there with garbage, and the last checkpoint is epoch 2's."""
    from typer.testing import CliRunner

    from netspec.cli import app

    spec, data = diverging
    source = DIVERGING.replace("lr=3.0", "lr=4.0").replace(
        "test_split = 0.0", "test_split = 0.0, validation_split = 0.2, shuffle = false"
    )
    spec = tmp_path / "diverging.net"
    spec.write_text(source, encoding="utf-8")
    run = tmp_path / "run"
    result = CliRunner().invoke(app, train_args(run, data, backend, 3, spec))
    assert result.exit_code == 1, result.output
    shown = " ".join(result.stderr.split())
    assert "val_loss is inf at the end of epoch 3, whose steps all had a finite loss" in shown
    assert f"the last checkpoint, {run / 'checkpoints' / 'epoch_0002'}, holds 2 epochs" in shown
    assert assert_whole(run) == 2
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "failed" and record["epochs_done"] == 2


def test_on_nan_skip_leaves_out_the_step_and_trains_on_as_without_that_batch(
    tmp_path: Path,
) -> None:
    """PyTorch's generated loop with on_nan = skip: a batch whose loss is infinite updates
    nothing, so an epoch with it ends with the weights of an epoch without it."""
    import torch

    from netspec.codegen import generate
    from netspec.frontend import check_source
    from netspec.train.context import load_module

    source = DIVERGING.replace("lr=3.0", "lr=0.01").replace("test_split", "on_nan = skip, test_split")
    model, diagnostics = check_source(source, "diverging.net")
    assert model is not None, [d.message for d in diagnostics]
    (tmp_path / "model.py").write_text(generate(model, "torch"), encoding="utf-8")
    module = load_module(tmp_path / "model.py", model.name)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(48, 64)).astype(np.float32))
    y = x.sum(dim=1, keepdim=True)
    poisoned = y.clone()
    poisoned[40] = float("inf")  # in the last of three batches
    skipped: list[tuple[int, int, float]] = []
    nets = []
    for xs, ys, hook in ((x, poisoned, skipped.append), (x[:32], y[:32], None)):
        torch.manual_seed(0)
        net = module.build_model()
        on_skip = (lambda e, s, v, hook=hook: hook((e, s, v))) if hook else None
        history = module.fit(net, xs, ys, epochs=1, shuffle=False, on_skip=on_skip)
        nets.append((net, history))
    assert skipped == [(1, 3, float("inf"))]
    (skipping, history), (without, reference) = nets
    for a, b in zip(skipping.state_dict().values(), without.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert history["loss"] == pytest.approx(reference["loss"])  # the skipped step counts in no figure


def test_on_nan_skip_skips_the_same_steps_on_both_backends_to_equal_weights(tmp_path: Path) -> None:
    """Both generated fits with on_nan = skip, from the same weights, shuffle on: each skips
    the steps of the batch with an infinite target, updates nothing there (Keras' optimizer
    counts no step for it) and ends with the other's weights; an epoch of such steps only
    raises NonFiniteLoss (step 0) on both."""
    import torch

    from netspec.codegen import generate
    from netspec.frontend import check_source
    from netspec.train.context import load_module

    source = DIVERGING.replace("lr=3.0", "lr=0.01").replace("test_split", "on_nan = skip, test_split")
    model, diagnostics = check_source(source, "diverging.net")
    assert model is not None, [d.message for d in diagnostics]
    modules = {}
    for target in ("torch", "keras"):
        (tmp_path / f"{target}.py").write_text(generate(model, target), encoding="utf-8")
        modules[target] = load_module(tmp_path / f"{target}.py", f"{model.name}_{target}")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 64)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    y[40] = np.inf
    torch.manual_seed(0)
    net = modules["torch"].build_model()
    keras_net = modules["keras"].compile_model(modules["keras"].build_model())
    dense = next(layer for layer in keras_net.layers if layer.weights)
    dense.set_weights([net.dense.weight.detach().numpy().T, net.dense.bias.detach().numpy()])
    skipped: dict[str, list[tuple[int, int, float]]] = {"torch": [], "keras": []}
    history = {}
    for target, built, xs, ys in (
        ("torch", net, torch.from_numpy(x), torch.from_numpy(y)),
        ("keras", keras_net, x, y),
    ):
        history[target] = modules[target].fit(
            built, xs, ys, epochs=2, on_skip=lambda *skip, target=target: skipped[target].append(skip)
        )
    assert len(skipped["torch"]) == 2 and skipped["keras"] == skipped["torch"]
    assert int(keras_net.optimizer.iterations.numpy()) == 2 * 3 - 2
    assert history["keras"]["loss"] == pytest.approx(history["torch"]["loss"], rel=1e-5)
    np.testing.assert_allclose(dense.get_weights()[0], net.dense.weight.detach().numpy().T, atol=1e-5)
    y[:] = np.inf
    with pytest.raises(FloatingPointError) as torch_raised:
        modules["torch"].fit(net, torch.from_numpy(x), torch.from_numpy(y), epochs=1)
    with pytest.raises(FloatingPointError) as keras_raised:
        modules["keras"].fit(keras_net, x, y, epochs=1)
    assert (torch_raised.value.epoch, torch_raised.value.step) == (1, 0)
    assert (keras_raised.value.epoch, keras_raised.value.step) == (1, 0)


BATCHNORM_SKIP = """
model normed {
  input [8]
  layers { Dense(4) BatchNormalization() Dense(1) }
  loss      mse
  optimizer Adam(lr=0.01)
  train { batch_size = 8, seed = 0, on_nan = skip, test_split = 0.0 }
}
"""


@pytest.mark.parametrize("target", ["torch", "keras"])
def test_a_skipped_step_leaves_batchnorm_statistics_as_they_were(tmp_path: Path, target: str) -> None:
    """on_nan = skip: the forward pass of a skipped step moved BatchNormalization's moving
    statistics; the step puts them back, so only good batches count in them."""
    from netspec.codegen import generate
    from netspec.frontend import check_source
    from netspec.train.context import load_module

    model, diagnostics = check_source(BATCHNORM_SKIP, "normed.net")
    assert model is not None, [d.message for d in diagnostics]
    (tmp_path / "model.py").write_text(generate(model, target), encoding="utf-8")
    module = load_module(tmp_path / "model.py", f"{model.name}_{target}")
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(16, 8)).astype(np.float32)
    y = np.full((16, 1), np.inf, dtype=np.float32)
    if target == "torch":
        import torch

        net = module.build_model()
        state = lambda: [b.clone().numpy() for b in net.buffers()]  # noqa: E731
        x, y = torch.from_numpy(x), torch.from_numpy(y)
    else:
        net = module.compile_model(module.build_model())
        state = lambda: [v.numpy() for v in net.non_trainable_variables]  # noqa: E731
    before = state()
    with pytest.raises(FloatingPointError):
        module.fit(net, x, y, epochs=1)
    for kept, was in zip(state(), before, strict=True):
        np.testing.assert_array_equal(kept, was)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_on_nan_skip_names_the_skipped_steps_and_stops_at_an_epoch_of_them_only(
    tmp_path: Path, diverging: tuple[Path, str], backend: str
) -> None:
    """The diverging regression with on_nan = skip: epoch 3's last two steps are infinite and
    skipped, then every step of epoch 4: the run stops there, epoch 3's checkpoint kept."""
    from typer.testing import CliRunner

    from netspec.cli import app

    spec, data = diverging
    run = tmp_path / "run"
    args = [*train_args(run, data, backend, 6, spec), "--set", "on_nan=skip", "--log", "plain"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    shown = " ".join(result.output.split())
    for epoch, step in ((3, 5), (3, 6), (4, 1)):
        assert f"the loss is inf at epoch {epoch}, step {step}: skipped that step" in shown
    assert "the loss is nan at every step of epoch 4 (on_nan = skip skipped them)" in shown
    assert assert_whole(run) == 3


def test_on_nan_skip_on_keras_with_several_replicas_is_refused_before_training(
    tmp_path: Path, diverging: tuple[Path, str]
) -> None:
    from typer.testing import CliRunner

    from netspec.cli import app

    spec, data = diverging
    args = [*train_args(tmp_path / "run", data, "keras", 1, spec), "--set", "on_nan=skip"]
    result = CliRunner().invoke(app, [*args, "--devices", "2"])
    assert result.exit_code == 2 and "on_nan = skip trains on one device with Keras" in result.stderr
