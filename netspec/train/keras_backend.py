"""Runs a generated Keras module on TensorFlow: device placement, threads, checkpoints, resume."""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from netspec import ir
from netspec.train.context import RunContext, TrainError, load_module


def check_device(device: str) -> str:
    """The device a request names ("cpu" or "cuda:N"); an absent one is a TrainError."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = ["cpu"] + [f"cuda:{i}" for i in range(len(gpus))]
    if device == "auto":
        chosen = "cuda:0" if gpus else "cpu"
    elif device in ("cuda", "mps"):  # TensorFlow sees an Apple GPU as a GPU, too
        chosen = "cuda:0"
    else:
        chosen = device
    if chosen not in names:
        raise TrainError(
            f"device '{device}' is not available to TensorFlow here",
            hint="available: " + ", ".join(names) + " (or --device auto)",
        )
    return chosen


def _tensorflow(ctx_threads: int, device: str) -> tuple[Any, str]:
    """Configure TensorFlow before its first op; returns it and the device to place on."""
    import tensorflow as tf

    chosen = check_device(device)
    gpus = tf.config.list_physical_devices("GPU")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(ctx_threads)
        tf.config.threading.set_inter_op_parallelism_threads(ctx_threads)
        if chosen == "cpu" and gpus:
            tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # already initialised in this process (tests): keep its settings
        pass
    placement = "/CPU:0" if chosen == "cpu" else f"/GPU:{chosen.split(':')[1]}"
    return tf, placement


def _callbacks(ctx: RunContext, history: dict[str, list[float]], epoch_seconds: list[float]):
    import keras

    config = ctx.config
    reporter = ctx.reporter
    samples, batch = ctx.data.samples, config.batch_size
    steps = -(-samples // batch)

    class Progress(keras.callbacks.Callback):
        """Progress and a checkpoint per epoch; adds the learning rate to the logs as `lr`."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()
            reporter.start_epoch(epoch, config.epochs, steps, samples)

        def on_train_batch_end(self, batch_index: int, logs: dict | None = None) -> None:
            if reporter.wants_steps and logs and "loss" in logs:
                done = min((batch_index + 1) * batch, samples)
                reporter.step(batch_index + 1, done, float(logs["loss"]))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs if logs is not None else {}
            logs.pop("learning_rate", None)
            logs["lr"] = float(np.asarray(self.model.optimizer.learning_rate))
            seconds = time.perf_counter() - self.started
            epoch_seconds.append(seconds)
            for name, value in logs.items():
                history.setdefault(name, []).append(float(value))
            self.model.save(ctx.run.checkpoint(epoch + 1, ".keras"))
            meta = {"epoch": epoch + 1, "history": history}
            path = ctx.run.checkpoint(epoch + 1, ".json")
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
            tmp.replace(path)
            ctx.run.write_history(history)
            reporter.end_epoch(
                epoch, config.epochs, {k: float(v) for k, v in logs.items()}, seconds
            )

    return [Progress()]


def _named(model: ir.Model, x: Any, y: Any = None) -> tuple[Any, Any]:
    """A model with several inputs or outputs takes dicts of arrays by input and output name."""
    if x is None or (len(model.inputs) == 1 and len(model.outputs) == 1):
        return x, y
    xs = dict(zip((source.name for source in model.inputs), x, strict=True))
    ys = None if y is None else dict(zip(model.outputs, y, strict=True))
    return xs, ys


def _build(ctx: RunContext, module: Any) -> Any:
    import keras

    keras.utils.set_random_seed(ctx.config.seed)
    model = module.compile_model(module.build_model())
    model.optimizer.build(model.trainable_variables)
    return model


def load_weights(model: Any, path: Path) -> None:
    """Weights (and optimizer state, when present) from a .keras file of the same spec."""
    try:
        with warnings.catch_warnings():
            # A functional model's internal containers hold no weights; Keras warns anyway.
            warnings.filterwarnings("ignore", message="Skipping nested container")
            model.load_weights(path)
    except (ValueError, KeyError) as error:
        raise TrainError(
            f"{path} does not hold this spec's weights: {error}",
            hint="weights load only into the spec they were trained from",
        ) from error


def run(ctx: RunContext) -> dict[str, Any]:
    config = ctx.config
    tf, placement = _tensorflow(ctx.threads, ctx.device)
    module = load_module(ctx.module_path, ctx.model.name)
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    epoch_seconds: list[float] = []
    data = ctx.data
    with tf.device(placement):
        model = _build(ctx, module)
        if ctx.resume and (initial_epoch := ctx.run.last_checkpoint()):
            load_weights(model, ctx.run.checkpoint(initial_epoch, ".keras"))
            meta = json.loads(ctx.run.checkpoint(initial_epoch, ".json").read_text("utf-8"))
            history.update(meta["history"])
        elif ctx.init_from is not None:
            from netspec.train.convert import load_into, partial_message

            kept = load_into(ctx.model, model, ctx.init_from, ctx.init_partial)
            if ctx.init_partial:
                ctx.reporter.message(partial_message(ctx.model, kept))
        ctx.info.update(device=placement, threads=ctx.threads)
        ctx.reporter.start(ctx.info)
        validation = _named(ctx.model, data.x_val, data.y_val) if data.x_val is not None else None
        if initial_epoch < config.epochs:
            module.fit(
                model,
                *_named(ctx.model, data.x_train, data.y_train),
                epochs=config.epochs,
                batch_size=config.batch_size,
                validation_data=validation,
                shuffle=config.shuffle,
                seed=config.seed,
                initial_epoch=initial_epoch,
                callbacks=_callbacks(ctx, history, epoch_seconds),
            )
        model.save(ctx.run / "model.keras")
        test = None
        if data.x_test is not None:
            test = {
                k: float(v)
                for k, v in module.evaluate(
                    model, *_named(ctx.model, data.x_test, data.y_test)
                ).items()
            }
    return {"history": history, "test": test, "epoch_seconds": epoch_seconds}


def evaluate_run(ctx: RunContext, weights: Path, x: Any, y: Any) -> dict[str, float]:
    tf, placement = _tensorflow(ctx.threads, ctx.device)
    module = load_module(ctx.module_path, ctx.model.name)
    with tf.device(placement):
        model = _build(ctx, module)
        load_weights(model, weights)
        figures = module.evaluate(model, *_named(ctx.model, x, y))
        return {k: float(v) for k, v in figures.items()}


def predict_run(ctx: RunContext, weights: Path, x: Any) -> Any:
    """An array of outputs; a tuple of arrays, one per output, for several outputs."""
    tf, placement = _tensorflow(ctx.threads, ctx.device)
    module = load_module(ctx.module_path, ctx.model.name)
    with tf.device(placement):
        model = _build(ctx, module)
        load_weights(model, weights)
        outputs = module.predict(model, _named(ctx.model, x)[0])
        if len(ctx.model.outputs) > 1:
            return tuple(np.asarray(a) for a in outputs)
        return np.asarray(outputs)
