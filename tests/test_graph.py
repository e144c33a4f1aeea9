"""Graph models: several inputs and outputs, merges, forward references, on both targets.

The specs in tests/graphs/ have golden files in tests/golden/graphs/ (regenerate with
`pytest tests/test_graph.py --update-golden` and review the diff). Each is compiled to both
targets; the same weights go into both models through `netspec.weights` (layers keyed by
name), and every output must agree, as in test_parity_layers.py.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import ROOT, ruff_complaints
from typer.testing import CliRunner

from netspec import ir, weights
from netspec.cli import app
from netspec.codegen import generate
from netspec.frontend import check_source

# Keras' TensorFlow backend converts tensors with np.array(x), which NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

GRAPHS = sorted((ROOT / "tests" / "graphs").glob("*.net"))
GRAPH_IDS = [path.stem for path in GRAPHS]
GOLDEN = ROOT / "tests" / "golden" / "graphs"
TARGETS = ("keras", "torch")
BATCH = 4


def graph_model(stem: str) -> ir.Model:
    name = f"tests/graphs/{stem}.net"
    model, diagnostics = check_source((ROOT / name).read_text(encoding="utf-8"), name)
    assert model is not None, [d.message for d in diagnostics]
    assert not list(diagnostics), [d.message for d in diagnostics]  # no warning either
    return model


def test_there_are_graph_specs() -> None:
    assert {"residual_mlp", "conv_branches", "two_tower"} <= set(GRAPH_IDS)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("stem", GRAPH_IDS)
def test_matches_golden_file(stem: str, target: str, update_golden: bool) -> None:
    source = generate(graph_model(stem), target)
    path = GOLDEN / f"{stem}.{target}.py"
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; create it with `pytest --update-golden`"
    actual = path.read_text(encoding="utf-8")
    if actual != source:
        diff = "".join(
            difflib.unified_diff(actual.splitlines(True), source.splitlines(True), str(path))
        )
        pytest.fail(f"generated {target} code for {stem} differs from its golden file\n{diff}")


def test_generated_code_passes_ruff(tmp_path: Path) -> None:
    for stem in GRAPH_IDS:
        for target in TARGETS:
            source = generate(graph_model(stem), target)
            (tmp_path / f"{stem}_{target}.py").write_text(source, encoding="utf-8")
    complaints = ruff_complaints(tmp_path)  # ruff check and ruff format --check
    assert not complaints, complaints


def test_graph_is_ordered_topologically() -> None:
    """two_tower names `h` before it is made; the IR puts every layer after what it reads."""
    model = graph_model("two_tower")
    seen = {i.name for i in model.inputs}
    for layer in model.layers:
        assert set(layer.inputs) <= seen, layer.name
        seen.add(layer.name)
    assert [layer.name for layer in model.layers] == ["a", "b", "m", "h", "category", "price"]
    assert model.outputs == ["category", "price"]
    assert [(loss.output, loss.kind, loss.weight) for loss in model.losses] == [
        ("category", "sparse_categorical_crossentropy", 1.0),
        ("price", "mean_squared_error", 0.5),
    ]
    assert [(m.output, m.kind) for m in model.metrics] == [
        ("category", "accuracy"), ("price", "mean_absolute_error"),
    ]


def test_a_chain_is_the_same_model_written_as_a_graph() -> None:
    """Explicit inputs that spell out a chain give the chain's IR (names and spans aside)."""
    chain = "input [6] layers { Dense(4, activation=relu) Dense(2) }"
    graph = "input [6] layers { d2 = Dense(2)(d1) d1 = Dense(4, activation=relu)(input) } output d2"
    models = []
    for body in (chain, graph):
        model, diagnostics = check_source(f"model m {{ {body} loss mse optimizer SGD }}")
        assert model is not None, [d.message for d in diagnostics]
        models.append(model)
    shapes = [[(lay.kind, lay.output_shape, lay.trainable_params) for lay in m.layers] for m in models]
    assert shapes[0] == shapes[1]
    assert models[0].is_chain and models[1].is_chain


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], ModuleType]:
    folder = tmp_path_factory.mktemp("graphs")

    def load_module(stem: str, target: str) -> ModuleType:
        path = folder / f"{stem}_{target}.py"
        path.write_text(generate(graph_model(stem), target), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"graph_{stem}_{target}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load_module


def _random_weights(model: ir.Model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    result = {}
    for name, (_, weight) in weights.weight_maps(model).items():
        scale = 1.0 / np.sqrt(max(weight.shape[0], 1))
        result[name] = (rng.standard_normal(weight.shape) * scale).astype(np.float32)
    return result


@pytest.mark.parametrize("stem", GRAPH_IDS)
def test_keras_and_torch_compute_the_same_function(stem: str, load) -> None:
    """Same weights in (moved by layer name), same outputs out, each output channels-last."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    model = graph_model(stem)
    keras_model = load(stem, "keras").build_model()
    torch_model = load(stem, "torch").build_model().eval()
    given = _random_weights(model, 7)
    weights.import_weights(model, keras_model, given)
    weights.import_weights(model, torch_model, weights.export_weights(model, keras_model))
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((BATCH, *i.shape)).astype(np.float32) for i in model.inputs]
    expected = keras_model(xs if len(xs) > 1 else xs[0], training=False)
    with torch.no_grad():
        actual = torch_model(*(torch.from_numpy(x) for x in xs))
    if len(model.outputs) == 1:
        expected, actual = [expected], [actual]
    assert len(expected) == len(actual) == len(model.outputs)
    for name, e, a in zip(model.outputs, expected, actual, strict=True):
        assert tuple(a.shape) == (BATCH, *model.shape_of(name))
        np.testing.assert_allclose(np.asarray(e), a.numpy(), atol=1e-5, rtol=1e-4, err_msg=name)
    keras_count = sum(int(np.prod(v.shape)) for v in keras_model.weights)
    torch_count = sum(p.numel() for p in torch_model.parameters())
    total = model.trainable_params + model.non_trainable_params
    assert keras_count == torch_count == total


def test_torch_multi_output_loss_is_the_weighted_sum(load) -> None:
    torch = pytest.importorskip("torch")
    module = load("two_tower", "torch")
    y_pred = (torch.full((2, 3), 1 / 3), torch.tensor([[1.0], [3.0]]))
    y_true = (torch.tensor([0, 2]), torch.tensor([[0.0], [1.0]]))
    total = module.build_loss()(y_pred, y_true)
    expected = -np.log(1 / 3) * 1.0 + (1.0 + 4.0) / 2 * 0.5
    assert float(total) == pytest.approx(expected, rel=1e-6)
    metrics = module.build_metrics()
    assert set(metrics) == {"category_accuracy", "price_mean_absolute_error"}
    index, function = metrics["price_mean_absolute_error"]
    assert index == 1 and float(function(y_pred[1], y_true[1])) == pytest.approx(1.5)


def test_keras_multi_output_compiles_with_losses_by_output(load) -> None:
    pytest.importorskip("keras")
    module = load("two_tower", "keras")
    model = module.compile_model(module.build_model())
    assert list(module.build_loss()) == ["category", "price"] == model.output_names
    assert module.LOSS_WEIGHTS == {"category": 1.0, "price": 0.5}


def test_multi_output_module_has_its_training_loop() -> None:
    """The loops take a tuple (PyTorch) or dicts (Keras) of arrays per input and output."""
    for target in TARGETS:
        tree = ast.parse(generate(graph_model("two_tower"), target))
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert {"build_model", "build_loss", "build_optimizer", "build_metrics"} <= functions
        assert {"fit", "evaluate", "predict"} <= functions


def test_torch_multi_output_losses_by_name(load) -> None:
    torch = pytest.importorskip("torch")
    module = load("two_tower", "torch")
    losses = module.build_output_losses()
    assert list(losses) == ["category_loss", "price_loss"]
    index, function = losses["price_loss"]
    y_pred, y_true = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [1.0]])
    assert index == 1 and float(function(y_pred, y_true)) == pytest.approx(2.5)


def test_train_takes_arrays_named_like_the_inputs_and_outputs(tmp_path: Path) -> None:
    """An .npz without x and y: the arrays named like the model's inputs and outputs."""
    rng = np.random.default_rng(0)
    data = tmp_path / "named.npz"
    np.savez(
        data,
        features=rng.normal(size=(40, 20)),
        history=rng.normal(size=(40, 10, 8)),
        category=rng.integers(0, 3, size=40),
        price=rng.normal(size=(40, 1)),
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train", str(ROOT / "tests" / "graphs" / "two_tower.net"), "--out", str(run),
            "--data", f'npz("{data}")', "--epochs", "1", "--device", "cpu", "--threads", "1",
            "--log", "quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    history = json.loads((run / "history.json").read_text(encoding="utf-8"))
    assert {"loss", "category_loss", "price_loss", "category_accuracy"} <= set(history)


TWO_INPUTS_ONE_OUTPUT = """
model two_in_one_out {
  input features [6]
  input history [4, 3]
  layers {
    a = Dense(8, activation=relu)(features)
    b = Flatten()(history)
    m = Concatenate(axis=-1)(a, b)
    label = Dense(3, activation=softmax)
  }
  output label
  loss sparse_categorical_crossentropy
  metrics [accuracy]
  optimizer Adam(lr=1e-3)
}
"""


@pytest.mark.parametrize("backend", ["keras", "torch"])
def test_several_inputs_one_output_train(backend: str, tmp_path: Path) -> None:
    """Two inputs, one output: the Keras model's output is a dict by its name, as fit's
    targets come (a bare tensor made fit fail with a TypeError)."""
    spec = tmp_path / "two_in_one_out.net"
    spec.write_text(TWO_INPUTS_ONE_OUTPUT, encoding="utf-8")
    rng = np.random.default_rng(0)
    data = tmp_path / "named.npz"
    np.savez(
        data,
        features=rng.normal(size=(24, 6)),
        history=rng.normal(size=(24, 4, 3)),
        label=rng.integers(0, 3, size=24),
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train", str(spec), "--out", str(run), "--data", f'npz("{data}")', "--epochs", "1",
            "--backend", backend, "--device", "cpu", "--threads", "1", "--log", "quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    history = json.loads((run / "history.json").read_text(encoding="utf-8"))
    # one output's loss is the loss: the figures are named as a chain's, on both backends
    assert {"loss", "accuracy"} <= set(history) and "label_loss" not in history, history


def test_summary_shows_connections() -> None:
    runner = CliRunner()
    path = str(ROOT / "tests" / "graphs" / "two_tower.net")
    result = runner.invoke(app, ["summary", path])
    assert result.exit_code == 0
    assert "Connected to" in result.output and "a, b" in result.output
    result = runner.invoke(app, ["summary", path, "-f", "json"])
    import json

    data = json.loads(result.stdout)
    assert data["inputs"] == [
        {"name": "features", "shape": [20]}, {"name": "history", "shape": [10, 8]},
    ]
    assert data["outputs"] == ["category", "price"]
    assert {layer["name"]: layer["inputs"] for layer in data["layers"]}["m"] == ["a", "b"]
    result = runner.invoke(app, ["check", path])
    assert "m [96] ← a, b" in result.output and "outputs: category [1]" not in result.output


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("stem", ["residual_mlp", "conv_branches"])
def test_single_input_output_graphs_train_as_chains_do(stem: str, backend: str, tmp_path: Path) -> None:
    """A graph with one input and one output (a residual net) goes through `netspec train`."""
    import json

    model = graph_model(stem)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, *model.inputs[0].shape)).astype(np.float32)
    if model.loss.kind == "sparse_categorical_crossentropy":
        y = rng.integers(0, model.output_shape[-1], size=48)
    else:
        y = rng.normal(size=(48, *model.output_shape)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train", str(ROOT / "tests" / "graphs" / f"{stem}.net"), "--backend", backend,
            "--device", "cpu", "--threads", "1", "--out", str(run), "--epochs", "2", "--batch-size", "16", "--log", "quiet",
            "--data", f'npz("{tmp_path / "data.npz"}")',
        ],
    )
    assert result.exit_code == 0, result.output
    history = json.loads((run / "history.json").read_text(encoding="utf-8"))
    assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))
