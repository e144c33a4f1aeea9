"""Checkpoints: the last `keep_checkpoints` and the best epoch's; early stopping's min_delta
and restore_best; which epoch's weights a run saves, alike on both backends.

The runs train a small MLP from the same weights (`--init-from`), unshuffled, on 160 random
samples: it overfits, so val_accuracy peaks at epoch 2 and ties it at 3 and 4.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from netspec.cli import app
from netspec.codegen.snippets.monitor import best_epoch

BACKENDS = ("torch", "keras")
SUFFIX = {"torch": ".safetensors", "keras": ".keras"}
WEIGHTS = {"torch": "weights.safetensors", "keras": "model.keras"}

SPEC = """model overfit {
  input [64]
  layers {
    Dense(32, activation=relu)
    Dense(10, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=3e-2)
  metrics [accuracy]
  train {
    data = npz("DATA")
    epochs = 10
    batch_size = 16
    shuffle = false
    standardize = true
    validation_split = 0.3
    early_stopping = 4
    monitor = val_accuracy
    min_delta = 0.01
    restore_best = true
    keep_checkpoints = 2
  }
}
"""


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def invoke(args: list[str], status: int = 0) -> Any:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == status, (result.output, result.stderr, result.exception)
    return result


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The spec, and the weights every run starts from (a PyTorch run's, after one epoch)."""
    folder = tmp_path_factory.mktemp("overfit")
    rng = np.random.default_rng(0)
    data = folder / "r.npz"
    np.savez(data, x=rng.normal(size=(160, 64)).astype(np.float32), y=rng.integers(0, 10, 160))
    spec = folder / "overfit.net"
    spec.write_text(SPEC.replace("DATA", str(data)), encoding="utf-8")
    invoke(train(spec, "torch", folder / "start", "--epochs", "1"))
    return spec, folder / "start" / "weights.safetensors"


def train(spec: Path, backend: str, out: Path, *extra: str) -> list[str]:
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
        "plain",
        "-o",
        str(out),
        *extra,
    ]


def weights_of(run: Path, backend: str, file: str) -> list[np.ndarray]:
    """The model's weights in a weights file or a checkpoint of the run, in a fixed order."""
    if backend == "torch":
        from safetensors.numpy import load_file

        tensors = load_file(str(run / file))
        model = {
            k.removeprefix("model."): v
            for k, v in tensors.items()
            if not k.startswith("optimizer.")
        }
        return [model[k] for k in sorted(model)]
    import keras

    model = keras.saving.load_model(run / file, compile=False)
    return [np.asarray(w) for w in model.get_weights()]


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("values", "min_delta", "mode"),
    [
        ([3.0, 2.0, 2.5, 1.9, 1.95, 2.2], 0.0, "min"),
        ([3.0, 2.0, 1.95, 1.91, 1.5, 1.6], 0.1, "min"),  # 1.95 and 1.91: not by more than 0.1
        ([0.1, 0.3, 0.3, 0.2, 0.35, 0.5], 0.0, "max"),  # a tie keeps the earlier
        ([0.1, 0.3, 0.32, 0.41, 0.42, 0.5], 0.05, "max"),
        ([1.0, math.nan, 0.9, math.nan, 0.95, 0.8], 0.0, "min"),  # NaN is never the best
    ],
)
def test_best_epoch_is_keras_early_stopping_rule(
    values: list[float], min_delta: float, mode: str
) -> None:
    """The generated PyTorch loop and the run's best checkpoint pick the epoch from which
    Keras' EarlyStopping counts its patience, after every epoch."""
    import keras

    callback = keras.callbacks.EarlyStopping(
        monitor="figure", mode=mode, min_delta=min_delta, patience=99
    )
    callback.set_model(SimpleNamespace(stop_training=False))
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"figure": value})
        assert best_epoch(values[: epoch + 1], min_delta, mode == "max") == callback.best_epoch, (
            epoch
        )
        assert callback.wait == epoch - callback.best_epoch


# --------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def straight(setup: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    spec, start = setup
    folder = tmp_path_factory.mktemp("straight")
    runs = {}
    for backend in BACKENDS:
        runs[backend] = folder / backend
        result = invoke(train(spec, backend, runs[backend], "--init-from", str(start)))
        saved = f"saved the weights of epoch 2, the best by val_accuracy 0.1316 (restore_best), to {runs[backend] / WEIGHTS[backend]}"
        assert saved in result.stdout
    return runs


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_keeps_the_last_checkpoints_and_the_best(
    straight: dict[str, Path], backend: str
) -> None:
    run = straight[backend]
    history = read_json(run / "history.json")
    assert len(history["loss"]) == 6  # early stopping: 4 epochs after epoch 2 without a better one
    np.testing.assert_allclose(
        history["val_accuracy"][:4], [4 / 38, 5 / 38, 5 / 38, 5 / 38], rtol=1e-6
    )
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == [
        "best.json",
        *(f"epoch_000{e}{s}" for e in (2, 5, 6) for s in (".json", SUFFIX[backend])),
    ]
    best = read_json(run / "checkpoints" / "best.json")
    assert best == {
        "epoch": 2,
        "monitor": "val_accuracy",
        "value": pytest.approx(5 / 38),
        "mode": "max",
        "min_delta": 0.01,
    }
    record = read_json(run / "run.json")
    assert record["weights"] == {"file": WEIGHTS[backend], "epoch": 2, "restore_best": True}
    assert record["best"] == best and record["epochs_done"] == 6
    # the final weights are epoch 2's, restored in memory by the generated fit
    final, kept = (
        weights_of(run, backend, WEIGHTS[backend]),
        weights_of(run, backend, "checkpoints/epoch_0002" + SUFFIX[backend]),
    )
    for a, b in zip(final, kept, strict=True):
        np.testing.assert_array_equal(a, b)


