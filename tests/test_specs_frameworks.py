"""Every seed spec, compiled to both targets, builds, runs, counts its parameters and trains.

Each generated module is written to a temporary folder and imported once per test module
(see `load`). The frameworks are imported lazily, so the rest of the suite never pays for them,
and a missing framework skips its tests instead of failing them.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, SPEC_IDS, checked_model, generated_source, spec_name
from typer.testing import CliRunner

from netspec import catalogue
from netspec.cli import app

BATCH = 3

# Keras' TensorFlow backend converts tensors with np.array(x), which NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], ModuleType]:
    """Imports the generated module of (spec, target), once per test module."""
    folder = tmp_path_factory.mktemp("generated")
    modules: dict[tuple[str, str], ModuleType] = {}

    def load_module(stem: str, target: str) -> ModuleType:
        key = (stem, target)
        if key not in modules:
            path = folder / f"{stem}_{target}.py"
            path.write_text(generated_source(stem, target), encoding="utf-8")
            spec = importlib.util.spec_from_file_location(f"generated_{stem}_{target}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            modules[key] = module
        return modules[key]

    return load_module


@pytest.fixture(scope="module")
def summary() -> Callable[[str], dict[str, Any]]:
    """`netspec summary --format json` of a spec, run once per spec through the CLI."""
    runner = CliRunner()
    results: dict[str, dict[str, Any]] = {}

    def summarize(stem: str) -> dict[str, Any]:
        if stem not in results:
            result = runner.invoke(app, ["summary", str(ROOT / spec_name(stem)), "-f", "json"])
            assert result.exit_code == 0, result.output
            results[stem] = json.loads(result.stdout)
        return results[stem]

    return summarize


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    return pytest.importorskip("keras")


def loss_target(stem: str) -> str:
    """What targets the spec's loss takes: sparse, one_hot, binary or regression."""
    entry = catalogue.lookup("loss", checked_model(stem).loss.kind)
    assert entry is not None
    return entry.target  # type: ignore[attr-defined]


def random_batch(stem: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A float32 input batch, channels-last as the spec states, and targets of the loss's kind."""
    model = checked_model(stem)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, *model.inputs[0].shape)).astype(np.float32)
    out = model.output_shape
    kind = loss_target(stem)
    if kind == "sparse":
        y = rng.integers(0, out[-1], size=(BATCH, *out[:-1])).astype(np.int64)
    elif kind == "one_hot":
        classes = rng.integers(0, out[-1], size=(BATCH, *out[:-1]))
        y = np.eye(out[-1], dtype=np.float32)[classes]
    elif kind == "binary":
        y = rng.integers(0, 2, size=(BATCH, *out)).astype(np.float32)
    else:
        assert kind == "regression", kind
        y = rng.standard_normal((BATCH, *out)).astype(np.float32)
    return x, y


def test_every_kind_of_loss_target_is_known() -> None:
    assert {loss_target(stem) for stem in SPEC_IDS} <= {"sparse", "one_hot", "binary", "regression"}


