"""Training mode: from the same weights, in the same data order, both targets learn alike.

specs/mnist_mlp.net trains for 3 epochs on real images — Fashion-MNIST where the Debian
package is installed, else scikit-learn's digits scaled up to 28x28 — on both targets, from
weights exported from the PyTorch model into the Keras one, without shuffling. Each epoch's
mean training loss must agree within 1 %.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from netspec import weights
from netspec.codegen import generate
from netspec.frontend import check_file
from netspec.train.context import load_module

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

FASHION = Path(os.environ.get("NETSPEC_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
SAMPLES = 2048


def real_images() -> tuple[np.ndarray, np.ndarray]:
    """(images 0-255 shaped (n, 28, 28, 1), integer labels)."""
    if (FASHION / "train-images-idx3-ubyte.gz").exists():
        from netspec.catalogue.data import load_idx_folder

        raw = load_idx_folder(FASHION, "Fashion-MNIST", "")
        x, y = raw.x[:SAMPLES], raw.y[:SAMPLES]
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = np.kron(digits.images, np.ones((3, 3))) * (255.0 / 16.0)  # 8x8 -> 24x24
        x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
        y = digits.target
    return x.reshape(-1, 28, 28, 1).astype(np.float32), y.astype(np.int64)


def test_mnist_mlp_loss_curves_agree(tmp_path: Path) -> None:
    model, diagnostics, _ = check_file("specs/mnist_mlp.net", {"epochs": "3", "shuffle": "false"})
    assert model is not None, list(diagnostics)
    modules = {}
    for target in ("torch", "keras"):
        path = tmp_path / f"mlp_{target}.py"
        path.write_text(generate(model, target), encoding="utf-8")
        modules[target] = load_module(path, f"parity_{target}")
    x, labels = real_images()
    x /= 255.0
    y = np.eye(10, dtype=np.float32)[labels]

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch_model = modules["torch"].build_model()
    keras_model = modules["keras"].compile_model(modules["keras"].build_model())
    weights.import_weights(model, keras_model, weights.export_weights(model, torch_model))

    torch_history = modules["torch"].fit(
        torch_model, torch.from_numpy(x), torch.from_numpy(y), epochs=3, shuffle=False
    )
    keras_history = modules["keras"].fit(keras_model, x, y, epochs=3, shuffle=False)
    torch_loss, keras_loss = np.array(torch_history["loss"]), np.array(keras_history["loss"])
    relative = np.abs(torch_loss - keras_loss) / keras_loss
    assert relative.max() < 0.01, (torch_loss, keras_loss)
    assert torch_loss[-1] < torch_loss[0]  # it did learn


SMALL_CNN = """
model small_cnn {
  input [8, 8, 1]
  layers {
    Conv2D(4, 3, activation=relu, padding=same)
    MaxPooling2D(2)
    Flatten()
    Dense(10, activation=softmax)
  }
  loss      sparse_categorical_crossentropy
  optimizer Adam(lr=1e-2)
  train { batch_size = 32  seed = 3 }
}
"""


@pytest.mark.parametrize("spec", ["digits_mlp", "small_cnn"])
def test_shuffled_runs_agree(tmp_path: Path, spec: str) -> None:
    """Shuffle on (the default): both modules visit the samples in one order drawn from
    (seed, epoch), so from the same weights the per-epoch losses agree to float32 noise
    (bench/seed_parity.py measures 20 epochs on all the digits)."""
    from sklearn.datasets import load_digits

    from netspec.frontend import check_source

    if spec == "digits_mlp":
        model, diagnostics, _ = check_file("specs/digits_mlp.net", {"seed": "3"})
    else:
        model, diagnostics = check_source(SMALL_CNN, "small_cnn.net")
    assert model is not None, list(diagnostics)
    modules = {}
    for target in ("torch", "keras"):
        path = tmp_path / f"{spec}_{target}.py"
        path.write_text(generate(model, target), encoding="utf-8")
        modules[target] = load_module(path, f"shuffled_{spec}_{target}")
    data = load_digits()
    x = data.images[:400] / 16.0
    x = x.reshape(-1, 64) if spec == "digits_mlp" else x.reshape(-1, 8, 8, 1)
    x, y = x.astype(np.float32), data.target[:400].astype(np.int64)

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch_model = modules["torch"].build_model()
    keras_model = modules["keras"].compile_model(modules["keras"].build_model())
    weights.import_weights(model, keras_model, weights.export_weights(model, torch_model))
    torch_history = modules["torch"].fit(
        torch_model, torch.from_numpy(x), torch.from_numpy(y), epochs=3, seed=3
    )
    keras_history = modules["keras"].fit(keras_model, x, y, epochs=3, seed=3)
    torch_loss, keras_loss = np.array(torch_history["loss"]), np.array(keras_history["loss"])
    relative = np.abs(torch_loss - keras_loss) / keras_loss
    assert relative.max() < 1e-5, (torch_loss, keras_loss)
    assert torch_loss[-1] < torch_loss[0]  # it did learn
