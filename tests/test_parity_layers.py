"""One spec, one function: the Keras and PyTorch models of a spec agree, layer by layer.

Every layer entry of the catalogue states its own parity `examples` (small specs: the layer
alone, or after the layer its input needs); `tests/layer_harness.py` runs each on both
targets: same weights in (non-zero biases, non-trivial moving statistics), the same output
out to 1e-5 (plus 1e-4 relative) unless the example says otherwise, the shape rules and the
parameter counts as both frameworks build them. A layer entry without examples fails
`test_every_layer_entry_has_an_example`.

The seed specs get the same treatment in `test_seed_spec_parity`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import SPEC_IDS, checked_model, generated_source, random_inputs, ruff_complaints
from layer_harness import (
    BATCH,
    Loader,
    assert_same_function,
    check_spec,
    layer_examples,
    module_loader,
    random_input,
    random_weights,
    run_both,
    run_example,
)

from netspec import catalogue, weights
from netspec.catalogue.layer import Example
from netspec.codegen import generate

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

# Keras' TensorFlow backend converts tensors with np.array(x), which NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

__all__ = ["random_weights"]  # tests/test_precision.py takes it from here

ATOL = 1e-5
RTOL = 1e-4

ACTIVATION_NAMES = catalogue.names("activation", include_aliases=False)
EXAMPLES = layer_examples()
ALL_EXAMPLES = [(kind, example) for kind in sorted(EXAMPLES) for example in EXAMPLES[kind]]


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Loader:
    """Imports a generated module from a temporary file."""
    return module_loader(tmp_path_factory.mktemp("parity"))


# --------------------------------------------------------------------------- tests


def test_every_layer_entry_has_an_example() -> None:
    missing = sorted(kind for kind, examples in EXAMPLES.items() if not examples)
    assert not missing, f"layer entries without parity `examples` of their own: {missing}"


def test_example_ids_are_unique() -> None:
    ids = [example.id for _, example in ALL_EXAMPLES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_example_uses_its_layer_kind(kind: str) -> None:
    for example in EXAMPLES[kind]:
        model = check_spec(example.spec(), f"{example.id}.net")
        assert kind in {layer.kind for layer in model.layers}, example.id


def test_every_activation_is_covered() -> None:
    ids = {example.id for _, example in ALL_EXAMPLES}
    for name in ACTIVATION_NAMES:
        assert f"dense_{name}" in ids and f"activation_{name}" in ids


@pytest.mark.parametrize(
    "kind,example", ALL_EXAMPLES, ids=[example.id for _, example in ALL_EXAMPLES]
)
def test_layer_parity(kind: str, example: Example, load: Loader) -> None:
    """Outputs, shapes and parameter counts of both targets (tests/layer_harness.py)."""
    run_example(kind, example, load)


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_seed_spec_parity(stem: str, load) -> None:
    """Same weights in, same predictions out, for every spec in specs/."""
    model = checked_model(stem)
    keras_module = load(generated_source(stem, "keras"), f"seed_{stem}", "keras")
    torch_module = load(generated_source(stem, "torch"), f"seed_{stem}", "torch")
    large = sum(math.prod(source.shape) for source in model.inputs) > 100_000
    xs = random_inputs(model, 1 if large else BATCH, 7)  # one VGG16-sized sample is enough
    if len(xs) == 1 and len(model.outputs) == 1:
        keras_model, torch_model = keras_module.build_model(), torch_module.build_model()
        expected, actual = run_both(model, keras_model, torch_model, xs[0], 7)
        assert_same_function(expected, actual)
        return
    # several inputs or outputs: the weights moved by layer name, each output compared
    keras_model = keras_module.build_model()
    torch_model = torch_module.build_model().eval()
    weights.import_weights(model, keras_model, random_weights(model, 7))
    weights.import_weights(model, torch_model, weights.export_weights(model, keras_model))
    expected = keras_model(xs if len(xs) > 1 else xs[0], training=False)
    with torch.no_grad():
        actual = torch_model(*(torch.from_numpy(x) for x in xs))
    if len(model.outputs) == 1:
        expected, actual = [expected], [actual]
    assert len(expected) == len(actual) == len(model.outputs)
    for e, a in zip(expected, actual, strict=True):
        assert_same_function(np.asarray(e), a.numpy())


@pytest.mark.parametrize("features,epsilon", [(1, 1e-6), (1, 1e-3), (2, 1e-5), (2, 1e-7)])
def test_narrow_layer_norm_is_float64_exact_on_both(features: int, epsilon: float, load) -> None:
    """LayerNormalization over 1-2 features with a small epsilon, against float64: both
    modules within a few float32 ulps of the output's scale (Keras' own layer was off by up to
    8.6e-5, PyTorch by 2e-7)."""
    case = Example(
        f"ln_narrow_{features}", (8, features), (f"LayerNormalization(epsilon={epsilon})",)
    )
    model = check_spec(case.spec(), f"{case.id}.net")
    keras_model = load(generate(model, "keras"), f"{case.id}_{epsilon}", "keras").build_model()
    torch_model = load(generate(model, "torch"), f"{case.id}_{epsilon}", "torch").build_model()
    rng = np.random.default_rng(features)
    x = (rng.standard_normal((BATCH, 8, features)) * 3 + 5).astype(np.float32)
    expected, actual = run_both(model, keras_model, torch_model, x, seed=features)
    given = random_weights(model, features)
    gamma, beta = (given[f"layer_normalization.{k}"].astype(np.float64) for k in ("gamma", "beta"))
    x64 = x.astype(np.float64)
    centered = x64 - x64.mean(-1, keepdims=True)
    exact = centered / np.sqrt((centered**2).mean(-1, keepdims=True) + epsilon) * gamma + beta
    scale = max(1.0, float(np.abs(exact).max()))
    for name, out in (("keras", expected), ("torch", actual)):
        error = float(np.abs(out - exact).max()) / scale
        assert error < 1e-6, (name, error)


def test_batch_norm_momentum_is_stated_both_ways() -> None:
    model = check_spec(Example("bn", (4,), ("BatchNormalization",)).spec(), "bn.net")
    assert "momentum=0.99" in generate(model, "keras")
    assert "epsilon=0.001" in generate(model, "keras")
    assert "nn.BatchNorm1d(4, eps=0.001, momentum=0.01)" in generate(model, "torch")


def test_a_wrong_gate_order_breaks_parity(load) -> None:
    """The negative control: GRU weights moved without the gate reorder give another function."""
    case = Example("gru_naive", (5, 3), ("GRU(4)",))
    model = check_spec(case.spec(), "gru_naive.net")
    keras_model = load(generate(model, "keras"), case.id, "keras").build_model()
    torch_model = load(generate(model, "torch"), case.id, "torch").build_model()
    given = random_weights(model, 0)
    weights.import_weights(model, keras_model, given)
    with torch.no_grad():  # transposed, but gates left in Keras' order [z, r, h]
        torch_model.gru.weight_ih_l0.copy_(torch.from_numpy(given["gru.kernel"].T.copy()))
        torch_model.gru.weight_hh_l0.copy_(torch.from_numpy(given["gru.recurrent_kernel"].T.copy()))
        torch_model.gru.bias_ih_l0.copy_(torch.from_numpy(given["gru.bias"][0]))
        torch_model.gru.bias_hh_l0.copy_(torch.from_numpy(given["gru.bias"][1]))
    x = random_input(model, 0)
    expected = np.asarray(keras_model(x, training=False))
    with torch.no_grad():
        actual = torch_model.eval()(torch.from_numpy(x)).numpy()
    assert not np.allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_a_flipped_transposed_kernel_breaks_parity(load) -> None:
    """The negative control for Conv2DTranspose's map (a plain transpose, no spatial flip):
    the kernel flipped in height and width, as a convolution-as-correlation view would
    suggest, gives another function."""
    case = Example("convt_flipped", (3, 4, 2), ("Conv2DTranspose(3, 3, strides=2, padding=same)",))
    model = check_spec(case.spec(), "convt_flipped.net")
    keras_model = load(generate(model, "keras"), case.id, "keras").build_model()
    torch_model = load(generate(model, "torch"), case.id, "torch").build_model()
    given = random_weights(model, 1)
    weights.import_weights(model, keras_model, given)
    flipped = {**given, "conv2d_transpose.kernel": given["conv2d_transpose.kernel"][::-1, ::-1].copy()}
    weights.import_weights(model, torch_model, flipped)
    x = random_input(model, 1)
    expected = np.asarray(keras_model(x, training=False))
    with torch.no_grad():
        actual = torch_model.eval()(torch.from_numpy(x)).numpy()
    assert not np.allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_attention_initialisation_uses_keras_fans(load) -> None:
    """Both targets draw each MultiHeadAttention kernel within the same Glorot bound: Keras
    counts the fans of a 3-axis kernel over its input and output axes, as nn.Linear's."""
    case = Example("mha_init", (4, 64), ("MultiHeadAttention(8, 16, output_shape=32)",))
    model = check_spec(case.spec(), "mha_init.net")
    torch.manual_seed(0)
    attention = load(generate(model, "torch"), case.id, "torch").build_model().multi_head_attention
    keras_model = load(generate(model, "keras"), case.id, "keras").build_model()
    kernels = {v.path.split("/")[-2]: v.numpy() for v in keras_model.weights if v.name == "kernel"}
    bounds = {  # sqrt(6 / (fan_in + fan_out)), fans over the input and output axes
        "query": math.sqrt(6 / (64 + 8 * 16)),
        "value": math.sqrt(6 / (64 + 8 * 16)),
        "attention_output": math.sqrt(6 / (8 * 16 + 32)),
    }
    for name, bound in bounds.items():
        drawn = getattr(attention, name).weight.detach().abs().max().item()
        assert 0.95 * bound < drawn <= bound, name
        assert 0.95 * bound < np.abs(kernels[name]).max() <= bound, name
    assert all(attention.query.bias == 0)


