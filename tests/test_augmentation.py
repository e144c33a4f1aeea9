"""Image augmentation on both targets: inference, the training distribution, fixed draws.

Each layer is compiled from a small spec (once per spec, by the `built` fixture) to Keras and
PyTorch. In inference both targets are the identity (RandomCrop: the central window of the
crop's aspect ratio, resized to the crop, as Keras documents; Rescaling: the affine map). In training the random parameter of every
output is recovered from the output itself, on each target, and its distribution checked
against Keras' rule. Where a degenerate range fixes the parameter, the PyTorch output must
equal the Keras output: that pins interpolation, fill mode, centre and signs. Last, each
layer trains one step under PyTorch bf16 autocast and under Keras' mixed_bfloat16 policy.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import ROOT

from netspec import ir
from netspec.catalogue.preprocessing import contrast_range, signed_range
from netspec.codegen import generate
from netspec.frontend import check_source

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

DRAWS = 2000
TARGETS = ("keras", "torch")


@dataclass(frozen=True)
class Built:
    model: ir.Model
    keras_module: ModuleType
    torch_module: ModuleType

    def run(self, target: str, x: np.ndarray, training: bool, seed: int = 0) -> np.ndarray:
        """The model's output on `x`, in training or inference mode, on one target."""
        if target == "keras":
            keras.utils.set_random_seed(seed)
            return np.asarray(self.keras_module.build_model()(x, training=training))
        torch.manual_seed(seed)
        module = self.torch_module.build_model().train(training)
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()


def spec_text(shape: tuple[int, ...], layers: tuple[str, ...], name: str) -> str:
    body = "\n".join(f"    {layer}" for layer in layers)
    dims = ", ".join(map(str, shape))
    return (
        f"model {name} {{\n  input [{dims}]\n  layers {{\n{body}\n  }}\n"
        "  loss mean_squared_error\n  optimizer SGD(lr=0.01)\n}\n"
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Built]:
    """Checks, compiles and imports a spec of these layers once, for both targets."""
    folder = tmp_path_factory.mktemp("augment")
    cache: dict[tuple[tuple[int, ...], tuple[str, ...]], Built] = {}

    def load(source: str, stem: str) -> ModuleType:
        path = folder / f"{stem}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def build(shape: tuple[int, ...], *layers: str) -> Built:
        key = (shape, layers)
        if key not in cache:
            name = f"augment_{len(cache)}"
            model, diagnostics = check_source(spec_text(shape, layers, name), f"{name}.net")
            assert model is not None, [d.message for d in diagnostics]
            cache[key] = Built(
                model,
                load(generate(model, "keras"), f"{name}_keras"),
                load(generate(model, "torch"), f"{name}_torch"),
            )
        return cache[key]

    return build


