"""The per-layer parity harness: one catalogue `Example` run on both targets (Keras 3's
`run_layer_test` idea).

An example's spec is checked, compiled to Keras and to PyTorch and imported. Random weights
(kernels scaled by their fan-in, non-zero biases, non-trivial moving statistics) go into the
Keras model and move to the PyTorch model through `netspec.weights`; both run in inference
mode on the same random input. `run_example` then asserts that

* both frameworks count the parameters the checker counts (`param_counts`),
* each Keras layer's output shape, and both models' outputs, have the shape the catalogue's
  shape rules give,
* the outputs agree within the example's `atol` (absolute, whatever the output's scale; the
  failure names the error relative to that scale) and `rtol`.

Only the tests import this module: netspec itself states examples as plain data.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from netspec import catalogue, ir, weights
from netspec.catalogue.layer import TOKEN_VOCABULARY, Example
from netspec.codegen import generate
from netspec.frontend import check_source

BATCH = 4

Loader = Callable[[str, str, str], ModuleType]


def layer_examples() -> dict[str, list[Example]]:
    """Each layer kind's own examples (not a base class's), expanded, in kind order."""
    activations = catalogue.names("activation", include_aliases=False)
    return {
        entry.kind: [
            concrete
            for example in entry.__dict__.get("examples", ())
            for concrete in example.expand(activations)
        ]
        for entry in catalogue.entries("layer")
    }


def check_spec(text: str, name: str) -> ir.Model:
    model, diagnostics = check_source(text, name)
    errors = [d.message for d in diagnostics if d.severity.name == "ERROR"]
    assert model is not None and not errors, errors
    return model


def module_loader(folder: Path) -> Loader:
    """Imports a generated module from a file in `folder`."""

    def load_module(source: str, stem: str, target: str) -> ModuleType:
        path = folder / f"{stem}_{target}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"parity_{stem}_{target}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load_module


def random_weights(model: ir.Model, seed: int) -> dict[str, np.ndarray]:
    """Neutral weights: kernels scaled by their fan-in, every other tensor clearly non-trivial."""
    rng = np.random.default_rng(seed)
    result = {}
    for name, shape in weights.expected_shapes(model).items():
        kind = name.rsplit(".", 1)[1]
        if kind in ("gamma", "moving_variance"):
            array = rng.uniform(0.5, 2.0, shape)
        elif kind in ("kernel", "recurrent_kernel"):
            array = rng.standard_normal(shape) / math.sqrt(math.prod(shape[:-1]))
        else:  # biases, beta, moving means, embeddings
            array = rng.normal(0.0, 0.5, shape)
        result[name] = array.astype(np.float32)
    return result


def random_input(model: ir.Model, seed: int, tokens: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    shape = (BATCH, *model.inputs[0].shape)
    if tokens:
        return rng.integers(0, TOKEN_VOCABULARY, size=shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def run_both(
    model: ir.Model, keras_model, torch_model, x: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random weights into Keras, moved to PyTorch; both outputs in inference mode."""
    import torch

    given = random_weights(model, seed)
    weights.import_weights(model, keras_model, given)
    exported = weights.export_weights(model, keras_model)
    assert exported.keys() == given.keys()
    for name, array in given.items():
        assert np.array_equal(exported[name], array), name
    weights.import_weights(model, torch_model, exported)
    back = weights.export_weights(model, torch_model)  # neutral → torch → neutral is exact
    for name, array in given.items():
        assert np.array_equal(back[name], array), name
    expected = np.asarray(keras_model(x, training=False))
    torch_model.eval()
    with torch.no_grad():
        actual = torch_model(torch.from_numpy(x)).numpy()
    return expected, actual


def assert_same_function(
    expected: np.ndarray, actual: np.ndarray, atol: float = 1e-5, rtol: float = 1e-4
) -> float:
    """Asserts the two outputs agree; returns the largest absolute difference."""
    assert expected.shape == actual.shape
    assert np.all(np.isfinite(expected))
    error = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=atol, err_msg=f"error / scale {error / scale:.3g}"
    )
    return error


def assert_parameter_counts(model: ir.Model, keras_model, torch_model, label: str) -> None:
    """The checker's counts are Keras' (trainable, non-trainable) and PyTorch's parameters."""
    label = f"{label}: parameter counts"
    trainable = sum(math.prod(w.shape) for w in keras_model.trainable_weights)
    frozen = sum(math.prod(w.shape) for w in keras_model.non_trainable_weights)
    assert (trainable, frozen) == (model.trainable_params, model.non_trainable_params), label
    assert sum(p.numel() for p in torch_model.parameters()) == model.trainable_params, label
    neutral = sum(math.prod(s) for s in weights.expected_shapes(model).values())
    assert neutral == trainable + frozen, label
    maps = [w for _, w in weights.weight_maps(model).values()]
    assert sum(math.prod(w.shape) for w in maps if w.trainable) == trainable, label


def assert_layer_shapes(model: ir.Model, keras_model, label: str) -> None:
    """Each layer's shape rule against the shape Keras gives that layer's output."""
    for layer in model.layers:
        built = tuple(keras_model.get_layer(layer.name).output.shape[1:])
        assert built == tuple(layer.output_shape), (
            f"{label}: the shape rule of {layer.name} gives {layer.output_shape}, Keras {built}"
        )


def run_example(kind: str, example: Example, load: Loader) -> float:
    """Runs one example on both targets; returns the largest absolute difference."""
    model = check_spec(example.spec(), f"{example.id}.net")
    assert kind in {layer.kind for layer in model.layers}, example.id
    keras_model = load(generate(model, "keras"), example.id, "keras").build_model()
    torch_model = load(generate(model, "torch"), example.id, "torch").build_model()
    assert_parameter_counts(model, keras_model, torch_model, example.id)
    assert_layer_shapes(model, keras_model, example.id)
    seed = sum(map(ord, example.id))
    x = random_input(model, seed, example.tokens)
    expected, actual = run_both(model, keras_model, torch_model, x, seed)
    assert expected.shape == actual.shape == (BATCH, *model.output_shape), example.id
    error = assert_same_function(expected, actual, example.atol, example.rtol)
    assert error <= example.atol, (example.id, error)  # absolute, whatever the magnitude
    return error
