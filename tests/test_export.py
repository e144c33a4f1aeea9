"""`netspec export --format onnx`: a spec (initial weights) or a run folder (trained weights)
as an ONNX file whose inputs and outputs the spec names, with a dynamic batch axis, that
onnx.checker accepts and onnxruntime runs to PyTorch's outputs.

The specs are tiny (a few hundred weights); the run trains one epoch on 32 samples; each
export takes a few seconds (torch.export traces the module).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SPEC_IDS, SPECS
from test_train import invoke, options
from typer.testing import CliRunner

import netspec.train as training
from netspec.codegen import generate
from netspec.frontend import check_source
from netspec.train.context import TrainError, load_module

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

TINY = """\
model tiny_mlp {{
  input pixels [8]
  layers {{
    Dense(6, activation=relu)
    probs = Dense(3, activation=softmax)
  }}
  loss      sparse_categorical_crossentropy
  optimizer Adam(lr=1e-2)
  train {{
    data       = {data}
    epochs     = 1
    batch_size = 16
    seed       = 3
  }}
}}
"""

# The last layer is named `conv2d`, as torch.onnx names a convolution's result inside the graph.
CONV = """\
model tiny_conv {
  input [4, 4, 1]
  layers {
    Conv2D(2, 3, padding=same)
  }
  loss      mean_squared_error
  optimizer SGD(lr=0.1)
}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype(np.float32)
    np.savez(path / "train.npz", x=x, y=rng.integers(0, 3, size=32))
    (path / "tiny.net").write_text(TINY.format(data=f'npz("{path / "train.npz"}")'))
    return path


@pytest.fixture(scope="module")
def run(folder: Path) -> Path:
    outcome = training.train(folder / "tiny.net", {}, options("torch", folder / "run"))
    assert outcome.status == 0, [d.message for d in outcome.diagnostics]
    return folder / "run"


def export(target: Path, output: Path | None = None) -> dict[str, Any]:
    return export_as(target, "onnx", output)


