"""One epoch of specs' generated Keras modules on N replicas (MirroredStrategy over logical
CPUs) or on one device (tests/test_distributed.py).

Usage: keras_steps.py OUT DEVICES JOBS_JSON. For each job writes OUT/<model>.json (the first 20
steps' mean losses) and OUT/<model>.npz (the weights after the epoch).
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from netspec.codegen import generate
from netspec.data import prepare
from netspec.frontend import check_source
from netspec.train.context import load_module


class Losses(keras.callbacks.Callback):
    """Each step's mean loss, from Keras' running mean over the epoch."""

    def __init__(self, samples: int, batch: int) -> None:
        super().__init__()
        self.samples, self.batch, self.means = samples, batch, []

    def on_train_batch_end(self, step: int, logs: dict | None = None) -> None:
        self.means.append(float(logs["loss"]))

    def losses(self) -> list[float]:
        done = [min((s + 1) * self.batch, self.samples) for s in range(len(self.means))]
        sums = [m * n for m, n in zip(self.means, done, strict=True)]
        return [(now - before) / (n - m) for now, before, n, m in zip(sums, [0.0, *sums], done, [0, *done], strict=False)]


def main() -> None:
    out, devices = Path(sys.argv[1]), int(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    strategy = None
    for spec, overrides in json.loads(sys.argv[3]):
        spec = Path(spec)
        model_ir, _ = check_source(spec.read_text(encoding="utf-8"), str(spec), overrides)
        assert model_ir is not None, f"{spec} does not check"
        config = model_ir.train
        prepared = prepare(model_ir, config)
        path = out / f"{model_ir.name}_{devices}.py"
        path.write_text(generate(model_ir, "keras"), encoding="utf-8")
        module = load_module(path, model_ir.name)
        strategy = strategy or module.build_strategy(devices)
        assert strategy.num_replicas_in_sync == devices
        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            model = module.compile_model(module.build_model(), steps_per_execution=1)
        x, y = prepared.train.arrays()
        losses = Losses(len(x), config.batch_size)
        module.fit(model, x, y, epochs=1, callbacks=[losses])
        (out / f"{model_ir.name}.json").write_text(json.dumps({"losses": losses.losses()[:20]}))
        np.savez(out / f"{model_ir.name}.npz", *[np.asarray(w) for w in model.get_weights()])


if __name__ == "__main__":
    main()