def images(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def coordinates(n: int, size: int) -> np.ndarray:
    """Channel 0 is each pixel's column minus the centre, channel 1 its row minus the centre:
    bilinear sampling of this linear image at any inside point returns the point itself."""
    centre = (size - 1) / 2
    rows, columns = np.meshgrid(np.arange(size) - centre, np.arange(size) - centre, indexing="ij")
    return np.broadcast_to(np.stack([columns, rows], -1), (n, size, size, 2)).astype(np.float32)


def assert_spread(values: np.ndarray, low: float, high: float) -> None:
    """2,000 draws of U(low, high): all inside, mean and both extremes recovered."""
    width = high - low
    assert values.min() >= low - 1e-4 and values.max() <= high + 1e-4, (values.min(), values.max())
    assert abs(values.mean() - (low + high) / 2) < 0.03 * width, values.mean()
    assert values.min() < low + 0.01 * width and values.max() > high - 0.01 * width


# --------------------------------------------------------------------------- (1) inference

INFERENCE = (
    "RandomFlip",
    "RandomFlip(vertical)",
    "RandomTranslation(0.2, [-0.1, 0.3])",
    "RandomRotation(0.3, fill_mode=constant)",
    "RandomZoom(0.2, 0.4, interpolation=nearest)",
    "RandomContrast(0.5)",
)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("layer", INFERENCE)
def test_inference_is_the_identity(built, layer: str, target: str) -> None:
    x = images(16, (8, 8, 2))
    assert np.array_equal(built((8, 8, 2), layer).run(target, x, training=False), x)


@pytest.mark.parametrize(
    ("shape", "crop", "window"),
    [
        ((8, 8, 2), "RandomCrop(8, 8)", (0, 0, 8, 8)),  # the whole image: the identity
        ((8, 8, 2), "RandomCrop(4, 4)", (0, 0, 8, 8)),  # same aspect: all of it, halved
        ((8, 8, 2), "RandomCrop(8, 4)", (0, 2, 8, 4)),  # taller: a central 8 × 4 band
        ((9, 7, 1), "RandomCrop(5, 6)", (2, 0, 5, 7)),  # wider: 5 central rows of 7, resized
    ],
)
def test_random_crop_in_inference_resizes_the_central_window(
    built, shape: tuple[int, ...], crop: str, window: tuple[int, int, int, int]
) -> None:
    """As Keras documents (its 3.15 code passes the image through, keras-team/keras#21868):
    the largest central window of the crop's aspect ratio, resized bilinearly to the crop."""
    b = built(shape, crop)
    x = images(6, shape)
    keras_out = b.run("keras", x, training=False)
    torch_out = b.run("torch", x, training=False)
    height, width = b.model.layers[0].output_shape[:2]
    assert keras_out.shape == torch_out.shape == (6, height, width, shape[-1])
    np.testing.assert_allclose(torch_out, keras_out, atol=1e-5)
    top, left, rows, columns = window
    expected = keras.ops.image.resize(
        x[:, top : top + rows, left : left + columns], (height, width), interpolation="bilinear"
    )
    np.testing.assert_allclose(keras_out, np.asarray(expected), atol=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_rescaling_is_affine_in_training_and_inference(built, target: str) -> None:
    b = built((4, 5), "Rescaling(1/127.5, offset=-1)")
    x = np.random.default_rng(1).uniform(0, 255, (8, 4, 5)).astype(np.float32)
    for training in (False, True):
        np.testing.assert_allclose(b.run(target, x, training), x / 127.5 - 1, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- (2) training


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    ("mode", "axes"),
    [("horizontal", (2,)), ("vertical", (1,)), ("horizontal_and_vertical", (1, 2))],
)
def test_flip_happens_to_half_the_images(built, target: str, mode: str, axes: tuple[int, ...]) -> None:
    x = np.broadcast_to(np.arange(24, dtype=np.float32).reshape(1, 4, 6, 1), (DRAWS, 4, 6, 1))
    out = built((4, 6, 1), f"RandomFlip({mode})").run(target, np.ascontiguousarray(x), True)
    kept = np.all(out == x, axis=(1, 2, 3))
    flipped = np.all(out == np.flip(x, axes), axis=(1, 2, 3))
    assert np.all(kept ^ flipped)  # each image as it was or flipped exactly that way
    assert abs(flipped.mean() - 0.5) < 0.05, flipped.mean()


@pytest.mark.parametrize("target", TARGETS)
def test_crop_offsets_are_uniform_and_one_per_batch(built, target: str) -> None:
    """8 × 8 → 6 × 5: row offsets 0 … 2, column offsets 0 … 3, equally likely."""
    b = built((8, 8, 1), "RandomCrop(6, 5)")
    x = np.broadcast_to(np.arange(64, dtype=np.float32).reshape(1, 8, 8, 1), (2, 8, 8, 1)).copy()
    if target == "keras":
        keras.utils.set_random_seed(0)
        model = b.keras_module.build_model()
        outputs = [np.asarray(model(x, training=True)) for _ in range(300)]
    else:
        torch.manual_seed(0)
        module = b.torch_module.build_model().train()
        with torch.no_grad():
            outputs = [module(torch.from_numpy(x)).numpy() for _ in range(300)]
    rows, columns = [], []
    for out in outputs:
        assert out.shape == (2, 6, 5, 1) and np.array_equal(out[0], out[1])  # one crop a batch
        top, left = divmod(int(out[0, 0, 0, 0]), 8)
        assert np.array_equal(out[0, :, :, 0], x[0, top : top + 6, left : left + 5, 0])
        rows.append(top)
        columns.append(left)
    for offsets, count in ((rows, 3), (columns, 4)):
        frequencies = np.bincount(offsets, minlength=count) / len(offsets)
        assert len(frequencies) == count
        assert np.all(np.abs(frequencies - 1 / count) < 0.09), frequencies


@pytest.mark.parametrize("target", TARGETS)
def test_crop_of_a_full_axis_is_centred_in_training(built, target: str) -> None:
    """Keras crops at random only where the image is larger along both axes."""
    x = images(3, (8, 8, 1))
    for crop, top, left in (("RandomCrop(8, 5)", 0, 1), ("RandomCrop(3, 8)", 2, 0)):
        out = built((8, 8, 1), crop).run(target, x, True)
        height, width = out.shape[1:3]
        assert np.array_equal(out, x[:, top : top + height, left : left + width])


@pytest.mark.parametrize("target", TARGETS)
def test_translation_amounts_and_directions(built, target: str) -> None:
    """Output (x, y) reads input (x − dx, y − dy): positive factors shift down and right."""
    layer = "RandomTranslation([-0.1, 0.2], [0.05, 0.25], fill_mode=constant)"
    out = built((9, 9, 2), layer).run(target, coordinates(DRAWS, 9), True)
    dx, dy = -out[:, 4, 4, 0] / 9, -out[:, 4, 4, 1] / 9  # as fractions of the size
    assert_spread(dy, -0.1, 0.2)
    assert_spread(dx, 0.05, 0.25)


@pytest.mark.parametrize("target", TARGETS)
def test_rotation_angles_and_direction(built, target: str) -> None:
    """The pixel right of the centre reads the input at angle θ about the centre."""
    out = built((9, 9, 2), "RandomRotation([-0.05, 0.1])").run(target, coordinates(DRAWS, 9), True)
    u, v = out[:, 4, 5, 0], out[:, 4, 5, 1]
    np.testing.assert_allclose(np.hypot(u, v), 1.0, atol=1e-5)
    angles = np.degrees(np.arctan2(v, u))
    assert_spread(angles, -18.0, 36.0)


@pytest.mark.parametrize("target", TARGETS)
def test_rotation_by_a_quarter_turn_is_counter_clockwise(built, target: str) -> None:
    x = np.zeros((1, 9, 9, 1), np.float32)
    x[0, 0, 4, 0] = 1.0  # top middle
    out = built((9, 9, 1), "RandomRotation([0.25, 0.25])").run(target, x, True)
    assert out[0, 4, 0, 0] == pytest.approx(1.0, abs=1e-5)  # now left middle
    assert out.sum() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("target", TARGETS)
def test_zoom_scales_per_axis_and_shared(built, target: str) -> None:
    """Output (cx + 1, cy + 1) reads (cx + z_w, cy + z_h): z > 1 zooms out."""
    xy = coordinates(DRAWS, 9)
    out = built((9, 9, 2), "RandomZoom([-0.2, 0.3], [0.1, 0.2])").run(target, xy, True)
    assert_spread(out[:, 5, 5, 1], 0.8, 1.3)
    assert_spread(out[:, 5, 5, 0], 1.1, 1.2)
    shared = built((9, 9, 2), "RandomZoom(0.25)").run(target, xy, True)
    assert_spread(shared[:, 5, 5, 1], 0.75, 1.25)
    np.testing.assert_array_equal(shared[:, 5, 5, 0], shared[:, 5, 5, 1])  # aspect kept


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("factor", "low", "high"), [("0.5", 1.0, 1.5), ("[0.2, 0.4]", 0.8, 1.4)])
def test_contrast_factors_per_image(built, target: str, factor: str, low: float, high: float) -> None:
    """Keras' rule: a number f draws from [1, 1 + f], a pair [a, b] from [1 − a, 1 + b]."""
    x = np.random.default_rng(2).uniform(100, 150, (DRAWS, 4, 4, 2)).astype(np.float32)
    out = built((4, 4, 2), f"RandomContrast({factor})").run(target, x, True)
    centred = x - x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), rtol=1e-5)
    # the factor of each image and channel, by least squares: out - m = f·(x - m)
    gain = ((out - out.mean(axis=(1, 2), keepdims=True)) * centred).sum((1, 2)) / (centred**2).sum((1, 2))
    np.testing.assert_allclose(gain[:, 0], gain[:, 1], atol=1e-4)  # one factor per image
    assert_spread(gain[:, 0], low, high)


