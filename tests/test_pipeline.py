"""The two data pipelines: the same numbers either way, how a run chooses, what it says.

In memory, the whole set is tensors (arrays) on the device; streamed, a DataLoader (PyTorch)
or tf.data (Keras) reads batches from netspec's data split while the model trains. Both visit
the samples in one seeded order, so on the CPU in fp32 they must give the same weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from test_train import final_weights, invoke, max_difference, options, read_json
from typer.testing import CliRunner

import netspec.train as training
from netspec.train import plan as plans

BACKENDS = ("torch", "keras")

SPEC = """
model small {
  input [6, 6, 1]
  layers {
    Conv2D(4, 3, activation=relu)
    Flatten
    Dropout(0.3)
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=1e-2)
  metrics [accuracy]
  train {
    epochs = 2
    batch_size = 16
    validation_split = 0.25
    test_split = 0.2
    divide_by = 4
  }
}
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pipeline")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(100, 6, 6, 1)).astype(np.uint8)
    y = (x.reshape(100, -1).sum(axis=1) % 3).astype(np.int64)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    path = folder / "small.net"
    path.write_text(SPEC.replace("epochs = 2", f'data = npy_dir("{folder}")\n    epochs = 2'))
    return path


def run(spec: Path, backend: str, out: Path, **overrides: str) -> training.Outcome:
    outcome = training.train(spec, overrides, options(backend, out))
    assert outcome.status == 0, [d.message for d in outcome.diagnostics]
    return outcome


@pytest.mark.parametrize("backend", BACKENDS)
def test_streaming_gives_the_weights_of_the_in_memory_pipeline(
    spec: Path, tmp_path: Path, backend: str
) -> None:
    """CPU, fp32, read in the training process: equal within 1e-6 after 2 epochs with dropout,
    a validation split and a test split (the issue's bar)."""
    memory = run(spec, backend, tmp_path / "memory", pipeline="memory")
    streamed = run(spec, backend, tmp_path / "stream", pipeline="stream", workers="0")
    assert read_json(tmp_path / "memory" / "run.json")["pipeline"]["pipeline"] == "memory"
    assert read_json(tmp_path / "stream" / "run.json")["pipeline"]["pipeline"] == "stream"
    difference = max_difference(
        final_weights(tmp_path / "memory", backend), final_weights(tmp_path / "stream", backend)
    )
    assert difference <= 1e-6
    a, b = memory.result or {}, streamed.result or {}
    for name, values in a["history"].items():
        np.testing.assert_allclose(values, b["history"][name], atol=1e-6, err_msg=name)
    assert a["test"] == pytest.approx(b["test"], abs=1e-6)


def test_torch_worker_processes_read_the_same_batches(spec: Path, tmp_path: Path) -> None:
    """Two DataLoader workers (forked processes) change nothing in the numbers."""
    run(spec, "torch", tmp_path / "memory", pipeline="memory")
    run(spec, "torch", tmp_path / "workers", pipeline="stream", workers="2")
    assert read_json(tmp_path / "workers" / "run.json")["pipeline"]["workers"] == 2
    difference = max_difference(
        final_weights(tmp_path / "memory", "torch"), final_weights(tmp_path / "workers", "torch")
    )
    assert difference <= 1e-6


TWO_TOWER = ROOT / "specs" / "two_tower.net"


def test_several_inputs_and_outputs_stream_alike(tmp_path: Path) -> None:
    """PyTorch: tuples of streamed batches train to the in-memory weights."""
    data = {"data": "customers(samples=96)", "epochs": "1"}
    run(TWO_TOWER, "torch", tmp_path / "memory", pipeline="memory", **data)
    run(TWO_TOWER, "torch", tmp_path / "stream", pipeline="stream", **data)
    difference = max_difference(
        final_weights(tmp_path / "memory", "torch"), final_weights(tmp_path / "stream", "torch")
    )
    assert difference <= 1e-6
    assert read_json(tmp_path / "stream" / "test.json") == pytest.approx(
        read_json(tmp_path / "memory" / "test.json"), abs=1e-6
    )


