"""Every seed spec, compiled to both targets, builds, runs, counts its parameters and trains.

Each generated module is written to a temporary folder and imported once per test module
(see `load`). The frameworks are imported lazily, so the rest of the suite never pays for them,
and a missing framework skips its tests instead of failing them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, SPEC_IDS, checked_model, generated_source, random_inputs, spec_name
from typer.testing import CliRunner

from netspec import catalogue, weights
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
def built(load) -> Callable[[str, str], Any]:
    """The network of (spec, target) built once per test module from seed 0, for the tests
    that only run it in inference or count its weights (VGG16 takes seconds to build); the
    training steps build their own."""
    networks: dict[tuple[str, str], Any] = {}

    def build(stem: str, target: str) -> Any:
        key = (stem, target)
        if key not in networks:
            module = load(stem, target)
            if target == "torch":
                import torch

                torch.manual_seed(0)
            else:
                import keras

                keras.utils.set_random_seed(0)
            networks[key] = module.build_model()
        return networks[key]

    return build


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


def loss_targets(stem: str) -> list[str]:
    """What targets each output's loss takes, in the order of the outputs: sparse, one_hot,
    binary or regression."""
    model = checked_model(stem)
    kinds = {loss.output: loss.kind for loss in model.losses}
    entries = [catalogue.lookup("loss", kinds[output]) for output in model.outputs]
    assert all(entry is not None for entry in entries)
    return [entry.target for entry in entries]  # type: ignore[union-attr]


def batch_size(stem: str) -> int:
    """BATCH samples, or one where a sample is large (VGG16's 224×224×3): one runs it."""
    model = checked_model(stem)
    values = sum(math.prod(source.shape) for source in model.inputs)
    return 1 if values > 100_000 else BATCH


def random_batch(stem: str, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A float32 batch per input, channels-last as the spec states (token ids where an
    Embedding reads it), and a batch of targets of its loss's kind per output."""
    model = checked_model(stem)
    n = batch_size(stem)
    xs = random_inputs(model, n, seed)
    rng = np.random.default_rng(seed + 1)
    ys = []
    for output, kind in zip(model.outputs, loss_targets(stem), strict=True):
        out = model.shape_of(output)
        if kind == "sparse":
            y = rng.integers(0, out[-1], size=(n, *out[:-1])).astype(np.int64)
        elif kind == "one_hot":
            classes = rng.integers(0, out[-1], size=(n, *out[:-1]))
            y = np.eye(out[-1], dtype=np.float32)[classes]
        elif kind == "binary":
            y = rng.integers(0, 2, size=(n, *out)).astype(np.float32)
        else:
            assert kind == "regression", kind
            y = rng.standard_normal((n, *out)).astype(np.float32)
        ys.append(y)
    return xs, ys


def assert_module_states_the_shapes(module: ModuleType, stem: str) -> None:
    """INPUT_SHAPE and OUTPUT_SHAPE, or by name (INPUT_SHAPES, OUTPUT_SHAPES) when several."""
    model = checked_model(stem)
    if len(model.inputs) == 1:
        assert model.inputs[0].shape == module.INPUT_SHAPE
    else:
        assert {i.name: i.shape for i in model.inputs} == module.INPUT_SHAPES
    if len(model.outputs) == 1:
        assert model.output_shape == module.OUTPUT_SHAPE
    else:
        assert {o: model.shape_of(o) for o in model.outputs} == module.OUTPUT_SHAPES


def metric_names(stem: str) -> list[str]:
    """The metrics' names in the generated modules: prefixed by their output when several."""
    model = checked_model(stem)
    if len(model.outputs) == 1:
        return [m.kind for m in model.metrics]
    return [f"{m.output}_{m.kind}" for m in model.metrics]


def test_every_kind_of_loss_target_is_known() -> None:
    kinds = {kind for stem in SPEC_IDS for kind in loss_targets(stem)}
    assert kinds <= {"sparse", "one_hot", "binary", "regression"}


# --------------------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_torch_module_states_the_spec_shapes(stem: str, torch: ModuleType, load) -> None:
    assert_module_states_the_shapes(load(stem, "torch"), stem)


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_torch_forward_shape(stem: str, torch: ModuleType, built) -> None:
    network = built(stem, "torch")
    network.eval()
    model = checked_model(stem)
    xs, _ = random_batch(stem)
    with torch.no_grad():
        ys = network(*(torch.from_numpy(x) for x in xs))
    if len(model.outputs) == 1:  # several outputs come as a tuple, in the order of `output`
        ys = (ys,)
    assert len(ys) == len(model.outputs)
    for output, y in zip(model.outputs, ys, strict=True):
        assert tuple(y.shape) == (batch_size(stem), *model.shape_of(output))
        assert y.dtype == torch.float32
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_torch_parameter_counts(stem: str, torch: ModuleType, built, summary) -> None:
    network = built(stem, "torch")
    model = checked_model(stem)
    totals = summary(stem)
    parameters = dict(network.named_parameters())
    trainable = sum(p.numel() for p in parameters.values() if p.requires_grad)
    # Non-trainable: the weights of frozen layers (trainable=false: parameters that do not
    # require gradients) and state such as running statistics (floating-point buffers).
    frozen = sum(p.numel() for p in parameters.values() if not p.requires_grad) + sum(
        t.numel()
        for name, t in network.state_dict().items()
        if t.is_floating_point() and name not in parameters
    )
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
    assert set(metrics) == set(metric_names(stem))
    several = len(checked_model(stem).outputs) > 1

    xs, ys = random_batch(stem)
    targets = tuple(torch.from_numpy(y) for y in ys)
    before = [p.detach().clone() for p in network.parameters()]
    optimizer.zero_grad()
    predictions = network(*(torch.from_numpy(x) for x in xs))
    loss = loss_fn(predictions, targets if several else targets[0])
    assert loss.shape == ()
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    after = list(network.parameters())
    changed = [not torch.equal(b, a) for b, a in zip(before, after, strict=True)]
    assert any(changed), "the optimizer step changed no weight"
    with torch.no_grad():
        for name, metric in metrics.items():
            if several:  # (the index of its output, the function)
                index, function = metric
                value = function(predictions[index], targets[index])
            else:
                value = metric(predictions, targets[0])
            assert value.shape == (), name
            assert torch.isfinite(value), name


# --------------------------------------------------------------------------- Keras


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_keras_module_states_the_spec_shapes(stem: str, keras: ModuleType, load) -> None:
    assert_module_states_the_shapes(load(stem, "keras"), stem)


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_keras_forward_shape(stem: str, keras: ModuleType, built) -> None:
    network = built(stem, "keras")
    model = checked_model(stem)
    xs, _ = random_batch(stem)
    ys = network(xs if len(xs) > 1 else xs[0], training=False)
    shapes = network.output_shape
    if len(model.outputs) == 1:  # several outputs come as a list, in the order of `output`
        ys, shapes = [ys], [shapes]
    assert len(ys) == len(shapes) == len(model.outputs)
    for output, y, shape in zip(model.outputs, ys, shapes, strict=True):
        y = keras.ops.convert_to_numpy(y)
        assert y.shape == (batch_size(stem), *model.shape_of(output))
        assert y.dtype == np.float32
        assert np.isfinite(y).all()
        assert tuple(shape) == (None, *model.shape_of(output))


@pytest.fixture(scope="module")
def keras_counts(keras: ModuleType, built) -> Callable[[str], dict[str, Any]]:
    """Keras' counts of a spec's built model (total, trainable, non-trainable, per layer),
    the network the forward test ran."""
    results: dict[str, dict[str, Any]] = {}

    def count(stem: str) -> dict[str, Any]:
        if stem not in results:
            network = built(stem, "keras")
            results[stem] = {
                "total": network.count_params(),
                "trainable": sum(int(np.prod(w.shape)) for w in network.trainable_weights),
                "frozen": sum(int(np.prod(w.shape)) for w in network.non_trainable_weights),
                "layers": {layer.name: layer.count_params() for layer in network.layers},
            }
        return results[stem]

    return count


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_keras_parameter_counts(stem: str, keras_counts, summary) -> None:
    counts = keras_counts(stem)
    model = checked_model(stem)
    totals = summary(stem)
    trainable, frozen = counts["trainable"], counts["frozen"]
    assert counts["total"] == totals["total_params"]
    assert trainable == model.trainable_params == totals["trainable_params"]
    assert frozen == model.non_trainable_params == totals["non_trainable_params"]
    # Layer by layer too: the generated layers carry the spec's names.
    for layer in totals["layers"]:
        assert counts["layers"][layer["name"]] == layer["params"], layer["name"]


# The specs whose header comment states their parameter counts, as a user reads them there.
STATED_COUNTS = ("text_transformer", "two_tower", "vgg16_transfer")
COUNTS_LINE = re.compile(
    r"^#\s+total ([\d,]+) = ([\d,]+) trainable \+ ([\d,]+) non-trainable \(as Keras reports them\)$",
    re.MULTILINE,
)


def stated_counts(stem: str) -> tuple[int, int, int] | None:
    """(total, trainable, non-trainable) from the spec's `# total … = … + …` comment line."""
    match = COUNTS_LINE.search((ROOT / spec_name(stem)).read_text(encoding="utf-8"))
    if match is None:
        return None
    total, trainable, frozen = (int(group.replace(",", "")) for group in match.groups())
    return total, trainable, frozen


def test_the_specs_that_state_their_counts_are_there() -> None:
    assert set(STATED_COUNTS) <= set(SPEC_IDS)
    assert [stem for stem in SPEC_IDS if stated_counts(stem) is not None] == list(STATED_COUNTS)


@pytest.mark.parametrize("stem", STATED_COUNTS)
def test_stated_counts_are_what_keras_reports(stem: str, keras_counts) -> None:
    """The figures in the spec's header are those of the Keras model built from it."""
    stated = stated_counts(stem)
    assert stated is not None, f"specs/{stem}.net states no `# total … non-trainable` line"
    counts = keras_counts(stem)
    assert stated == (counts["total"], counts["trainable"], counts["frozen"])
    model = checked_model(stem)
    assert stated[1:] == (model.trainable_params, model.non_trainable_params)
    assert stated[0] == stated[1] + stated[2]


# The large specs take their Keras step eagerly: tracing it took 10-20 s of CPU each (resnet20
# 11.5 s traced, 0.9 s eager), and `netspec train` trains each of them traced
# (test_train.py); the others still take it traced, as `fit` would.
EAGER_STEP = {"resnet20", "unet_small", "text_transformer"}


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_keras_training_step(stem: str, keras: ModuleType, load) -> None:
    keras.utils.set_random_seed(0)
    module = load(stem, "keras")
    network = module.build_model()
    loss = module.build_loss()
    optimizer = module.build_optimizer()
    metrics = module.build_metrics()
    model = checked_model(stem)
    xs, ys = random_batch(stem)
    assert isinstance(optimizer, keras.optimizers.Optimizer)
    if len(model.outputs) == 1:
        assert isinstance(loss, keras.losses.Loss)
        assert all(isinstance(m, keras.metrics.Metric) for m in metrics)
        assert [m.name for m in metrics] == [m.kind for m in model.metrics]
        network.compile(
            optimizer=optimizer, loss=loss, metrics=metrics, run_eagerly=stem in EAGER_STEP
        )
        x, y = xs[0], ys[0]
    else:  # losses and metrics by output name; compile_model() attaches them
        assert list(loss) == model.outputs
        assert all(isinstance(v, keras.losses.Loss) for v in loss.values())
        named = [(o, m.name) for o, ms in metrics.items() for m in ms]
        assert named == [(m.output, m.kind) for m in model.metrics]
        network = module.compile_model(network)
        network.run_eagerly = stem in EAGER_STEP
        x, y = xs, dict(zip(model.outputs, ys, strict=True))
    before = [keras.ops.convert_to_numpy(w).copy() for w in network.trainable_weights]
    logs = network.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    for name in metric_names(stem):
        assert np.isfinite(logs[name]), name
    after = [keras.ops.convert_to_numpy(w) for w in network.trainable_weights]
    changed = [not np.array_equal(b, a) for b, a in zip(before, after, strict=True)]
    assert any(changed), "the training step changed no weight"



def test_vgg16_base_takes_the_weights_of_keras_vgg16(keras: ModuleType) -> None:
    """The frozen base is VGG16's, tensor for tensor and in order: keras.applications'
    `block3_conv2/kernel` is the spec's `block3_conv_1.kernel` (built with weights=None:
    nothing downloads). So VGG16's ImageNet weights, renamed, load with --init-from."""
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(224, 224, 3))

    def renamed(layer: str) -> str:  # block3_conv1 → block3_conv, block3_conv2 → block3_conv_1
        block, conv = re.fullmatch(r"(block\d)_conv(\d)", layer).groups()  # type: ignore[union-attr]
        return f"{block}_conv" + ("" if conv == "1" else f"_{int(conv) - 1}")

    theirs = [
        (f"{renamed(layer.name)}.{w.name}", tuple(w.shape))
        for layer in base.layers
        for w in layer.weights
    ]
    model = checked_model("vgg16_transfer")
    ours = [(k, s) for k, s in weights.expected_shapes(model).items() if k.startswith("block")]
    assert ours == theirs and len(theirs) == 26
    assert all(not layer.trainable for layer in model.layers if layer.name.startswith("block"))
    assert model.non_trainable_params == base.count_params() == 14_714_688
