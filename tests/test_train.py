"""`netspec train`, `evaluate` and `predict` end to end, in this process, on tiny data.

Every seed spec trains one short epoch on both backends (on an .npz the test writes, shaped
for the spec), resuming repeats an uninterrupted run exactly, an interrupted run can be
resumed, and a run folder holds what it promises. CPU only, one thread, no data sets on disk.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, SPEC_IDS, SPECS, checked_model, spec_name, vocabulary
from typer.testing import CliRunner

import netspec.train as training
from netspec import catalogue
from netspec.cli import app
from netspec.train import TrainError, TrainOptions
from netspec.train.progress import Reporter

BACKENDS = ("torch", "keras")
WEIGHTS = {"torch": "weights.safetensors", "keras": "model.keras"}
CHECKPOINT = {"torch": ".safetensors", "keras": ".keras"}
DIGITS = ROOT / "specs" / "digits_mlp.net"

# Seed specs that the one-epoch test leaves out, and why; each has a test of what
# `netspec train` tells its user instead (below).
NOT_TRAINED_HERE = {
    # An epoch of 224×224 images through VGG16 takes minutes on a CPU, and writes a 160 MB
    # checkpoint; no bundled data set has such images (the spec reads the user's .npz).
    "vgg16_transfer": "VGG16 on 224×224 images: too slow for the suite on a CPU",
}
TRAINED_SPECS = [spec for spec in SPECS if spec.stem not in NOT_TRAINED_HERE]
# The (spec, backend) epochs long enough to wait for the full run (`pytest -m ""`, as CI):
# a Keras epoch of the residual network traces twenty convolution blocks, the transformer's
# attention a few more (tests/test_specs_frameworks.py still takes a Keras step of each).
SLOW_EPOCHS = {("resnet20", "keras"), ("text_transformer", "keras")}
EVERY_SPEC_AND_BACKEND = [
    pytest.param(
        spec,
        backend,
        id=f"{spec.stem}-{backend}",
        marks=[pytest.mark.slow] if (spec.stem, backend) in SLOW_EPOCHS else [],
    )
    for spec in TRAINED_SPECS
    for backend in BACKENDS
]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


# --------------------------------------------------------------------------- helpers


def spec_data(stem: str, path: Path, samples: int = 64, seed: int = 0) -> Path:
    """An .npz of `samples` inputs and targets that fit the spec as its train block reads them;
    for several inputs or outputs, an array named like each (netspec takes them by name)."""
    model = checked_model(stem)
    if len(model.inputs) > 1 or len(model.outputs) > 1:
        return multi_data(model, path, samples, seed)
    config = model.train
    shape = tuple(model.inputs[0].shape)
    if config.reshape:  # give what a reshape turns into the input: images without channels
        while len(shape) > 1 and shape[-1] == 1:
            shape = shape[:-1]
    rng = np.random.default_rng(seed)
    vocab = vocabulary(model, model.inputs[0].name)
    if vocab is not None:  # token ids for an Embedding
        x = rng.integers(0, vocab, size=(samples, *shape)).astype(np.int64)
    else:
        x = rng.uniform(0.0, config.divide_by or 1.0, size=(samples, *shape)).astype(np.float32)
    loss = catalogue.lookup("loss", model.loss.kind)
    target = loss.target  # type: ignore[union-attr]
    out = tuple(model.output_shape)
    labels = rng.integers(0, out[-1], size=samples)
    if target == "sparse":
        y: np.ndarray = labels
    elif target == "one_hot":
        y = labels if config.one_hot else np.eye(out[-1], dtype=np.float32)[labels]
    elif target == "binary":
        y = rng.integers(0, 2, size=(samples, *out)).astype(np.float32)
    else:
        y = rng.normal(size=(samples, *out)).astype(np.float32)
    np.savez(path, x=x, y=y)
    return path


def multi_data(model: Any, path: Path, samples: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {
        source.name: rng.normal(size=(samples, *source.shape)).astype(np.float32)
        for source in model.inputs
    }
    for loss in model.losses:
        shape = tuple(model.shape_of(loss.output))
        target = catalogue.lookup("loss", loss.kind).target  # type: ignore[union-attr]
        if target == "sparse":
            arrays[loss.output] = rng.integers(0, shape[-1], size=samples)
        else:
            arrays[loss.output] = rng.normal(size=(samples, *shape)).astype(np.float32)
    np.savez(path, **arrays)
    return path


def npz(path: Path) -> str:
    return f'npz("{path}")'


def train_args(spec: Path, backend: str, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        str(spec),
        "--backend",
        backend,
        "--device",
        "cpu",
        "--threads",
        "1",
        "--log",
        "quiet",
        "--out",
        str(out),
        *extra,
    ]


def invoke(runner: CliRunner, args: list[str], status: int = 0) -> Any:
    result = runner.invoke(app, args)
    assert result.exit_code == status, (result.output, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    return result


def options(backend: str, out: Path | None = None, **kwargs: Any) -> TrainOptions:
    return TrainOptions(backend=backend, device="cpu", out=out, threads=1, log="quiet", **kwargs)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def final_weights(run: Path, backend: str) -> list[np.ndarray]:
    if backend == "torch":
        from safetensors.numpy import load_file

        tensors = load_file(str(run / "weights.safetensors"))
        return [tensors[k] for k in sorted(tensors)]
    import keras

    model = keras.saving.load_model(run / "model.keras", compile=False)
    return [np.asarray(w) for w in model.get_weights()]


def max_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert [w.shape for w in a] == [w.shape for w in b]
    return max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- every spec


def test_the_specs_left_out_are_seed_specs() -> None:
    assert set(NOT_TRAINED_HERE) <= set(SPEC_IDS)
    assert len(TRAINED_SPECS) == len(SPECS) - len(NOT_TRAINED_HERE)


@pytest.mark.parametrize(("spec", "backend"), EVERY_SPEC_AND_BACKEND)
def test_every_spec_trains_an_epoch(
    runner: CliRunner, tmp_path: Path, spec: Path, backend: str
) -> None:
    data = spec_data(spec.stem, tmp_path / "data.npz")
    run = tmp_path / "run"
    invoke(
        runner,
        train_args(spec, backend, run, "--epochs", "1", "--batch-size", "32", "--data", npz(data)),
    )
    for name in (
        "spec.net",
        "ir.json",
        "model.py",
        "model.svg",
        "run.json",
        "history.csv",
        "history.json",
        "curves.png",
        WEIGHTS[backend],
    ):
        assert (run / name).is_file(), name
    assert (run / "spec.net").read_text(encoding="utf-8") == spec.read_text(encoding="utf-8")
    assert read_json(run / "ir.json")["name"] == checked_model(spec.stem).name
    assert "def fit(" in (run / "model.py").read_text(encoding="utf-8")
    assert (run / "checkpoints" / "epoch_0001.json").is_file()
    assert (run / "checkpoints" / f"epoch_0001{CHECKPOINT[backend]}").is_file()
    record = read_json(run / "run.json")
    assert record["status"] == "completed"
    assert record["backend"] == backend and record["epochs_done"] == 1
    assert record["overrides"]["data"] == npz(data)
    assert record["data"]["train"] + record["data"]["validation"] + record["data"]["test"] == 64
    history = read_json(run / "history.json")
    assert len(history["loss"]) == 1 and math.isfinite(history["loss"][0])
    assert (run / "history.csv").read_text(encoding="utf-8").startswith("epoch,")
    if record["data"]["test"]:
        test = read_json(run / "test.json")
        assert math.isfinite(test["loss"])
    else:
        assert not (run / "test.json").exists()
    assert (run / "standardization.npz").exists() == checked_model(spec.stem).train.standardize


TWO_TOWER = ROOT / "specs" / "two_tower.net"
CUSTOMERS = "customers(samples=160)"
TWO_TOWER_DATA = ("--data", CUSTOMERS, "--seed", "2")


@pytest.fixture(scope="module")
def two_tower_run(runner: CliRunner, tmp_path_factory: pytest.TempPathFactory):
    """The uninterrupted 3-epoch two_tower run of each backend, trained once for the tests
    that read one (a Keras run of it takes seconds): they only add evaluate's and predict's
    files to it, never its weights or history."""
    runs: dict[str, Path] = {}

    def run_of(backend: str) -> Path:
        if backend not in runs:
            run = tmp_path_factory.mktemp(f"two_tower_{backend}") / "run"
            invoke(runner, train_args(TWO_TOWER, backend, run, "--epochs", "3", *TWO_TOWER_DATA))
            runs[backend] = run
        return runs[backend]

    return run_of


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_tower_trains_on_its_bundled_data(
    runner: CliRunner, two_tower_run, backend: str
) -> None:
    """Several inputs and outputs: figures per output, named as Keras names them."""
    run = two_tower_run(backend)
    history = read_json(run / "history.json")
    for name in ("loss", "plan_loss", "spend_loss", "plan_accuracy", "spend_mean_absolute_error"):
        assert math.isfinite(history[name][0]) and math.isfinite(history[f"val_{name}"][0])
    test = read_json(run / "test.json")
    # the total is the weighted sum of the outputs' losses (loss_weights plan 1.0, spend 0.2)
    assert test["loss"] == pytest.approx(test["plan_loss"] + 0.2 * test["spend_loss"], rel=1e-4)
    record = read_json(run / "run.json")
    assert record["data"]["input_shape"] == [[20], [10, 8]]
    assert record["data"]["target_shape"] == [[], [1]]

    result = invoke(runner, ["evaluate", str(run), "--device", "cpu", "--threads", "1"])
    assert "plan_accuracy" in result.stdout
    assert read_json(run / "test.json") == pytest.approx(test, rel=1e-5)
    result = invoke(runner, ["predict", str(run), "--device", "cpu", "--threads", "1"])
    assert "plan [5], spend [1]" in result.stdout
    with np.load(run / "predictions.npz") as predictions:
        assert predictions["plan"].shape == (160, 5) and predictions["spend"].shape == (160, 1)
        np.testing.assert_allclose(predictions["plan"].sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("backend", ["torch", pytest.param("keras", marks=pytest.mark.slow)])
def test_two_tower_resume_repeats_the_uninterrupted_run(
    runner: CliRunner, tmp_path: Path, two_tower_run, backend: str
) -> None:
    straight, resumed, again = two_tower_run(backend), tmp_path / "resumed", tmp_path / "again"
    data = TWO_TOWER_DATA
    invoke(runner, train_args(TWO_TOWER, backend, again, "--epochs", "3", *data))
    invoke(runner, train_args(TWO_TOWER, backend, resumed, "--epochs", "2", *data))
    invoke(
        runner,
        ["train", "--resume", str(resumed), "--epochs", "3", "--device", "cpu", "--threads", "1",
         "--log", "quiet"],
    )
    assert read_json(resumed / "run.json")["epochs_done"] == 3
    assert max_difference(final_weights(straight, backend), final_weights(again, backend)) == 0.0
    if backend == "keras":
        # Keras' Dropout draws from a seed generator that its checkpoint does not restore,
        # so a resumed run's dropout masks differ (the PyTorch loop reseeds every epoch).
        return
    assert max_difference(final_weights(straight, backend), final_weights(resumed, backend)) < 1e-6
    a, b = read_json(straight / "history.json"), read_json(resumed / "history.json")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)


def test_two_tower_init_from_a_run_of_the_other_backend(
    runner: CliRunner, tmp_path: Path, two_tower_run
) -> None:
    first = two_tower_run("torch")
    second = tmp_path / "keras"
    invoke(
        runner,
        train_args(
            TWO_TOWER, "keras", second, "--epochs", "1", "--data", CUSTOMERS,
            "--init-from", str(first / "weights.safetensors"),
        ),
    )
    assert read_json(second / "run.json")["status"] == "completed"


@pytest.mark.parametrize(
    ("stem", "path"),
    [("vgg16_transfer", "data/your_images.npz"), ("text_transformer", "data/your_tokens.npz")],
)
def test_a_spec_without_its_data_file_says_so(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stem: str, path: str
) -> None:
    """The specs that read the user's own .npz name the missing file, where the spec says it."""
    monkeypatch.chdir(tmp_path)  # the path is relative to where netspec runs: nothing there
    spec = ROOT / spec_name(stem)
    result = invoke(runner, train_args(spec, "torch", tmp_path / "run"), status=1)
    line = next(
        number
        for number, text in enumerate(spec.read_text(encoding="utf-8").splitlines(), 1)
        if f'npz("{path}"' in text
    )
    assert f"{spec}:{line}:" in result.stderr
    assert f"error[E0402]: cannot read {path}: No such file or directory" in result.stderr
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- resume, seeds