@pytest.mark.parametrize("target", TARGETS)
def test_contrast_clips_to_the_value_range_in_training(built, target: str) -> None:
    x = np.random.default_rng(3).uniform(0, 1, (64, 4, 4, 1)).astype(np.float32)
    out = built((4, 4, 1), "RandomContrast([-0.9, 1.0], value_range=[0.2, 0.8])").run(target, x, True)
    assert out.min() == pytest.approx(0.2) and out.max() == pytest.approx(0.8)


# --------------------------------------------------------------------------- (3) fixed draws

FIXED = (
    "RandomTranslation([0.25, 0.25], [-0.125, -0.125])",
    "RandomTranslation([0.1, 0.1], [0.3, 0.3], interpolation=nearest)",
    *(
        f"RandomTranslation([-0.35, -0.35], [0.6, 0.6], fill_mode={mode}, fill_value=0.5)"
        for mode in ("reflect", "wrap", "constant", "nearest")
    ),
    "RandomRotation([0.1, 0.1])",
    "RandomRotation([-0.3, -0.3], interpolation=nearest, fill_mode=nearest)",
    *(
        f"RandomRotation([0.15, 0.15], fill_mode={mode}, fill_value=-1)"
        for mode in ("wrap", "constant")
    ),
    "RandomZoom([0.4, 0.4])",
    "RandomZoom([-0.3, -0.3], [0.5, 0.5], fill_mode=constant, fill_value=2)",
    "RandomZoom([0.7, 0.7], [0.2, 0.2], interpolation=nearest, fill_mode=wrap)",
    "RandomContrast([-0.5, 0.5])",
    "RandomContrast([-0.8, 0.8], value_range=[-1, 1])",
    "RandomCrop(8, 5)",
    "Rescaling(0.25, offset=3)",
)


