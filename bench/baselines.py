"""Hand-written baselines for the training-speed benchmark (bench/train_speed.py).

The three seed models (specs/mnist_mlp.net, specs/mnist_cnn.net, specs/lstm_classifier.net)
written by hand, the way people write them, with no netspec code at all:

* ``tutorial``  PyTorch as the tutorials teach it: ``TensorDataset`` + ``DataLoader(shuffle=True)``,
                ``loss.item()`` (and the accuracy's ``.item()``) every step, default Adam, the CNN
                taking NCHW (the images are permuted once, when the tensors are built);
* ``careful``   PyTorch as a careful person writes it for data that fits in memory: the data is
                one tensor, one ``torch.randperm`` per epoch and index slicing, the loss and
                accuracy summed on the device with one host sync per epoch, ``Adam(fused=True)``,
                explicit ``torch.set_num_threads``; optionally channels-last memory for the CNN;
* ``keras``     the same network with ``keras.Sequential``, ``model.compile(...)`` and a plain
                ``model.fit(x, y, batch_size=B, epochs=E, verbose=0)``; ``steps_per_execution`` 1
                (Keras' default) or more.

Hyper-parameters are the specs': Adam lr 1e-3; MLP: softmax output and categorical
cross-entropy on one-hot labels; CNN: logits and sparse cross-entropy from logits; LSTM(64) ->
Dense(10) softmax and sparse cross-entropy. Pixels are divided by 255; MLP and CNN read 28x28x1
images, the LSTM 28 steps of 28 pixels. Weights use each framework's default initialisers, as
people leave them.

Every ``run_*`` function takes raw arrays (uint8 images ``(n, 28, 28)``, integer labels) and
returns ``{"epoch_seconds": [...], "train_accuracy": [...], "train_loss": [...],
"test_accuracy": float}``. An epoch's seconds run from the start of the epoch (the shuffle
included) to the moment its loss and accuracy are known on the host; the test evaluation is not
timed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

MODELS = ("mlp", "cnn", "lstm")
BATCH_SIZE = {"mlp": 32, "cnn": 64, "lstm": 64}
LEARNING_RATE = 1e-3
EPSILON = 1e-7  # Keras' clipping of probabilities before the log


# --------------------------------------------------------------------------- PyTorch


def torch_model(name: str) -> Any:
    """The spec's network as people write it in PyTorch (NCHW for the CNN)."""
    import torch
    from torch import nn

    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
            nn.Softmax(dim=1),
        )
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 3 * 3, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )
    if name == "lstm":

        class LSTMClassifier(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = nn.LSTM(28, 64, batch_first=True)
                self.fc = nn.Linear(64, 10)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                out, _ = self.lstm(x)
                return torch.softmax(self.fc(out[:, -1]), dim=1)

        return LSTMClassifier()
    raise ValueError(name)


def torch_loss(name: str) -> Any:
    """The spec's loss: Keras' cross-entropies on probabilities (MLP, LSTM), or from logits."""
    import torch
    from torch import nn

    if name == "mlp":  # softmax output, one-hot targets

        def categorical_crossentropy(probs: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
            return -(onehot * torch.log(probs.clamp(EPSILON, 1 - EPSILON))).sum(dim=1).mean()

        return categorical_crossentropy
    if name == "cnn":  # logits, class indices
        return nn.CrossEntropyLoss()

    def sparse_categorical_crossentropy(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.nll_loss(torch.log(probs.clamp(EPSILON, 1 - EPSILON)), labels)

    return sparse_categorical_crossentropy


def torch_tensors(name: str, images: np.ndarray, labels: np.ndarray) -> tuple[Any, Any, Any]:
    """(inputs, targets, class labels): pixels / 255, NCHW images or 28 steps x 28, one-hot for the MLP."""
    import torch

    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    if name in ("mlp", "cnn"):
        x = x.reshape(len(x), 28, 28, 1).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW, once
    labels_t = torch.from_numpy(labels.astype(np.int64))
    targets = torch.nn.functional.one_hot(labels_t, 10).float() if name == "mlp" else labels_t
    return x, targets, labels_t


def _evaluate_torch(model: Any, x: Any, labels: Any, batch_size: int = 1024) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            out = model(x[start : start + batch_size])
            correct += int((out.argmax(dim=1) == labels[start : start + batch_size]).sum())
    return correct / len(x)


def run_tutorial(name: str, data: dict[str, np.ndarray], epochs: int, seed: int = 0) -> dict:
    """The tutorial loop: DataLoader(shuffle=True), loss.item() every step, default Adam."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    batch_size = BATCH_SIZE[name]
    x, y, _ = torch_tensors(name, data["x_train"], data["y_train"])
    x_test, _, labels_test = torch_tensors(name, data["x_test"], data["y_test"])
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    model = torch_model(name)
    loss_fn = torch_loss(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

    result: dict[str, Any] = {"epoch_seconds": [], "train_loss": [], "train_accuracy": []}
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        running_loss, correct, seen = 0.0, 0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * len(xb)
            target = yb.argmax(dim=1) if name == "mlp" else yb
            correct += (out.argmax(dim=1) == target).sum().item()
            seen += len(xb)
        result["epoch_seconds"].append(time.perf_counter() - started)
        result["train_loss"].append(running_loss / seen)
        result["train_accuracy"].append(correct / seen)
    result["test_accuracy"] = _evaluate_torch(model, x_test, labels_test)
    result["threads"] = torch.get_num_threads()
    return result


def run_careful(
    name: str,
    data: dict[str, np.ndarray],
    epochs: int,
    threads: int,
    seed: int = 0,
    adam: str = "fused",
    channels_last: bool | None = None,
    metrics: bool = True,
) -> dict:
    """The careful loop: tensors in memory, randperm + index slicing, one sync per epoch.

    `adam` is "fused" (Adam(fused=True)), "foreach" (Adam(foreach=True)) or "default" (Adam's
    own choice, which on CPU tensors is the single-tensor for-loop, neither fused nor foreach); `channels_last` (CNN only,
    default: CAREFUL_CNN_CHANNELS_LAST) stores the model and images channels-last; `metrics=False`
    leaves out the on-device training accuracy (to see what it costs).
    """
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    batch_size = BATCH_SIZE[name]
    x, y, labels = torch_tensors(name, data["x_train"], data["y_train"])
    x_test, _, labels_test = torch_tensors(name, data["x_test"], data["y_test"])
    model = torch_model(name)
    if name == "cnn" and (CAREFUL_CNN_CHANNELS_LAST if channels_last is None else channels_last):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        x_test = x_test.contiguous(memory_format=torch.channels_last)
    loss_fn = torch_loss(name)
    options = {"fused": {"fused": True}, "foreach": {"foreach": True}, "default": {}}[adam]
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, **options)
    generator = torch.Generator().manual_seed(seed)

    result: dict[str, Any] = {"epoch_seconds": [], "train_loss": [], "train_accuracy": []}
    samples = len(x)
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(samples, generator=generator)
        sums = torch.zeros(2)  # loss and correct predictions, summed over the epoch
        for start in range(0, samples, batch_size):
            index = order[start : start + batch_size]
            out = model(x[index])
            loss = loss_fn(out, y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                sums[0] += loss.detach() * len(index)
                if metrics:
                    sums[1] += (out.argmax(dim=1) == labels[index]).sum()
        mean_loss, accuracy = (sums / samples).tolist()  # the epoch's one host sync
        result["epoch_seconds"].append(time.perf_counter() - started)
        result["train_loss"].append(mean_loss)
        result["train_accuracy"].append(accuracy if metrics else None)
    result["test_accuracy"] = _evaluate_torch(model, x_test, labels_test)
    result["threads"] = torch.get_num_threads()
    return result


# Measured by `bench/train_speed.py --experiments` (see bench/README.md, "Training speed").
CAREFUL_CNN_CHANNELS_LAST = True


# --------------------------------------------------------------------------- Keras


def keras_model(name: str) -> Any:
    """The spec's network with keras.Sequential (channels-last images, as Keras takes them)."""
    import keras
    from keras import layers

    if name == "mlp":
        return keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Flatten(),
                layers.Dense(256, activation="relu"),
                layers.Dense(10, activation="softmax"),
            ]
        )
    if name == "cnn":
        return keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(32, 3, activation="relu"),
                layers.MaxPooling2D(2),
                layers.Conv2D(64, 3, activation="relu"),
                layers.MaxPooling2D(2),
                layers.Conv2D(64, 3, activation="relu"),
                layers.Flatten(),
                layers.Dense(64, activation="relu"),
                layers.Dense(10),
            ]
        )
    if name == "lstm":
        return keras.Sequential(
            [
                keras.Input(shape=(28, 28)),
                layers.LSTM(64),
                layers.Dense(10, activation="softmax"),
            ]
        )
    raise ValueError(name)


