"""netspec.weights: neutral weights move between the generated Keras and PyTorch models.

A round trip torch → file → Keras → file → torch is bit-exact; weights that do not fit a
model are refused with an error that names the tensor, before anything changes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import checked_model, generated_source

from netspec import __version__, ir, weights
from netspec.codegen import generate
from netspec.frontend import check_source

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
pytest.importorskip("safetensors")

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

# Specs that use every kind of weight map: transposes, HWIO kernels, gate reorders, the GRU's
# split bias, batch-norm statistics, embeddings.
ROUND_TRIP = {
    "images": """
model images {
  input [9, 8, 2]
  layers {
    Conv2D(4, 3, strides=2, padding=same, activation=relu)
    BatchNormalization
    AveragePooling2D(2, padding=same)
    Reshape([6, 4])
    LSTM(5, return_sequences=true)
    GRU(3, return_sequences=true)
    LayerNormalization
    Flatten
    Dense(3, activation=softmax)
  }
  loss categorical_crossentropy
  optimizer Adam
}
""",
    "tokens": """
model tokens {
  input [7]
  layers {
    Embedding(20, 4)
    GRU(5)
    Dense(2)
  }
  loss mean_squared_error
  optimizer SGD
}
""",
}


def check_spec(text: str, name: str) -> ir.Model:
    model, diagnostics = check_source(text, name)
    assert model is not None, [d.message for d in diagnostics]
    return model


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Callable[[ir.Model, str], ModuleType]:
    """The generated module of (model, target), imported once."""
    folder = tmp_path_factory.mktemp("weights")
    modules: dict[tuple[str, str], ModuleType] = {}

    def load_module(model: ir.Model, target: str) -> ModuleType:
        key = (model.name, target)
        if key not in modules:
            path = folder / f"{model.name}_{target}.py"
            path.write_text(generate(model, target), encoding="utf-8")
            spec = importlib.util.spec_from_file_location(f"weights_{model.name}_{target}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            modules[key] = module
        return modules[key]

    return load_module


def randomized_torch_model(module: ModuleType, seed: int):
    """A PyTorch model whose every floating tensor (biases, statistics too) is random."""
    generator = torch.Generator().manual_seed(seed)
    model = module.build_model()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.randn(tensor.shape, generator=generator)
                if name.endswith("running_var"):
                    values = values.abs() + 0.5
                tensor.copy_(values)
    return model


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_round_trip_torch_file_keras_file_torch_is_bit_exact(
    name: str, load, tmp_path: Path
) -> None:
    model = check_spec(ROUND_TRIP[name], f"{name}.net")
    original = randomized_torch_model(load(model, "torch"), seed=1)

    first = tmp_path / "from_torch.safetensors"
    weights.save_weights(first, weights.export_weights(model, original), model)
    keras_model = load(model, "keras").build_model()
    weights.import_weights(model, keras_model, weights.load_weights(first, model))

    second = tmp_path / "from_keras.safetensors"
    weights.save_weights(second, weights.export_weights(model, keras_model), model)
    restored = load(model, "torch").build_model()
    weights.import_weights(model, restored, weights.load_weights(second, model))

    before, after = original.state_dict(), restored.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert before[key].dtype == after[key].dtype, key
        assert torch.equal(before[key], after[key]), key
    # the two files hold the same tensors, bit for bit (their bytes may differ only in the
    # order safetensors writes the metadata keys, which it does not fix)
    a, b = weights.load_weights(first), weights.load_weights(second)
    assert a.keys() == b.keys()
    assert all(a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a)
    assert weights.read_metadata(first) == weights.read_metadata(second)

    # and the Keras model in the middle computes what the PyTorch one does
    x = np.random.default_rng(0).standard_normal((3, *model.inputs[0].shape)).astype(np.float32)
    if name == "tokens":
        x = np.random.default_rng(0).integers(0, 20, (3, *model.inputs[0].shape)).astype(np.float32)
    with torch.no_grad():
        actual = restored.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(
        actual, np.asarray(keras_model(x, training=False)), rtol=1e-4, atol=1e-5
    )


def test_file_metadata_names_the_model_and_version(load, tmp_path: Path) -> None:
    model = checked_model("mnist_cnn")
    path = tmp_path / "w.safetensors"
    torch_model = randomized_torch_model(load(model, "torch"), seed=2)
    weights.save_weights(path, weights.export_weights(model, torch_model), model)
    metadata = weights.read_metadata(path)
    assert metadata["model"] == "mnist_cnn"
    assert metadata["netspec_version"] == __version__
    assert metadata["format"] == weights.FORMAT
    assert set(weights.load_weights(path)) == set(weights.expected_shapes(model))


def test_neutral_layout_is_keras_layout(load) -> None:
    """Neutral arrays are Keras' own: kernels (in, out) and HWIO, GRU gates [z, r, h]."""
    model = check_spec(ROUND_TRIP["images"], "images.net")
    torch_model = randomized_torch_model(load(model, "torch"), seed=3)
    neutral = weights.export_weights(model, torch_model)
    state = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    assert np.array_equal(neutral["dense.kernel"], state["dense.weight"].T)
    assert np.array_equal(neutral["conv2d.kernel"], state["conv2d.weight"].transpose(2, 3, 1, 0))
    assert np.array_equal(neutral["lstm.kernel"], state["lstm.weight_ih_l0"].T)
    z_keras = neutral["gru.kernel"][:, 0:3]  # Keras: z first; PyTorch: r, then z
    assert np.array_equal(z_keras, state["gru.weight_ih_l0"][3:6].T)
    assert np.array_equal(neutral["gru.bias"][1, 6:9], state["gru.bias_hh_l0"][6:9])
    assert np.array_equal(
        neutral["batch_normalization.moving_variance"], state["batch_normalization.running_var"]
    )

    keras_model = load(model, "keras").build_model()
    weights.import_weights(model, keras_model, neutral)
    for name, array in neutral.items():
        layer, variable = name.split(".")
        by_name = {v.name: v for v in keras_model.get_layer(layer).weights}
        assert np.array_equal(by_name[variable].numpy(), array), name