@pytest.mark.parametrize("layer", FIXED)
def test_fixed_draws_give_the_same_output_on_both_targets(built, layer: str) -> None:
    """A degenerate range fixes the random value: then PyTorch computes Keras' output."""
    b = built((8, 7, 2), layer)
    x = images(4, (8, 7, 2), seed=5)
    if "RandomContrast" in layer and "value_range" not in layer:
        x = np.random.default_rng(5).uniform(0, 255, x.shape).astype(np.float32)
    expected, actual = b.run("keras", x, True), b.run("torch", x, True)
    assert expected.shape == actual.shape
    assert not np.allclose(expected, x[:, : expected.shape[1], : expected.shape[2]])
    delta = float(np.max(np.abs(actual - expected)))
    print(f"max |Δ| {layer}: {delta:.3g}")
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=2e-5)


def test_factor_ranges_follow_keras() -> None:
    assert signed_range(0.2) == (-0.2, 0.2)
    assert signed_range(-0.2) == (-0.2, 0.2)
    assert signed_range((0.3, -0.1)) == (-0.1, 0.3)
    assert contrast_range(0.2) == (0.0, 0.2)  # never lowers the contrast, as Keras
    assert contrast_range((0.4, 0.1)) == (0.1, 0.4)


# --------------------------------------------------------------------------- (4) bf16 training