def test_batch_norm_training_update_differs_as_documented(load) -> None:
    """Training mode: same normalisation, same moving mean; the moving variance takes the
    biased batch variance in Keras and the unbiased one in PyTorch (BatchNormalization's
    docstring)."""
    case = Example("bn_train", (3,), ("BatchNormalization",))
    model = check_spec(case.spec(), "bn_train.net")
    keras_model = load(generate(model, "keras"), case.id, "keras").build_model()
    torch_model = load(generate(model, "torch"), case.id, "torch").build_model()
    given = random_weights(model, 3)
    weights.import_weights(model, keras_model, given)
    weights.import_weights(model, torch_model, given)
    x = random_input(model, 3)
    expected = np.asarray(keras_model(x, training=True))
    actual = torch_model.train()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
    after_keras = weights.export_weights(model, keras_model)
    after_torch = weights.export_weights(model, torch_model)
    mean, variance = (
        given["batch_normalization.moving_mean"],
        given["batch_normalization.moving_variance"],
    )
    n = len(x)
    np.testing.assert_allclose(
        after_keras["batch_normalization.moving_mean"], 0.99 * mean + 0.01 * x.mean(0), rtol=1e-5
    )
    np.testing.assert_allclose(
        after_torch["batch_normalization.moving_mean"], 0.99 * mean + 0.01 * x.mean(0), rtol=1e-5
    )
    biased = x.var(0)
    np.testing.assert_allclose(
        after_keras["batch_normalization.moving_variance"],
        0.99 * variance + 0.01 * biased,
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        after_torch["batch_normalization.moving_variance"],
        0.99 * variance + 0.01 * biased * n / (n - 1),
        rtol=1e-5,
    )