@pytest.mark.parametrize("backend", ["torch", pytest.param("keras", marks=pytest.mark.slow)])
def test_resume_repeats_the_uninterrupted_run(
    runner: CliRunner, tmp_path: Path, backend: str
) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    invoke(runner, train_args(DIGITS, backend, straight, "--epochs", "4", "--seed", "3"))
    invoke(runner, train_args(DIGITS, backend, resumed, "--epochs", "2", "--seed", "3"))
    assert read_json(resumed / "run.json")["epochs_done"] == 2
    invoke(
        runner,
        [
            "train",
            "--resume",
            str(resumed),
            "--epochs",
            "4",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--log",
            "quiet",
        ],
    )
    record = read_json(resumed / "run.json")
    assert record["status"] == "completed" and record["epochs_done"] == 4
    assert record["backend"] == backend and record["seed"] == 3
    assert (resumed / "checkpoints" / f"epoch_0004{CHECKPOINT[backend]}").is_file()
    assert max_difference(final_weights(straight, backend), final_weights(resumed, backend)) < 1e-6
    a, b = read_json(straight / "history.json"), read_json(resumed / "history.json")
    assert a.keys() == b.keys() and len(b["loss"]) == 4
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)
    assert read_json(straight / "test.json") == pytest.approx(read_json(resumed / "test.json"))