def test_keras_streams_the_batches_of_dicts_it_holds_in_memory(tmp_path: Path) -> None:
    """Keras: the generated stream_batches gives, batch for batch, what epoch_batches gathers
    from the arrays in memory, dicts by input and output name (two_tower, epoch 1)."""
    import importlib.util

    from netspec import data
    from netspec.codegen import generate
    from netspec.frontend import check_source
    from netspec.train.keras_backend import _named

    model, _ = check_source(TWO_TOWER.read_text(encoding="utf-8"), "two_tower.net",
                            {"data": "customers(samples=70)"})  # fmt: skip
    assert model is not None
    path = tmp_path / "two_tower_keras.py"
    path.write_text(generate(model, "keras"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("two_tower_keras", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    prepared = data.prepare(model, model.train)
    order = module.EpochOrder()
    order.epoch.assign(1)
    x, y = _named(model, prepared.x_train, prepared.y_train)
    memory = list(module.epoch_batches(x, y, 16, 3, order.epoch))
    streamed = list(module.stream_batches(prepared.train, 16, 3, order.epoch, workers=2))
    assert len(memory) == len(streamed) == -(-len(prepared.train) // 16)
    for (xm, ym), (xs, ys) in zip(memory, streamed, strict=True):
        for name in (*xm, *ym):
            a, b = (xm | ym)[name], (xs | ys)[name]
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)


def test_auto_keeps_what_fits_in_memory_and_streams_the_rest(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(spec, "torch", tmp_path / "fits")
    chosen = read_json(tmp_path / "fits" / "run.json")["pipeline"]
    assert chosen["pipeline"] == "memory" and chosen["data_bytes"] == 100 * (36 * 4 + 8)
    assert chosen["data_bytes"] <= chosen["budget_bytes"]
    monkeypatch.setattr(plans, "host_available_bytes", lambda: 4 * 1000)  # a 1 KB budget
    run(spec, "torch", tmp_path / "big")
    chosen = read_json(tmp_path / "big" / "run.json")["pipeline"]
    assert chosen["pipeline"] == "stream" and chosen["budget_bytes"] == 1000
    assert chosen["reason"] == "15.2 KB > 1.0 KB budget"


def test_the_plan_lines_come_first_and_run_json_records_it(spec: Path, tmp_path: Path) -> None:
    """The model, the data, the settings and the run folder come first (before the framework
    loads), then the device (and how --device auto chose it), then the pipeline."""
    out = tmp_path / "run"
    result = invoke(
        CliRunner(),
        ["train", str(spec), "--device", "auto", "--threads", "1", "--log", "plain", "--out",
         str(out), "--pipeline", "stream", "--workers", "0"],
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "model small: 235 parameters, [6, 6, 1] → [3]"
    assert lines[1].startswith("data npy_dir(") and ": 60 training, 20 validation, 20 test samples" in lines[1]
    assert lines[2] == "training on torch (--device auto): 2 epochs, batch 16, fp32"
    assert lines[3] == f"run folder: {out}"
    assert lines[4].startswith("device cpu (") and "--device auto" in lines[4]
    assert "no GPU found" in lines[4] or "CPU-only build" in lines[4]
    assert lines[5].startswith("pipeline: 60 samples streamed, read in the training")
    assert lines[5].endswith(", 1 CPU thread")
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["device"] == "cpu" and record["device_requested"] == "auto"
    assert record["versions"]["torch"].startswith("2.") and record["versions"]["python"]
    assert record["precision"] == "fp32"
    assert record["pipeline"] == {
        "pipeline": "stream",
        "workers": 0,
        "data_bytes": 15200,
        "budget_bytes": record["pipeline"]["budget_bytes"],
        "reason": "pipeline = stream",
    }


def test_streamed_runs_evaluate_and_predict_streamed(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(spec, "torch", out, pipeline="stream")
    runner = CliRunner()
    result = invoke(runner, ["evaluate", str(out), "--device", "cpu", "--threads", "1"])
    figures = read_json(out / "test.json")
    assert f"20 samples: loss {figures['loss']:.4f}" in result.stdout
    invoke(runner, ["predict", str(out), "--device", "cpu", "--threads", "1", "--workers", "0"])
    assert np.load(out / "predictions.npy").shape == (100, 3)


def test_a_streamed_run_resumes_exactly(spec: Path, tmp_path: Path) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run(spec, "torch", straight, pipeline="stream", epochs="3")
    run(spec, "torch", resumed, pipeline="stream", epochs="2")
    outcome = training.train(None, {"epochs": "3"}, options("torch", resume=resumed))
    assert outcome.status == 0
    assert max_difference(final_weights(straight, "torch"), final_weights(resumed, "torch")) < 1e-6