def test_generated_modules_of_every_case_pass_ruff(tmp_path) -> None:
    """`ruff check` and `ruff format --check` (the project's config) on both modules of every
    example, as test_codegen does for specs."""
    for _, example in ALL_EXAMPLES:
        model = check_spec(example.spec(), f"{example.id}.net")
        for target in ("keras", "torch"):
            (tmp_path / f"{example.id}_{target}.py").write_text(generate(model, target))
    complaints = ruff_complaints(tmp_path)
    assert not complaints, complaints


def test_the_harness_counts_only_an_entrys_own_examples(monkeypatch) -> None:
    """An entry without examples of its own is listed, even when its base class has some."""
    from netspec.catalogue import conv

    monkeypatch.setattr(conv._GlobalPooling1D, "examples", conv.GlobalAveragePooling1D.examples)
    monkeypatch.delattr(conv.GlobalMaxPooling1D, "examples")
    examples = layer_examples()
    assert examples["GlobalMaxPooling1D"] == []
    assert examples["GlobalAveragePooling1D"] == list(conv.GlobalAveragePooling1D.examples)


def test_the_harness_catches_a_wrong_shape_rule_or_count(monkeypatch, load: Loader) -> None:
    """The negative controls of `run_example`: a shape rule one row off, a count one off."""
    from netspec.catalogue import conv, core

    example = conv.ZeroPadding2D.examples[0]
    rule = conv.ZeroPadding2D.output_shape

    def one_row_more(self, p, shape):
        height, *rest = rule(self, p, shape)
        return (height + 1, *rest)

    monkeypatch.setattr(conv.ZeroPadding2D, "output_shape", one_row_more)
    with pytest.raises(AssertionError, match="zeropad_int: the shape rule of zero_padding2d"):
        run_example("ZeroPadding2D", example, load)
    monkeypatch.undo()
    count = core.Dense.param_counts
    monkeypatch.setattr(core.Dense, "param_counts", lambda self, p, s: (count(self, p, s)[0] + 1, 0))
    with pytest.raises(AssertionError, match="dense: parameter counts"):
        run_example("Dense", core.Dense.examples[0], load)
