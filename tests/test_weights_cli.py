"""`netspec weights convert` and `train --init-from`: weights move between frameworks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from netspec.cli import app

pytest.importorskip("torch")
pytest.importorskip("keras")
from safetensors.numpy import load_file

SPEC = """
model tiny {
  input [6]
  layers {
    Dense(8, activation=relu)
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam
  metrics [accuracy]
  train { data = blobs(features=6, classes=3, samples=96), epochs = 1, batch_size = 16 }
}
"""

OTHER = SPEC.replace("model tiny", "model other").replace("Dense(8,", "Dense(5,")


def run(*args: str) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("weights")
    spec = folder / "tiny.net"
    spec.write_text(SPEC)
    out = folder / "run"
    result = run(
        "train",
        spec,
        "--epochs",
        "8",
        "--out",
        out,
        "--threads",
        "1",
        "--log",
        "quiet",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    return spec, out


def test_torch_to_keras_and_back_is_bit_identical(torch_run, tmp_path: Path) -> None:
    spec, out = torch_run
    neutral, keras_file, back = (
        tmp_path / "n.safetensors",
        tmp_path / "m.keras",
        tmp_path / "t.safetensors",
    )
    for source, target, to in (
        (out / "weights.safetensors", neutral, "neutral"),
        (neutral, keras_file, "keras"),
        (keras_file, back, "torch"),
    ):
        result = run("weights", "convert", spec, source, "-o", target, "--to", to)
        assert result.exit_code == 0, result.output
    original, returned = load_file(str(out / "weights.safetensors")), load_file(str(back))
    assert original.keys() == returned.keys()
    for name in original:
        assert np.array_equal(original[name], returned[name]), name


def test_weights_of_another_spec_are_refused(torch_run, tmp_path: Path) -> None:
    _, out = torch_run
    other = tmp_path / "other.net"
    other.write_text(OTHER)
    result = run(
        "weights", "convert", other, out / "weights.safetensors", "-o", tmp_path / "x.safetensors"
    )
    assert result.exit_code == 2
    assert "dense.weight" in result.output or "dense.kernel" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_train_init_from_neutral_weights(torch_run, tmp_path: Path, backend: str) -> None:
    spec, out = torch_run
    neutral = tmp_path / "n.safetensors"
    assert (
        run("weights", "convert", spec, out / "weights.safetensors", "-o", neutral).exit_code == 0
    )
    # A run started from the trained weights begins below where the original run began.
    target = tmp_path / f"init-{backend}"
    result = run(
        "train",
        spec,
        "--backend",
        backend,
        "--init-from",
        neutral,
        "--out",
        target,
        "--threads",
        "1",
        "--log",
        "quiet",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    history = json.loads((out / "history.json").read_text())["loss"]
    started = json.loads((target / "history.json").read_text())["loss"][0]
    assert started < history[0]  # it starts where the trained run ended, not from scratch