# --------------------------------------------------------------------------- refusals


def test_a_checkpoint_of_another_spec_is_refused(load, tmp_path: Path) -> None:
    other = checked_model("mnist_mlp")
    path = tmp_path / "mnist_mlp.safetensors"
    torch_model = load(other, "torch").build_model()
    weights.save_weights(path, weights.export_weights(other, torch_model), other)

    model = checked_model("mnist_cnn")
    with pytest.raises(weights.WeightsError) as raised:
        weights.load_weights(path, model)
    message = str(raised.value)
    assert "model 'mnist_mlp'" in message and "model 'mnist_cnn'" in message
    assert "tensor 'conv2d.kernel' (3, 3, 1, 32) is missing" in message
    assert "tensor 'dense.kernel' has shape (784, 256), the model needs (576, 64)" in message
    assert raised.value.tensor is not None and raised.value.tensor in message


def test_a_bad_tensor_changes_nothing(load) -> None:
    model = checked_model("mnist_cnn")
    torch_model = randomized_torch_model(load(model, "torch"), seed=4)
    before = {k: v.clone() for k, v in torch_model.state_dict().items()}
    neutral = weights.export_weights(model, randomized_torch_model(load(model, "torch"), seed=5))
    neutral["dense_1.bias"] = np.zeros(11, np.float32)
    neutral["dense_2.kernel"] = np.zeros((10, 10), np.float32)
    with pytest.raises(weights.WeightsError) as raised:
        weights.import_weights(model, torch_model, neutral)
    assert raised.value.tensor == "dense_1.bias"
    assert "tensor 'dense_1.bias' has shape (11,), the model needs (10,)" in str(raised.value)
    assert "tensor 'dense_2.kernel' is not a weight of model 'mnist_cnn'" in str(raised.value)
    for key, tensor in torch_model.state_dict().items():
        assert torch.equal(tensor, before[key]), key


def test_integer_tensors_are_refused(load) -> None:
    model = checked_model("linear_regression")
    keras_model = load(model, "keras").build_model()
    neutral = weights.export_weights(model, keras_model)
    neutral["dense.bias"] = np.zeros(1, np.int64)
    with pytest.raises(weights.WeightsError, match=r"'dense\.bias' holds int64"):
        weights.import_weights(model, keras_model, neutral)


def test_a_pytorch_state_dict_file_is_not_taken_for_neutral_weights(load, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    model = checked_model("mnist_mlp")
    torch_model = load(model, "torch").build_model()
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in torch_model.state_dict().items()}, str(path))
    with pytest.raises(weights.WeightsError, match="not a netspec weights file") as raised:
        weights.load_weights(path, model)
    assert "'dense.weight' is not a weight of model 'mnist_mlp'" in str(raised.value)


def test_a_model_built_from_another_spec_is_refused(load) -> None:
    keras_model = load(checked_model("mnist_mlp"), "keras").build_model()
    with pytest.raises(weights.WeightsError, match="no layer 'conv2d'"):
        weights.export_weights(checked_model("mnist_cnn"), keras_model)
    torch_model = load(checked_model("mnist_mlp"), "torch").build_model()
    with pytest.raises(weights.WeightsError, match=r"'conv2d\.weight'"):
        weights.export_weights(checked_model("mnist_cnn"), torch_model)


def test_seed_spec_weights_move_both_ways(load) -> None:
    """Every seed spec's generated source is the one `load` compiles: the golden modules."""
    for stem in ("lstm_classifier", "mnist_cnn"):
        model = checked_model(stem)
        assert generate(model, "torch") == generated_source(stem, "torch")
        torch_model = randomized_torch_model(load(model, "torch"), seed=6)
        keras_model = load(model, "keras").build_model()
        neutral = weights.export_weights(model, torch_model)
        weights.import_weights(model, keras_model, neutral)
        back = weights.export_weights(model, keras_model)
        assert all(np.array_equal(back[k], neutral[k]) for k in neutral)