# Two of each layer. PyTorch: one first (float32 input) and one after a convolution (bf16
# under autocast). Keras: both first, where augmentation goes; after a trainable layer the
# affine ones cannot train under mixed_bfloat16, as TensorFlow has no bf16 gradient for
# ImageProjectiveTransformV3 (docs/semantics.md).
TRAINED = {
    "RandomFlip": ("RandomFlip", "RandomFlip(horizontal)"),
    "RandomCrop": ("RandomCrop(7, 7)", "RandomCrop(5, 6)"),
    "RandomTranslation": ("RandomTranslation(0.2, 0.2)", "RandomTranslation(0.1, 0.3, fill_mode=constant)"),
    "RandomRotation": ("RandomRotation(0.2)", "RandomRotation(0.1, interpolation=nearest)"),
    "RandomZoom": ("RandomZoom(0.2)", "RandomZoom(0.1, 0.3, fill_mode=wrap)"),
    "RandomContrast": ("RandomContrast(0.3)", "RandomContrast([0.2, 0.2], value_range=[-10, 10])"),
    "Rescaling": ("Rescaling(1/255)", "Rescaling(2, offset=-1)"),
}


def trained_spec(kind: str, target: str) -> tuple[str, ...]:
    first, second = TRAINED[kind]
    head = ("Conv2D(2, 3)", "GlobalAveragePooling2D", "Dense(1)")
    if target == "keras":
        return (first, second, "Conv2D(3, 1)", *head)
    return (first, "Conv2D(3, 1)", second, *head)


@pytest.mark.parametrize("kind", sorted(TRAINED))
def test_one_torch_step_under_bf16_autocast(built, kind: str) -> None:
    b = built((8, 8, 1), *trained_spec(kind, "torch"))
    torch.manual_seed(0)
    model = b.torch_module.build_model().train()
    optimizer = b.torch_module.build_optimizer(model.parameters())
    seen: list[tuple[Any, Any]] = []
    second = model.get_submodule(b.model.layers[2].name)
    second.register_forward_hook(lambda m, args, out: seen.append((args[0].dtype, out.dtype)))
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.rand(16, 8, 8, 1) * 255
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = b.torch_module.build_loss()(model(x).float(), torch.zeros(16, 1))
    loss.backward()
    optimizer.step()
    assert seen == [(torch.bfloat16, torch.bfloat16)]  # the second one ran on bf16 tensors
    assert math.isfinite(loss.item())
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))


@pytest.mark.parametrize("kind", sorted(TRAINED))
def test_one_keras_step_under_mixed_bfloat16(built, kind: str) -> None:
    b = built((8, 8, 1), *trained_spec(kind, "keras"))
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(0)
        model = b.keras_module.compile_model(b.keras_module.build_model(), steps_per_execution=1)
        before = [w.numpy().copy() for w in model.trainable_weights]
        x = np.random.default_rng(0).uniform(0, 255, (16, 8, 8, 1)).astype(np.float32)
        loss = model.train_on_batch(x, np.zeros((16, 1), np.float32))
        augment = [model.get_layer(layer.name) for layer in b.model.layers if layer.kind == kind]
        assert [layer.compute_dtype for layer in augment] == ["bfloat16", "bfloat16"]
    finally:
        keras.config.set_dtype_policy(policy)
    assert math.isfinite(float(np.ravel(loss)[0]))
    assert any(not np.array_equal(w.numpy(), v) for w, v in zip(model.trainable_weights, before, strict=True))


# --------------------------------------------------------------------------- devices