def keras_arrays(name: str, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = images.astype(np.float32) / 255.0
    if name in ("mlp", "cnn"):
        x = x.reshape(len(x), 28, 28, 1)
    y = labels.astype(np.int64)
    if name == "mlp":
        y = np.eye(10, dtype=np.float32)[y]
    return x, y


def run_keras(
    name: str, data: dict[str, np.ndarray], epochs: int, steps_per_execution: int = 1, seed: int = 0
) -> dict:
    """model.compile + a plain model.fit(x, y, batch_size=B, epochs=E, verbose=0)."""
    import keras

    keras.utils.set_random_seed(seed)
    x, y = keras_arrays(name, data["x_train"], data["y_train"])
    x_test, y_test = keras_arrays(name, data["x_test"], data["y_test"])
    loss = {
        "mlp": "categorical_crossentropy",
        "cnn": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "lstm": "sparse_categorical_crossentropy",
    }[name]
    model = keras_model(name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss=loss,
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )

    class EpochTimer(keras.callbacks.Callback):  # the benchmark's stopwatch, nothing more
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(time.perf_counter() - self.started)

    timer = EpochTimer()
    history = model.fit(
        x, y, batch_size=BATCH_SIZE[name], epochs=epochs, verbose=0, callbacks=[timer]
    ).history
    test = model.evaluate(x_test, y_test, batch_size=1024, verbose=0, return_dict=True)
    return {
        "epoch_seconds": timer.seconds,
        "train_loss": [float(v) for v in history["loss"]],
        "train_accuracy": [float(v) for v in history["accuracy"]],
        "test_accuracy": float(test["accuracy"]),
        "jit_compile": bool(model.jit_compile),
    }
