"""A trained model in its own framework, without netspec: README, "Using a trained model
without netspec".

A Keras run's model.keras loads with `keras.models.load_model` alone, and a PyTorch run's
model.py and weights.safetensors load with torch and safetensors alone; both are checked in
a clean interpreter (`python -I`) that cannot import netspec, and predict what netspec's own
modules predict. The generated PyTorch `fit`, `evaluate` and `predict` take NumPy arrays and
lists, cast as the network and the loss need them; each module's usage example runs.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, checked_model, generated_source, vocabulary
from test_specs_frameworks import loss_targets, random_batch

import netspec.train as training
from netspec.train import TrainOptions

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

# The layer kinds of the seed specs but the recurrent ones (standard Keras layers, slow to
# trace), the layer classes the generated Keras modules define (SelfAttention,
# PositionalEmbedding, CenteredRandomCrop), token ids and images, two outputs.
MIXED = """
model mixed {
  input tokens [6]
  input image [10, 10, 1]

  layers {
    embedded = Embedding(50, 8)(tokens)
    PositionalEmbedding(8, 8)
    MultiHeadAttention(2, 4)
    Dropout(0.1)
    LayerNormalization
    text = GlobalAveragePooling1D
    RandomFlip(horizontal)(image)
    RandomCrop(8, 6)
    conv = Conv2D(4, 3, padding=same)
    BatchNormalization
    relu = Activation(relu)
    skip = Identity()(conv)
    Add()(relu, skip)
    Conv2DTranspose(2, 3, strides=2, padding=same)
    MaxPooling2D(2)
    features = GlobalAveragePooling2D
    picture = Flatten()(relu)
    both = Concatenate(axis=-1)(text, features, picture)
    label = Dense(3, activation=softmax)(both)
    score = Dense(1)(both)
  }

  output [label, score]
  loss      { label = sparse_categorical_crossentropy, score = mean_squared_error }
  metrics   { label = [accuracy] }
  optimizer Adam(lr=1e-3)

  train {
    data       = npz("data.npz")
    epochs     = 1
    batch_size = 8
  }
}
"""

# Runs first in the clean interpreter: netspec cannot be imported there.
NO_NETSPEC = """\
import sys
import textwrap
sys.modules["netspec"] = None  # import netspec raises ImportError from here on
try:
    import netspec
except ImportError:
    pass
else:
    raise SystemExit("netspec is importable")
"""


def run_isolated(script: str, folder: Path) -> None:
    """Runs `script` in `python -I` (no PYTHONPATH, no user site, not the current folder on
    sys.path) after NO_NETSPEC, in `folder`; fails with its output unless it succeeds."""
    env = {
        **os.environ,
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-c", NO_NETSPEC + script],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def readme_recipe(framework: str) -> str:
    """The README's code block for `framework` in "Using a trained model without netspec"."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using a trained model without netspec", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    found = [block for block in blocks if f"import {framework}" in block]
    assert len(found) == 1, f"one README block imports {framework}"
    return found[0]


def options(backend: str, out: Path) -> TrainOptions:
    return TrainOptions(backend=backend, device="cpu", out=out, threads=1, log="quiet")


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- Keras


def mixed_data(folder: Path, samples: int = 24) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "tokens": rng.integers(0, 50, size=(samples, 6)),
        "image": rng.random((samples, 10, 10, 1)).astype(np.float32),
        "label": rng.integers(0, 3, size=samples),
        "score": rng.random((samples, 1)).astype(np.float32),
    }
    np.savez(folder / "data.npz", **arrays)
    return arrays


