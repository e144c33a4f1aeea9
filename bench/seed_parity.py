"""Same spec, same seed, shuffle on: how far apart are the PyTorch and Keras runs?

Trains the digits MLP (specs/digits_mlp.net) and a small CNN on scikit-learn's digits on
both generated modules, from the same weights (exported from the PyTorch model into the
Keras one), with shuffling on (the default), and prints each epoch's mean training loss on
both and the largest relative difference.

    PYTHONPATH=. .venv/bin/python bench/seed_parity.py --epochs 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from netspec import weights
from netspec.codegen import generate
from netspec.frontend import check_file, check_source
from netspec.train.context import load_module

SMALL_CNN = """
model small_cnn {
  input [8, 8, 1]
  layers {
    Conv2D(8, 3, activation=relu, padding=same)
    MaxPooling2D(2)
    Conv2D(16, 3, activation=relu)
    Flatten()
    Dense(10, activation=softmax)
  }
  loss      sparse_categorical_crossentropy
  optimizer Adam(lr=1e-3)
  train { batch_size = 32  seed = 0 }
}
"""


def digits(images: bool) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: standardized pixels (n, 64), or (n, 8, 8, 1) in [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    if images:
        x = (data.images / 16.0).reshape(-1, 8, 8, 1)
    else:
        x = (data.data - data.data.mean(0)) / (data.data.std(0) + 1e-6)
    return x.astype(np.float32), data.target.astype(np.int64)


def losses(model, folder: Path, x: np.ndarray, y: np.ndarray, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-epoch training losses (torch, keras) of `model`, shuffle on, same initial weights."""
    import torch

    modules = {}
    for target in ("torch", "keras"):
        path = folder / f"{model.name}_{target}.py"
        path.write_text(generate(model, target), encoding="utf-8")
        modules[target] = load_module(path, f"seed_parity_{model.name}_{target}")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch_model = modules["torch"].build_model()
    keras_model = modules["keras"].compile_model(modules["keras"].build_model())
    weights.import_weights(model, keras_model, weights.export_weights(model, torch_model))
    torch_history = modules["torch"].fit(
        torch_model, torch.from_numpy(x), torch.from_numpy(y), epochs=epochs, shuffle=True, seed=0
    )
    keras_history = modules["keras"].fit(keras_model, x, y, epochs=epochs, shuffle=True, seed=0)
    return np.array(torch_history["loss"]), np.array(keras_history["loss"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    mlp, diagnostics, _ = check_file("specs/digits_mlp.net")
    assert mlp is not None, list(diagnostics)
    cnn, diagnostics = check_source(SMALL_CNN, "small_cnn.net")
    assert cnn is not None, list(diagnostics)
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for model, images in ((mlp, False), (cnn, True)):
            x, y = digits(images)
            torch_loss, keras_loss = losses(model, Path(folder), x, y, args.epochs)
            relative = np.abs(torch_loss - keras_loss) / np.abs(keras_loss)
            worst = max(worst, float(relative.max()))
            print(f"{model.name}: {args.epochs} epochs, shuffle on, {len(x)} samples")
            for epoch, (a, b, r) in enumerate(zip(torch_loss, keras_loss, relative, strict=True)):
                print(f"  epoch {epoch + 1:2d}  torch {a:.7f}  keras {b:.7f}  relative {r:.2e}")
            print(f"  largest relative difference: {relative.max():.2e}")
    print(f"largest over both: {worst:.2e} ({'within' if worst <= 1e-5 else 'OVER'} 1e-5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