def augmentation_modules() -> list[Any]:
    """One of each PyTorch module, in train mode, as the snippet file defines them."""
    from netspec.codegen.snippets import torch_augment as t

    return [
        t.RandomFlip("horizontal_and_vertical"),
        t.RandomCrop(6, 5),
        t.RandomCrop(8, 5),
        t.RandomTranslation((-0.1, 0.2), (0.0, 0.3), "reflect", "bilinear", 0.0),
        t.RandomRotation((-0.1, 0.1), "wrap", "nearest", 0.0),
        t.RandomZoom((-0.2, 0.2), (0.1, 0.3), "constant", "bilinear", 1.0),
        t.RandomContrast((0.0, 0.5), (0.0, 255.0)),
        t.Rescaling(0.5, 1.0),
    ]


def test_modules_read_no_values_on_the_host() -> None:
    """On the meta device tensors have shapes and no values: a module that reads one on the
    host (`.item()`, a branch on a value) or makes a tensor on another device fails here."""
    x = torch.empty(4, 3, 8, 8, device="meta")
    for module in augmentation_modules():
        out = module.train()(x)
        assert out.device.type == "meta" and out.shape[:2] == (4, 3), type(module).__name__


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_modules_run_on_cuda_under_autocast_without_a_sync() -> None:
    x = torch.rand(4, 3, 8, 8, device="cuda") * 255
    torch.cuda.set_sync_debug_mode("error")
    try:
        for module in augmentation_modules():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = module.train()(x.bfloat16())
            assert out.dtype == torch.bfloat16 and out.is_cuda, type(module).__name__
    finally:
        torch.cuda.set_sync_debug_mode("default")


# --------------------------------------------------------------------------- compile, weights


def test_compiling_augmentation_imports_no_framework(tmp_path: Path) -> None:
    spec = tmp_path / "augment.net"
    layers = (*(TRAINED[kind][0] for kind in sorted(TRAINED)), "Flatten", "Dense(1)")
    spec.write_text(spec_text((8, 8, 1), layers, "augment"))
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from netspec.cli import app\n"
        f"codes = [CliRunner().invoke(app, ['compile', {str(spec)!r}, '-t', t]).exit_code"
        " for t in ('torch', 'keras')]\n"
        "frameworks = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras'))\n"
        "print(json.dumps([codes, frameworks]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [[0, 0], []]


def test_weights_convert_through_keras_with_augmentation(tmp_path: Path) -> None:
    """The Keras layers' seed-generator states are no weights: a model with augmentation
    layers converts neutral → .keras → PyTorch with exactly the spec's tensors."""
    from typer.testing import CliRunner

    from netspec import weights
    from netspec.cli import app

    layers = ("RandomFlip", "RandomRotation(0.1)", "Conv2D(2, 3)", "RandomContrast(0.2)", "Flatten", "Dense(2)")
    spec = tmp_path / "aug.net"
    spec.write_text(spec_text((6, 6, 1), layers, "aug"))
    model, _ = check_source(spec.read_text(), str(spec))
    assert model is not None
    rng = np.random.default_rng(0)
    given = {n: rng.standard_normal(s).astype(np.float32) for n, s in weights.expected_shapes(model).items()}
    weights.save_weights(tmp_path / "n.safetensors", given, model)
    for source, target, to in (("n.safetensors", "m.keras", "keras"), ("m.keras", "t.safetensors", "torch")):
        result = CliRunner().invoke(
            app, ["weights", "convert", str(spec), str(tmp_path / source), "-o", str(tmp_path / target), "--to", to]
        )
        assert result.exit_code == 0, result.output
    from safetensors.numpy import load_file

    back = load_file(str(tmp_path / "t.safetensors"))
    assert sorted(back) == ["conv2d.bias", "conv2d.weight", "dense.bias", "dense.weight"]
    assert np.array_equal(back["dense.bias"], given["dense.bias"])
    assert np.array_equal(back["conv2d.weight"], given["conv2d.kernel"].transpose(3, 2, 0, 1))