def test_both_backends_pick_the_same_epoch_and_test_its_weights(straight: dict[str, Path]) -> None:
    torch_run, keras_run = straight["torch"], straight["keras"]
    torch_record, keras_record = (
        read_json(torch_run / "run.json"),
        read_json(keras_run / "run.json"),
    )
    assert torch_record["weights"]["epoch"] == keras_record["weights"]["epoch"] == 2
    best_torch, best_keras = torch_record["best"], keras_record["best"]
    assert best_torch.pop("value") == pytest.approx(best_keras.pop("value"), rel=1e-6)
    assert best_torch == best_keras
    test_torch, test_keras = read_json(torch_run / "test.json"), read_json(keras_run / "test.json")
    assert test_torch == pytest.approx(test_keras, rel=1e-4)  # epoch 2's weights, tested


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_resumed_run_restores_a_best_epoch_from_before_the_resume(
    setup: tuple[Path, Path], straight: dict[str, Path], tmp_path: Path, backend: str
) -> None:
    spec, start = setup
    run = tmp_path / "run"
    invoke(train(spec, backend, run, "--init-from", str(start), "--epochs", "3"))
    result = invoke(
        [
            "train",
            "--resume",
            str(run),
            "--epochs",
            "6",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--log",
            "plain",
        ]
    )
    assert f"resuming at epoch 4 of 6 from {run / 'checkpoints' / 'epoch_0003'}" in result.stdout
    record = read_json(run / "run.json")
    assert record["weights"]["epoch"] == 2 and record["epochs_done"] == 6
    names = sorted(p.name for p in (run / "checkpoints").glob("epoch_*.json"))
    assert names == ["epoch_0002.json", "epoch_0005.json", "epoch_0006.json"]
    resumed, whole = (
        weights_of(run, backend, WEIGHTS[backend]),
        weights_of(straight[backend], backend, WEIGHTS[backend]),
    )
    for a, b in zip(resumed, whole, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


# --------------------------------------------------------------------------- the spec's settings


def checked(monitor: str, validation_split: str = "0.3") -> tuple[Any, list[Any]]:
    """The spec checked with another monitor and validation split: (model, errors)."""
    from netspec.frontend import check_source

    source = (
        SPEC.replace('data = npz("DATA")', "data = digits")
        .replace("monitor = val_accuracy", f"monitor = {monitor}")
        .replace("validation_split = 0.3", f"validation_split = {validation_split}")
    )
    model, diagnostics = check_source(source, "overfit.net")
    return model, [d for d in diagnostics if d.severity.value == "error"]


def test_a_monitor_that_is_no_figure_is_refused_where_it_stands() -> None:
    line = next(n for n, text in enumerate(SPEC.splitlines(), 1) if "monitor =" in text)
    model, errors = checked("val_acc")
    assert model is None and [e.code for e in errors] == ["E0113"]
    assert errors[0].span.line == line
    assert errors[0].message == "monitor 'val_acc' is not a figure this model reports"
    assert errors[0].hint.startswith("did you mean 'val_accuracy'? it reports loss, accuracy")
    model, errors = checked("val_loss", validation_split="0.0")
    assert model is None and "no validation data" in errors[0].message
    assert "monitor = loss" in errors[0].hint
    for figure in ("loss", "accuracy", "val_loss", "val_accuracy"):
        model, errors = checked(figure)
        assert model is not None and not errors, figure


@pytest.mark.parametrize(("monitor", "mode"), [("val_accuracy", "max"), ("val_loss", "min")])
def test_the_monitor_direction_reaches_both_targets(monitor: str, mode: str) -> None:
    from netspec.codegen import generate
    from netspec.frontend import check_source

    source = (
        SPEC.replace('data = npz("DATA")', "data = digits")
        .replace("monitor = val_accuracy", f"monitor = {monitor}")
        .replace("restore_best = true", "lr_schedule = reduce_on_plateau")
    )
    model, _ = check_source(source, "overfit.net")
    assert model is not None
    torch_code, keras_code = generate(model, "torch"), generate(model, "keras")
    higher = mode == "max"
    assert f'mode="{mode}"' in torch_code and f'scheduler.step(logs["{monitor}"])' in torch_code
    assert f"best_epoch(monitored, min_delta=0.01, higher={higher})" in torch_code
    assert "best_weights" not in torch_code and "RestoreBest" not in keras_code
    flat = re.sub(r"\(\s+", "(", re.sub(r",?\s+\)", ")", keras_code))  # calls unbroken
    assert f'EarlyStopping(monitor="{monitor}", patience=4, mode="{mode}", min_delta=0.01)' in flat
    assert f'ReduceLROnPlateau(monitor="{monitor}", mode="{mode}"' in flat