# --------------------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_torch_module_states_the_spec_shapes(stem: str, torch: ModuleType, load) -> None:
    module = load(stem, "torch")
    model = checked_model(stem)
    assert model.inputs[0].shape == module.INPUT_SHAPE
    assert model.output_shape == module.OUTPUT_SHAPE


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_torch_forward_shape(stem: str, torch: ModuleType, load) -> None:
    torch.manual_seed(0)
    network = load(stem, "torch").build_model()
    network.eval()
    x, _ = random_batch(stem)
    with torch.no_grad():
        y = network(torch.from_numpy(x))
    assert tuple(y.shape) == (BATCH, *checked_model(stem).output_shape)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_torch_parameter_counts(stem: str, torch: ModuleType, load, summary) -> None:
    network = load(stem, "torch").build_model()
    model = checked_model(stem)
    totals = summary(stem)
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    # .parameters() holds the trainable weights; non-trainable state (e.g. running statistics)
    # would be floating-point buffers in the state dict.
    frozen = sum(
        t.numel()
        for name, t in network.state_dict().items()
        if t.is_floating_point() and name not in dict(network.named_parameters())
    )
    assert sum(p.numel() for p in network.parameters()) == trainable
    assert trainable == model.trainable_params == totals["trainable_params"]
    assert frozen == model.non_trainable_params == totals["non_trainable_params"]
    assert trainable + frozen == totals["total_params"]


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_torch_training_step(stem: str, torch: ModuleType, load) -> None:
    torch.manual_seed(0)
    module = load(stem, "torch")
    network = module.build_model()
    network.train()
    loss_fn = module.build_loss()
    optimizer = module.build_optimizer(network.parameters())
    metrics = module.build_metrics()
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert set(metrics) == {m.kind for m in checked_model(stem).metrics}

    x, y = random_batch(stem)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    before = [p.detach().clone() for p in network.parameters()]
    optimizer.zero_grad()
    predictions = network(inputs)
    loss = loss_fn(predictions, targets)
    assert loss.shape == ()
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    after = list(network.parameters())
    changed = [not torch.equal(b, a) for b, a in zip(before, after, strict=True)]
    assert any(changed), "the optimizer step changed no weight"
    with torch.no_grad():
        for name, metric in metrics.items():
            value = metric(predictions, targets)
            assert value.shape == (), name
            assert torch.isfinite(value), name


# --------------------------------------------------------------------------- Keras


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_keras_module_states_the_spec_shapes(stem: str, keras: ModuleType, load) -> None:
    module = load(stem, "keras")
    model = checked_model(stem)
    assert model.inputs[0].shape == module.INPUT_SHAPE
    assert model.output_shape == module.OUTPUT_SHAPE


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_keras_forward_shape(stem: str, keras: ModuleType, load) -> None:
    keras.utils.set_random_seed(0)
    network = load(stem, "keras").build_model()
    x, _ = random_batch(stem)
    y = keras.ops.convert_to_numpy(network(x, training=False))
    assert y.shape == (BATCH, *checked_model(stem).output_shape)
    assert y.dtype == np.float32
    assert np.isfinite(y).all()
    assert tuple(network.output_shape) == (None, *checked_model(stem).output_shape)


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_keras_parameter_counts(stem: str, keras: ModuleType, load, summary) -> None:
    network = load(stem, "keras").build_model()
    model = checked_model(stem)
    totals = summary(stem)
    trainable = sum(int(np.prod(w.shape)) for w in network.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in network.non_trainable_weights)
    assert network.count_params() == totals["total_params"]
    assert trainable == model.trainable_params == totals["trainable_params"]
    assert frozen == model.non_trainable_params == totals["non_trainable_params"]
    # Layer by layer too: the generated layers carry the spec's names.
    for layer in totals["layers"]:
        assert network.get_layer(layer["name"]).count_params() == layer["params"], layer["name"]


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_keras_training_step(stem: str, keras: ModuleType, load) -> None:
    keras.utils.set_random_seed(0)
    module = load(stem, "keras")
    network = module.build_model()
    loss = module.build_loss()
    optimizer = module.build_optimizer()
    metrics = module.build_metrics()
    assert isinstance(loss, keras.losses.Loss)
    assert isinstance(optimizer, keras.optimizers.Optimizer)
    assert all(isinstance(m, keras.metrics.Metric) for m in metrics)
    assert [m.name for m in metrics] == [m.kind for m in checked_model(stem).metrics]

    network.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    x, y = random_batch(stem)
    before = [keras.ops.convert_to_numpy(w).copy() for w in network.trainable_weights]
    logs = network.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    for metric in checked_model(stem).metrics:
        assert np.isfinite(logs[metric.kind]), metric.kind
    after = [keras.ops.convert_to_numpy(w) for w in network.trainable_weights]
    changed = [not np.array_equal(b, a) for b, a in zip(before, after, strict=True)]
    assert any(changed), "the training step changed no weight"