@pytest.mark.parametrize("backend", ["torch", pytest.param("keras", marks=pytest.mark.slow)])
def test_a_seed_makes_runs_identical(runner: CliRunner, tmp_path: Path, backend: str) -> None:
    data = npz(spec_data("digits_mlp", tmp_path / "d.npz", samples=128))
    runs = {}
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        runs[name] = tmp_path / name
        invoke(
            runner,
            train_args(
                DIGITS, backend, runs[name], "--epochs", "2", "--seed", seed, "--data", data
            ),
        )
    a, b, c = (final_weights(runs[n], backend) for n in "abc")
    assert max_difference(a, b) == 0.0
    assert max_difference(a, c) > 1e-3
    assert read_json(runs["a"] / "history.json") == read_json(runs["b"] / "history.json")


class Interrupting(Reporter):
    """Raises KeyboardInterrupt as epoch 2 ends, like Ctrl-C at that moment."""

    def end_epoch(self, epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
        if epoch == 1:
            raise KeyboardInterrupt


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_interrupted_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    data = npz(spec_data("digits_mlp", tmp_path / "d.npz", samples=128))
    overrides = {"epochs": "3", "data": data}
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(training, "reporter", lambda mode, rank=0: Interrupting())
        with pytest.raises(TrainError) as caught:
            training.train(DIGITS, overrides, options(backend, run))
    assert "interrupted" in caught.value.message and "2 epochs" in caught.value.message
    assert caught.value.hint is not None and f"--resume {run}" in caught.value.hint
    assert caught.value.exit_status == 130  # the shell's status after Ctrl-C
    record = read_json(run / "run.json")
    assert record["status"] == "interrupted" and record["epochs_done"] == 2
    assert (run / "checkpoints" / f"epoch_0002{CHECKPOINT[backend]}").is_file()
    assert not (run / "checkpoints" / "epoch_0003.json").exists()
    assert not (run / WEIGHTS[backend]).exists()
    assert len(read_json(run / "history.json")["loss"]) == 2
    assert not (run / "curves.png").exists()  # drawn when the resumed run completes

    outcome = training.train(None, {}, options("torch", resume=run))  # the backend is the run's
    assert outcome.status == 0
    record = read_json(run / "run.json")
    assert record["status"] == "completed" and record["epochs_done"] == 3
    assert record["backend"] == backend
    assert len(read_json(run / "history.json")["loss"]) == 3
    assert (run / WEIGHTS[backend]).is_file() and (run / "curves.png").is_file()

    straight = tmp_path / "straight"
    assert training.train(DIGITS, overrides, options(backend, straight)).status == 0
    assert max_difference(final_weights(straight, backend), final_weights(run, backend)) < 1e-6


def test_resume_of_a_folder_that_is_no_run(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, ["train", "--resume", str(tmp_path), "--log", "quiet"], status=2)
    assert "not a netspec run folder" in result.stderr and "hint:" in result.stderr
    result = invoke(runner, ["train", "--log", "quiet"], status=2)
    assert "--resume" in result.stderr


# --------------------------------------------------------------------------- evaluate, predict


@pytest.fixture(scope="module", params=BACKENDS)
def finished(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A digits_mlp run of one epoch on 128 samples, and the folder its data lies in."""
    backend = request.param
    folder = tmp_path_factory.mktemp(f"finished-{backend}")
    data = spec_data("digits_mlp", folder / "d.npz", samples=128)
    outcome = training.train(
        DIGITS, {"epochs": "1", "data": npz(data)}, options(backend, folder / "run")
    )
    assert outcome.status == 0
    return backend, folder


def test_evaluate_prints_the_figures(runner: CliRunner, finished: tuple[str, Path]) -> None:
    _, folder = finished
    run = folder / "run"
    written = read_json(run / "test.json")
    (run / "test.json").unlink()
    result = invoke(runner, ["evaluate", str(run), "--device", "cpu", "--threads", "1"])
    test_samples = read_json(run / "run.json")["data"]["test"]
    assert result.stdout.startswith(f"{test_samples} samples: ")
    assert "loss " in result.stdout and "accuracy " in result.stdout
    again = read_json(run / "test.json")  # evaluate on the test split rewrites test.json
    assert again == pytest.approx(written, rel=1e-4)

    result = invoke(
        runner,
        [
            "evaluate",
            str(run),
            "--data",
            npz(folder / "d.npz"),
            "--format",
            "json",
            "--device",
            "cpu",
        ],
    )
    figures = json.loads(result.stdout)
    assert figures["samples"] == 128  # another --data: every sample, no splits
    assert math.isfinite(figures["loss"]) and 0.0 <= figures["accuracy"] <= 1.0


def test_predict_writes_an_array(
    runner: CliRunner, finished: tuple[str, Path], tmp_path: Path
) -> None:
    _, folder = finished
    data = spec_data("digits_mlp", tmp_path / "new.npz", samples=20, seed=7)
    out = tmp_path / "out.npy"
    result = invoke(
        runner,
        ["predict", str(folder / "run"), "--data", npz(data), "-o", str(out), "--device", "cpu"],
    )
    assert "20 predictions saved to" in result.stdout
    outputs = np.load(out)
    assert outputs.shape == (20, 10)
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-4)  # softmax probabilities


def test_predict_with_data_that_does_not_fit(
    runner: CliRunner, finished: tuple[str, Path], tmp_path: Path
) -> None:
    _, folder = finished
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 10)), y=np.zeros(4))
    result = invoke(runner, ["predict", str(folder / "run"), "--data", npz(bad)], status=1)
    assert "--data:1:1: error[E0401]" in result.stderr and "hint:" in result.stderr


def test_init_from_the_final_weights_of_a_run(
    runner: CliRunner, finished: tuple[str, Path], tmp_path: Path
) -> None:
    backend, folder = finished
    weights = folder / "run" / WEIGHTS[backend]
    data = npz(folder / "d.npz")
    run = tmp_path / "run"
    args = train_args(DIGITS, backend, run, "--epochs", "1", "--data", data)
    invoke(runner, [*args, "--init-from", str(weights)])
    # starting from trained weights: the first epoch's loss is below that of a fresh start
    first = read_json(folder / "run" / "history.json")["loss"][0]
    assert read_json(run / "history.json")["loss"][0] < first
    # weights of another spec do not load
    other = ROOT / "specs" / "mlp_64_32.net"
    other_data = npz(spec_data("mlp_64_32", tmp_path / "o.npz"))
    args = train_args(other, backend, tmp_path / "other", "--epochs", "1", "--data", other_data)
    result = invoke(runner, [*args, "--init-from", str(weights)], status=2)
    assert "does not hold this spec's weights" in result.stderr


def test_evaluate_of_a_folder_that_is_no_run(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, ["evaluate", str(tmp_path)], status=2)
    assert "not a netspec run folder" in result.stderr


# --------------------------------------------------------------------------- devices


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_absent_device_lists_those_present(
    runner: CliRunner, tmp_path: Path, backend: str
) -> None:
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    else:
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            pytest.skip("this machine has a GPU")
    data = npz(spec_data("digits_mlp", tmp_path / "d.npz"))
    args = train_args(DIGITS, backend, tmp_path / "run", "--epochs", "1", "--data", data)
    args[args.index("--device") + 1] = "cuda"
    result = invoke(runner, args, status=2)
    assert "device 'cuda' is not available" in result.stderr
    assert "available: cpu" in result.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_device_auto_picks_the_cpu_here(runner: CliRunner, tmp_path: Path, backend: str) -> None:
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        from netspec.train.torch_backend import select_device

        assert select_device("auto") == torch.device("cpu")
        assert select_device("cpu") == torch.device("cpu")
    data = npz(spec_data("digits_mlp", tmp_path / "d.npz"))
    args = train_args(DIGITS, backend, tmp_path / "run", "--epochs", "1", "--data", data)
    args[args.index("--device") + 1] = "auto"
    args[args.index("--log") + 1] = "jsonl"
    result = invoke(runner, args)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    start = next(e for e in events if e["event"] == "start")
    assert start["device"] in ("cpu", "/CPU:0")
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1]
    assert events[-1]["event"] == "result"
    assert read_json(tmp_path / "run" / "run.json")["device_requested"] == "auto"
