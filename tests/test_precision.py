"""Mixed precision (`precision = bf16 | fp16`) and the other compute settings, on the CPU.

bf16 runs on CPUs in both frameworks, so what a GPU run does is tested here: the forward
passes of the two targets agree within the bf16 tolerance docs/semantics.md states, the
layers that make the outputs compute in float32, netspec's own Keras optimizer classes work
under both dtype policies (fp16 wraps them in LossScaleOptimizer), training in mixed
precision lands close to fp32, and an fp16 run's loss scale survives a resume.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import checked_model, random_inputs
from test_parity_layers import random_weights
from test_train import final_weights, max_difference, options, read_json

import netspec.train as training
from netspec import ir, weights
from netspec.codegen import generate
from netspec.frontend import check_source

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

BF16_TOLERANCE = 0.03
"""|Keras − PyTorch| of bf16 outputs, absolute up to magnitude 1 and relative beyond
(docs/semantics.md, "Mixed precision"); the largest seen on the seed specs is 0.011."""


def with_precision(model: ir.Model, precision: str) -> ir.Model:
    return model.model_copy(
        update={"train": model.train.model_copy(update={"precision": precision})}
    )


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("precision")

    def load_module(model: ir.Model, target: str, name: str) -> ModuleType:
        path = folder / f"{name}_{target}.py"
        path.write_text(generate(model, target), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"precision_{name}_{target}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load_module


@pytest.mark.parametrize("stem", ["mnist_cnn", "lstm_classifier", "two_tower", "text_transformer"])
def test_bf16_forward_passes_agree_across_targets(stem: str, load) -> None:
    model = with_precision(checked_model(stem), "bf16")
    keras_model = load(model, "keras", stem).build_model()
    torch_model = load(model, "torch", stem).build_model().eval()
    given = random_weights(model, 3)
    weights.import_weights(model, keras_model, given)
    weights.import_weights(model, torch_model, given)
    xs = random_inputs(model, 8, 3)
    expected = keras_model(xs if len(xs) > 1 else xs[0], training=False)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        actual = torch_model(*[torch.from_numpy(x) for x in xs])
    actual = actual if isinstance(actual, tuple) else (actual,)
    for k, t in zip(expected, actual, strict=True):
        assert t.dtype == torch.float32 and keras.backend.standardize_dtype(k.dtype) == "float32"
        k_array = np.asarray(k)
        np.testing.assert_allclose(t.numpy(), k_array, atol=BF16_TOLERANCE, rtol=BF16_TOLERANCE)
        assert not np.array_equal(t.numpy(), k_array)  # it did compute in bf16 (a control)


def test_hidden_layers_compute_in_bf16_and_output_layers_in_float32(load) -> None:
    model = with_precision(checked_model("mnist_cnn"), "bf16")
    torch_model = load(model, "torch", "dtypes").build_model().eval()
    seen = {}

    def record(name: str):
        def hook(module, args, out) -> None:
            seen[name] = out.dtype

        return hook

    for name in ("conv2d", "dense", "dense_1"):
        getattr(torch_model, name).register_forward_hook(record(name))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        torch_model(torch.zeros(2, 28, 28, 1))
    assert seen == {"conv2d": torch.bfloat16, "dense": torch.bfloat16, "dense_1": torch.float32}
    keras_model = load(model, "keras", "dtypes").build_model()
    policies = {layer.name: layer.dtype_policy.name for layer in keras_model.layers[1:]}
    assert policies["conv2d"] == "mixed_bfloat16" and policies["dense_1"] == "float32"
    assert all(layer.dtype == "float32" for layer in keras_model.layers[1:])  # the weights


OPTIMIZERS = {  # one spec per optimizer class netspec writes into Keras modules
    "NetspecAdam": "AdamW(lr=1e-2, weight_decay=0.1)",
    "NetspecSGD": "SGD(lr=0.1, momentum=0.9, nesterov=true)",
    "NetspecRMSprop": "RMSprop(lr=1e-2, momentum=0.5, centered=true)",
    "NetspecAdagrad": "Adagrad(lr=0.1)",
}

OPTIMIZER_SPEC = """
model opt {{
  input [8]
  layers {{
    Dense(16, activation=relu)
    Dense(3, activation=softmax)
  }}
  loss sparse_categorical_crossentropy
  optimizer {optimizer}
  train {{ precision = {precision}, clip_norm = 1.0, batch_size = 16, epochs = 3, shuffle = false }}
}}
"""


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_netspecs_keras_optimizers_work_under_both_dtype_policies(name: str, load) -> None:
    """Each optimizer class netspec writes into Keras modules trains under mixed_bfloat16 and
    (wrapped in LossScaleOptimizer) mixed_float16, close to its fp32 run: float32 weights and
    slots, the same update rule within the precision's error."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    runs = {}
    for precision in ("fp32", "bf16", "fp16"):
        text = OPTIMIZER_SPEC.format(optimizer=OPTIMIZERS[name], precision=precision)
        model, diagnostics = check_source(text, "opt.net")
        assert model is not None, [d.message for d in diagnostics]
        module = load(model, "keras", f"opt_{name}_{precision}")
        keras.utils.set_random_seed(0)
        compiled = module.compile_model(module.build_model())
        history = module.fit(compiled, x, y)
        runs[precision] = ([np.asarray(w) for w in compiled.get_weights()], history["loss"])
        optimizer = compiled.optimizer
        if precision == "fp16":
            assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
            optimizer = optimizer.inner_optimizer
        assert type(optimizer).__name__ == name
        slots = {v.dtype for v in compiled.optimizer.variables}
        assert slots <= {"float32", "int64"}, (precision, slots)  # no half-precision slots
    for precision in ("bf16", "fp16"):
        weights_mixed, losses = runs[precision]
        assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], precision
        assert max_difference(runs["fp32"][0], weights_mixed) < 0.05, precision