@pytest.mark.slow
def test_a_keras_run_loads_in_plain_keras(tmp_path: Path) -> None:
    """The README's recipe, `keras.models.load_model("RUN/model.keras")`, without netspec (it
    failed: "Could not locate class 'NetspecAdam'"), predicts what the run's module predicts
    with the weights netspec reads from the file."""
    spec = tmp_path / "mixed.net"
    spec.write_text(MIXED, encoding="utf-8")
    arrays = mixed_data(tmp_path)
    data = {"data": f'npz("{tmp_path / "data.npz"}")'}
    outcome = training.train(spec, data, options("keras", tmp_path / "run"))
    assert outcome.status == 0
    run = tmp_path / "run"
    # What the run's module computes with the weights netspec reads back from model.keras
    # (as `netspec evaluate` and `predict` do), into the module's own layer classes.
    from netspec.train.keras_backend import load_weights

    module = load_module(run / "model.py", "run_mixed_keras")
    net = module.compile_model(module.build_model())
    load_weights(net, run / "model.keras")
    x = {"tokens": arrays["tokens"], "image": arrays["image"]}
    expected = [np.asarray(a) for a in module.predict(net, x)]
    np.savez(tmp_path / "x.npz", **x)
    recipe = readme_recipe("keras").replace('"runs/digits_mlp-keras-…"', repr(str(run)))
    script = f"""
import numpy as np
x = dict(np.load("x.npz"))
{recipe}
np.savez("y.npz", *y_pred)
"""
    run_isolated(script, tmp_path)
    got = list(np.load(tmp_path / "y.npz").values())
    assert len(got) == len(expected) == 2
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def write(folder: Path, stem: str, target: str) -> Path:
    path = folder / f"{stem}_{target}.py"
    path.write_text(generated_source(stem, target), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- PyTorch


def test_a_torch_run_loads_with_torch_and_safetensors(tmp_path: Path) -> None:
    """The README's recipe: the run's model.py, its weights.safetensors, torch alone."""
    from test_train import spec_data

    data = spec_data("digits_mlp", tmp_path / "d.npz", samples=48)
    spec = ROOT / "specs" / "digits_mlp.net"
    outcome = training.train(
        spec, {"epochs": "1", "data": f'npz("{data}")', "standardize": "false"},
        options("torch", tmp_path / "run"),
    )
    assert outcome.status == 0
    run = tmp_path / "run"
    x = np.load(data)["x"][:5]
    np.save(tmp_path / "x.npy", x)
    # What netspec's loader and the run's module compute, from the last checkpoint's weights.
    import torch

    from netspec.train.torch_backend import load_weights

    module = load_module(run / "model.py", "run_digits_torch")
    net = module.build_model()
    load_weights(net, run / "checkpoints" / "epoch_0001.safetensors")
    expected = module.predict(net, torch.from_numpy(x)).numpy()
    recipe = readme_recipe("torch").replace('"runs/digits_mlp-torch-…"', repr(str(run)))
    script = f"""
import numpy as np
x = np.load("x.npy")
{recipe}
np.save("y.npy", y_pred.numpy())
"""
    run_isolated(script, tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- the generated fit


def other_dtypes(stem: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """random_batch in the dtypes a user's arrays may have: float64 inputs, int32 token ids,
    int32 class indices and 0/1 targets, float64 regression targets."""
    model = checked_model(stem)
    xs, ys = random_batch(stem)
    xs = [
        a.astype(np.int32 if vocabulary(model, source.name) else np.float64)
        for a, source in zip(xs, model.inputs, strict=True)
    ]
    kinds = loss_targets(stem)
    ys = [
        a.astype(np.float64 if kind == "regression" else np.int32)
        for a, kind in zip(ys, kinds, strict=True)
    ]
    return xs, ys


def as_given(stem: str, xs: list[Any], ys: list[Any], by_name: bool = False) -> tuple[Any, Any]:
    """An array each for one input and output; else a tuple of them, or dicts by name."""
    model = checked_model(stem)
    if model.single_io:
        return xs[0], ys[0]
    if by_name:
        inputs = dict(zip((source.name for source in model.inputs), xs, strict=True))
        return inputs, dict(zip(model.outputs, ys, strict=True))
    return tuple(xs), tuple(ys)


def torch_fit(module: ModuleType, x: Any, y: Any) -> tuple[dict[str, list[float]], Any, Any]:
    """fit from the same initial weights (and seed), two epochs of batches of 2 with a
    validation set; the history, the figures of evaluate and the outputs of predict."""
    import torch

    torch.manual_seed(0)
    net = module.prepare(module.build_model(), "cpu")
    history = module.fit(net, x, y, epochs=2, batch_size=2, validation_data=(x, y))
    outputs = module.predict(net, x)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return history, module.evaluate(net, x, y), [t.numpy() for t in outputs]


# Sparse, binary and regression targets, token ids, several inputs and outputs.
FIT_SPECS = [
    "digits_mlp", "logistic_regression", "linear_regression", "text_transformer", "two_tower"
]


@pytest.mark.parametrize("stem", FIT_SPECS)
def test_torch_fit_takes_numpy_arrays_and_lists(stem: str, tmp_path: Path) -> None:
    """The generated fit, evaluate and predict take NumPy arrays of any numeric dtype and
    lists (and, for several inputs or outputs, dicts by name) as they take the tensors
    netspec passes, with the same numbers; they took tensors only."""
    import torch

    module = load_module(write(tmp_path, stem, "torch"), f"fit_{stem}_torch")
    xs, ys = random_batch(stem)
    tensors = as_given(stem, [torch.from_numpy(a) for a in xs], [torch.from_numpy(a) for a in ys])
    expected = torch_fit(module, *tensors)
    xs, ys = other_dtypes(stem)
    lists = as_given(stem, [a.tolist() for a in xs], [a.tolist() for a in ys])
    given = [as_given(stem, xs, ys), lists]
    if not checked_model(stem).single_io:
        given.append(as_given(stem, xs, ys, by_name=True))
    for x, y in given:
        history, figures, outputs = torch_fit(module, x, y)
        assert history.keys() == expected[0].keys()
        for name, values in history.items():
            assert values == pytest.approx(expected[0][name], rel=1e-6, abs=1e-7), name
        assert figures == pytest.approx(expected[1], rel=1e-6, abs=1e-7)
        for a, b in zip(outputs, expected[2], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- the docstring


def usage_example(source: str) -> str:
    """The indented usage example of a generated module's docstring, dedented."""
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring is not None
    block = docstring.split("\nUsage", 1)[1].split("\n\n")[1]
    lines = block.splitlines()
    assert len(lines) == 5 and all(line.startswith("    ") for line in lines), block
    return textwrap.dedent(block)


# One input and output, and several (x, y dicts); Keras once, as its fit is slow to trace
# (netspec fits Keras on such dicts in tests/test_train.py).
@pytest.mark.parametrize(
    ("stem", "target"), [("digits_mlp", "torch"), ("two_tower", "torch"), ("digits_mlp", "keras")]
)
def test_the_usage_example_of_the_docstring_runs(
    stem: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The five lines run as written, with the module saved as model.py and x, y NumPy
    arrays (dicts of them by name for several inputs and outputs), as the docstring says."""
    source = generated_source(stem, target)
    (tmp_path / "model.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "model", raising=False)
    xs, ys = other_dtypes(stem) if target == "torch" else random_batch(stem)
    x, y = as_given(stem, xs, ys, by_name=True)
    namespace: dict[str, Any] = {"x": x, "y": y}
    try:
        exec(compile(usage_example(source), f"{stem}.{target} usage", "exec"), namespace)
    finally:
        sys.modules.pop("model", None)
    assert len(namespace["history"]["loss"]) == 2
    assert namespace["y_pred"] is not None
    if target == "keras":
        import keras

        saved = keras.models.load_model(tmp_path / "net.keras")
        again = saved.predict(x, verbose=0)
        for a, b in zip(again, namespace["y_pred"], strict=True):  # rows, or outputs
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