def export_as(target: Path, format: str, output: Path | None = None) -> dict[str, Any]:
    to = ["-o", str(output)] if output is not None else []
    result = invoke(CliRunner(), ["export", str(target), "-f", format, *to, "--json"])
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def tiny_onnx(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The tiny spec exported with its initial weights, and what the command said."""
    output = folder / "tiny.onnx"
    return output, export(folder / "tiny.net", output)


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def torch_network(spec: Path, weights: Path | None = None) -> Any:
    """The spec's generated PyTorch network, with `weights` or the spec seed's initial ones."""
    import torch

    model = check_source(spec.read_text(), str(spec), {})[0]
    module = load_module(spec.with_suffix(".py"), model.name, generate(model, "torch"))
    torch.manual_seed(model.train.seed)
    net = module.build_model()
    if weights is not None:
        from netspec.train.torch_backend import load_weights

        load_weights(net, weights)
    return net.eval()


def test_a_spec_exports_with_the_specs_names_and_a_dynamic_batch(
    folder: Path, tiny_onnx: tuple[Path, dict[str, Any]]
) -> None:
    import torch

    output, result = tiny_onnx
    assert result["inputs"] == {"pixels": ["batch", 8]}
    assert result["outputs"] == {"probs": ["batch", 3]}
    assert result["opset"] == 18 and result["max_abs_difference"] <= 1e-4
    graph = onnx.load(str(output))
    assert [i.name for i in graph.graph.input] == ["pixels"]
    assert [o.name for o in graph.graph.output] == ["probs"]
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic, not fixed
    assert graph.graph.output[0].type.tensor_type.shape.dim[0].dim_param
    assert {o.domain: o.version for o in graph.opset_import}[""] == 18
    net = torch_network(folder / "tiny.net")
    for batch in (3, 11):
        x = np.random.default_rng(batch).normal(size=(batch, 8)).astype(np.float32)
        (probs,) = run_onnx(output, {"pixels": x})
        with torch.no_grad():
            expected = net(torch.from_numpy(x)).numpy()
        assert probs.shape == (batch, 3)
        np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_a_run_exports_its_trained_weights_into_its_folder(
    folder: Path, run: Path, tiny_onnx: tuple[Path, dict[str, Any]]
) -> None:
    import torch

    trained, initial = run / "tiny_mlp.onnx", tiny_onnx[0]
    result = export(run)  # RUN/<model>.onnx by default
    assert result["output"] == str(trained)
    assert str(run / "weights.safetensors") in result["weights"]
    x = np.random.default_rng(5).normal(size=(4, 8)).astype(np.float32)
    with torch.no_grad():
        expected = torch_network(folder / "tiny.net", run / "weights.safetensors")(
            torch.from_numpy(x)
        ).numpy()
    np.testing.assert_allclose(run_onnx(trained, {"pixels": x})[0], expected, atol=1e-5)
    assert not np.allclose(run_onnx(initial, {"pixels": x})[0], expected, atol=1e-3)


def test_an_output_named_as_an_inner_value_keeps_its_name(tmp_path: Path) -> None:
    (tmp_path / "conv.net").write_text(CONV)
    result = invoke(CliRunner(), ["export", str(tmp_path / "conv.net")])  # SPEC.onnx, as text
    assert "max |d|" in result.stdout and "opset 18" in result.stdout
    assert "conv2d ['batch', 4, 4, 2]" in result.stdout
    graph = onnx.load(str(tmp_path / "conv.onnx"))
    assert [o.name for o in graph.graph.output] == ["conv2d"]


def test_a_file_that_differs_from_pytorch_is_an_error(
    folder: Path, tiny_onnx: tuple[Path, dict[str, Any]]
) -> None:
    import torch

    from netspec.train import export as exporting

    output = tiny_onnx[0]
    model = check_source((folder / "tiny.net").read_text(), "tiny.net", {})[0]
    net = torch_network(folder / "tiny.net")
    assert exporting.check_onnx(output, model, net) <= 1e-4
    with torch.no_grad():
        net.probs.bias[0] += 0.5  # PyTorch's network is no longer the one exported
    with pytest.raises(TrainError, match="differs from PyTorch's"):
        exporting.check_onnx(output, model, net)


def test_a_spec_that_does_not_check_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.net").write_text(CONV.replace("Conv2D(2, 3", "Conv2D(2, 3, nope=1"))
    result = invoke(CliRunner(), ["export", str(tmp_path / "bad.net")], status=1)
    assert "nope" in result.stderr
    assert not (tmp_path / "bad.onnx").exists()


@pytest.mark.slow
def test_a_keras_run_exports_through_the_pytorch_module(folder: Path) -> None:
    """A Keras run's model.keras goes into the PyTorch module of its spec; the ONNX file's
    outputs are Keras' own (the conversion is exact to float32 rounding)."""
    outcome = training.train(folder / "tiny.net", {}, options("keras", folder / "keras-run"))
    assert outcome.status == 0, [d.message for d in outcome.diagnostics]
    import keras

    result = export(folder / "keras-run", folder / "keras.onnx")
    assert "model.keras" in result["weights"]
    x = np.random.default_rng(9).normal(size=(6, 8)).astype(np.float32)
    expected = keras.models.load_model(folder / "keras-run" / "model.keras").predict(x, verbose=0)
    np.testing.assert_allclose(run_onnx(folder / "keras.onnx", {"pixels": x})[0], expected, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("format", ["onnx", "torch-export", "savedmodel"])
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_every_seed_spec_exports_and_passes_the_check(spec: Path, format: str, tmp_path: Path) -> None:
    from netspec.train.export import export as exporting

    outcome = exporting(spec, {}, format, tmp_path / "model")
    assert outcome.status == 0
    assert outcome.result is not None and outcome.result["max_abs_difference"] <= 1e-4
    assert (tmp_path / "model").exists()


def test_torch_export_writes_a_program_that_loads_and_takes_any_batch(folder: Path, run: Path) -> None:
    import torch

    output = folder / "trained.pt2"
    assert export_as(run, "torch-export", output)["max_abs_difference"] <= 1e-4
    program = torch.export.load(str(output))
    assert [spec.arg.name for spec in program.graph_signature.input_specs if spec.kind.name == "USER_INPUT"] == ["pixels"]
    net = torch_network(folder / "tiny.net", run / "weights.safetensors")
    for batch in (3, 11):
        x = torch.from_numpy(np.random.default_rng(batch).normal(size=(batch, 8)).astype(np.float32))
        with torch.no_grad():
            np.testing.assert_allclose(program.module()(x).numpy(), net(x).numpy(), atol=1e-6)


@pytest.mark.slow
def test_savedmodel_serves_a_torch_runs_weights_by_the_specs_names(folder: Path, run: Path) -> None:
    """A PyTorch run to a SavedModel: its weights go into the Keras model of the spec; the
    `serve` signature takes `pixels` and gives `probs`, for any batch, as PyTorch computes."""
    import tensorflow as tf
    import torch

    output = folder / "tiny_savedmodel"
    result = export_as(run, "savedmodel", output)
    assert result["inputs"] == {"pixels": ["batch", 8]} and result["max_abs_difference"] <= 1e-4
    serve = tf.saved_model.load(str(output)).signatures["serve"]
    net = torch_network(folder / "tiny.net", run / "weights.safetensors")
    for batch in (2, 9):
        x = np.random.default_rng(batch).normal(size=(batch, 8)).astype(np.float32)
        found = serve(pixels=tf.constant(x))
        assert list(found) == ["probs"]
        with torch.no_grad():
            np.testing.assert_allclose(found["probs"].numpy(), net(torch.from_numpy(x)).numpy(), atol=1e-5)
    again = invoke(CliRunner(), ["export", str(run), "-f", "savedmodel", "-o", str(output)], status=2)
    assert "exists" in again.stderr  # a folder is never written into


def test_a_layer_the_exporter_refuses_is_named_by_its_spec_line(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exporter's error inside a layer's code (here every Linear refuses while traced)
    is told with the spec line of the layer whose generated code raised it."""
    import torch

    def refuse(self: Any, x: Any) -> Any:
        raise RuntimeError("no lowering for this op")

    monkeypatch.setattr(torch.nn.Linear, "forward", refuse)
    output = folder / "refused.onnx"
    result = invoke(CliRunner(), ["export", str(folder / "tiny.net"), "-o", str(output)], status=2)
    assert "no lowering for this op" in result.stderr
    assert f"generated from {folder / 'tiny.net'}:4" in result.stderr.replace("\n", "")
    assert not output.exists()


def test_a_missing_exporter_package_is_told_with_its_extra(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else found(name, *a)
    )
    result = invoke(CliRunner(), ["export", str(folder / "tiny.net")], status=2)
    assert "needs onnxruntime" in result.stderr and '.[export]' in result.stderr


def test_a_folder_as_the_output_file_is_refused(folder: Path, tmp_path: Path) -> None:
    result = invoke(CliRunner(), ["export", str(folder / "tiny.net"), "-o", str(tmp_path)], status=2)
    assert "is a folder; onnx writes one file" in result.stderr