SMALL = """
model small {
  input [6]
  layers {
    Dense(32, activation=relu)
    Dropout(0.1)
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=1e-2)
  metrics [accuracy]
  train { data = blobs(samples=400, features=6, spread=4.0), epochs = 3, batch_size = 32, validation_split = 0.2 }
}
"""


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "small.net"
    path.write_text(SMALL, encoding="utf-8")
    return path


@pytest.mark.parametrize("backend", ["torch", pytest.param("keras", marks=pytest.mark.slow)])
def test_mixed_precision_trains_like_fp32(small_spec: Path, tmp_path: Path, backend: str) -> None:
    results = {}
    for precision in ("fp32", "bf16", "fp16"):
        outcome = training.train(
            small_spec, {"precision": precision}, options(backend, tmp_path / precision)
        )
        assert outcome.status == 0, [d.message for d in outcome.diagnostics]
        assert read_json(tmp_path / precision / "run.json")["precision"] == precision
        results[precision] = outcome.result["test"]  # type: ignore[index]
    for precision in ("bf16", "fp16"):
        assert abs(results[precision]["accuracy"] - results["fp32"]["accuracy"]) <= 0.05
        assert results[precision]["loss"] == pytest.approx(results["fp32"]["loss"], abs=0.05)


def test_an_fp16_run_keeps_its_loss_scale_across_a_resume(small_spec: Path, tmp_path: Path) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    fp16 = {"precision": "fp16"}
    assert training.train(small_spec, fp16, options("torch", straight)).status == 0
    assert training.train(small_spec, {**fp16, "epochs": "2"}, options("torch", resumed)).status == 0
    meta = read_json(resumed / "checkpoints" / "epoch_0002.json")
    assert meta["scaler"]["scale"] > 0 and "_growth_tracker" in meta["scaler"]
    again = training.train(None, {"epochs": "3"}, options("torch", resume=resumed))
    assert again.status == 0
    assert max_difference(final_weights(straight, "torch"), final_weights(resumed, "torch")) < 1e-6


def test_compile_and_tf32_reach_the_generated_code() -> None:
    model = checked_model("mnist_cnn")
    on = model.model_copy(
        update={"train": model.train.model_copy(update={"compile": True, "tf32": False})}
    )
    torch_source, keras_source = generate(on, "torch"), generate(on, "keras")
    assert "    model.compile()\n" in torch_source
    assert 'fp32_precision = "ieee"' in torch_source
    assert "jit_compile=True," in keras_source
    assert "enable_tensor_float_32_execution(False)" in keras_source
    plain = generate(model, "torch")
    assert "model.compile()" not in plain and 'fp32_precision = "tf32"' in plain
    assert "torch.autocast" not in plain  # fp32 modules have no mixed-precision code
