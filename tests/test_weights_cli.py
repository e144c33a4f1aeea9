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


@pytest.mark.parametrize("to", ["neutral", "torch"])
def test_a_failed_convert_write_leaves_the_previous_file(
    torch_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, to: str
) -> None:
    """The disk fills half way through writing the output: the file converted before stays
    whole, no temporary file is left, and the error names the path (exit 1, no traceback)."""
    import errno

    import safetensors.numpy
    import safetensors.torch

    spec, out = torch_run
    target = tmp_path / "n.safetensors"
    args = ("weights", "convert", spec, out / "weights.safetensors", "-o", target, "--to", to)
    assert run(*args).exit_code == 0
    before = target.read_bytes()
    module = safetensors.numpy if to == "neutral" else safetensors.torch
    original = module.save_file

    def full_disk(tensors: dict, filename: str, **kwargs: object) -> None:
        original(tensors, filename, **kwargs)
        Path(filename).write_bytes(Path(filename).read_bytes()[:100])  # as far as it got
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module, "save_file", full_disk)
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert f"cannot write {target}: no space left on the device" in " ".join(result.output.split())
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.safetensors"]


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


def _first_layer_only(spec: Path, out: Path, tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A neutral file with the trained first layer only: a 'pretrained base' without a head."""
    from netspec import weights
    from netspec.frontend import check_file

    neutral = tmp_path / "all.safetensors"
    assert run("weights", "convert", spec, out / "weights.safetensors", "-o", neutral).exit_code == 0
    model, _, _ = check_file(spec)
    base = {k: v for k, v in weights.load_weights(neutral, model).items() if k.startswith("dense.")}
    path = tmp_path / "base.safetensors"
    weights.save_weights(path, base, model, partial=True)
    return path, base


def test_init_from_a_partial_file_needs_init_partial(torch_run, tmp_path: Path) -> None:
    spec, out = torch_run
    base, _ = _first_layer_only(spec, out, tmp_path)
    result = run("train", spec, "--init-from", base, "--out", tmp_path / "r", "--log", "quiet")
    assert result.exit_code == 2  # as for any weights file that does not fit (no traceback)
    assert "Traceback" not in result.output
    assert "tensor 'dense_1.kernel' (8, 3) is missing" in result.output
    assert not (tmp_path / "r" / "weights.safetensors").exists()
    usage = run("train", spec, "--init-partial", "--out", tmp_path / "r2", "--log", "quiet")
    assert usage.exit_code == 2 and "--init-partial goes with --init-from" in usage.output


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_init_partial_loads_the_base_and_keeps_the_head(
    torch_run, tmp_path: Path, backend: str
) -> None:
    """The tensors in the file are loaded exactly; the others keep their initial values."""
    from netspec import weights
    from netspec.codegen import generate
    from netspec.frontend import check_file
    from netspec.train.context import load_module
    from netspec.train.convert import load_into, partial_message

    spec, out = torch_run
    base_file, base = _first_layer_only(spec, out, tmp_path)
    model, _, _ = check_file(spec)
    source = tmp_path / f"tiny_{backend}.py"
    source.write_text(generate(model, backend))
    module = load_module(source, f"tiny_partial_{backend}")
    built = module.build_model()
    before = weights.export_weights(model, built)
    kept = load_into(model, built, base_file, partial=True)
    after = weights.export_weights(model, built)
    assert kept == ["dense_1.kernel", "dense_1.bias"]
    for name, array in base.items():
        np.testing.assert_array_equal(after[name], array)
        assert not np.array_equal(before[name], array)
    for name in kept:
        np.testing.assert_array_equal(after[name], before[name])
    assert partial_message(model, kept) == (
        "--init-partial: loaded 2 tensors; layers left as initialised: dense_1"
    )
    # and the command: a run starts from the file, says what it left, and trains
    result = run(
        "train", spec, "--backend", backend, "--init-from", base_file, "--init-partial",
        "--out", tmp_path / "run", "--threads", "1", "--log", "plain", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "layers left as initialised: dense_1" in result.output


def test_a_partial_file_of_another_model_is_refused(torch_run, tmp_path: Path) -> None:
    from netspec import weights

    spec, _ = torch_run
    stray = tmp_path / "stray.safetensors"
    from safetensors.numpy import save_file

    save_file({"conv.kernel": np.zeros((3, 3), np.float32)}, str(stray),
              metadata={"format": weights.FORMAT})  # fmt: skip
    result = run("train", spec, "--init-from", stray, "--init-partial", "--log", "quiet",
                 "--out", tmp_path / "r")  # fmt: skip
    assert result.exit_code == 2
    assert "no tensor has the name of a weight of model 'tiny'" in result.output
