"""Runs a generated Keras module on TensorFlow: device placement, threads, checkpoints, resume."""

from __future__ import annotations

import json
import os
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from netspec import ir
from netspec.train import atomic
from netspec.train.backend import Init
from netspec.train.checkpoints import Keeping
from netspec.train.context import RunContext, TrainError, load_module
from netspec.train.figures import tidy
from netspec.train.nonfinite import check_epoch, skip_reporter

MOST_STEPS_PER_EXECUTION = 32
"""Steps per call into TensorFlow at most (the generated compile_model's default)."""

BAR_UPDATES = 25
"""Times an epoch's bar moves, about: a call of several steps reports once, at its end."""


def steps_per_execution(steps: int) -> int:
    """Steps per call into TensorFlow for an epoch of `steps`: up to 32, which saves Python
    overhead, but few enough that the bar moves about BAR_UPDATES times an epoch, as the
    PyTorch one does, and soon after the first step instead of after the first 32."""
    return max(1, min(MOST_STEPS_PER_EXECUTION, steps // BAR_UPDATES))


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


def versions() -> dict[str, Any]:
    """The framework's versions, for run.json."""
    import keras
    import tensorflow as tf

    build = dict(tf.sysconfig.get_build_info())
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "cuda": build.get("cuda_version"),
        "cudnn": build.get("cudnn_version"),
    }


def describe_device(requested: str) -> dict[str, Any]:
    """The device a run takes, as the plan line and run.json state it."""
    import tensorflow as tf

    from netspec.train.doctor import cpu_name, tensorflow_report

    chosen = check_device(requested)
    info: dict[str, Any] = {"device": chosen}
    if chosen == "cpu":
        info["device_name"] = cpu_name()
        info["description"] = f"cpu ({info['device_name']})"
        if requested == "auto":
            info["why_not_gpu"] = tensorflow_report(brief=True).get("why_no_gpu")
    else:
        gpu = tf.config.list_physical_devices("GPU")[int(chosen.split(":")[1])]
        name = tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        info["device_name"] = name
        info["description"] = f"{chosen} ({name})"
    return info


def device_free_bytes(requested: str) -> None:
    """The Keras pipeline keeps data in memory on the host (tf.data), so only the host's
    memory bounds it: TensorFlow reports no free GPU memory before it allocates."""
    return None


def check_precision(precision: str, requested: str) -> None:
    """bf16 needs a GPU that computes in it (Ampere or newer); a TrainError before training."""
    import tensorflow as tf

    chosen = check_device(requested)
    if precision != "bf16" or chosen == "cpu":
        return
    gpu = tf.config.list_physical_devices("GPU")[int(chosen.split(":")[1])]
    capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
    if capability is not None and tuple(capability) < (8, 0):
        raise TrainError(
            f"precision bf16 needs a GPU with bfloat16 support (compute capability 8.0 or "
            f"more); this one has {'.'.join(str(c) for c in capability)}",
            hint="use precision = fp16 (with loss scaling) on this GPU, or fp32",
        )


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
    keeping = Keeping.of(ctx.model)

    class Progress(keras.callbacks.Callback):
        """Progress and a checkpoint per epoch; adds the learning rate to the logs as `lr`."""

        traced = False  # the first call into TensorFlow traces the training step first

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()
            reporter.start_epoch(epoch, config.epochs, steps, samples)

        def on_train_batch_begin(self, batch_index: int, logs: dict | None = None) -> None:
            if not self.traced:
                reporter.waiting("first step: TensorFlow traces the model…")

        def on_train_batch_end(self, batch_index: int, logs: dict | None = None) -> None:
            self.traced = True
            if reporter.wants_steps and logs and "loss" in logs:
                done = min((batch_index + 1) * batch, samples)
                reporter.step(min(batch_index + 1, steps), done, float(logs["loss"]))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs if logs is not None else {}
            logs.pop("learning_rate", None)
            logs["lr"] = float(np.asarray(self.model.optimizer.learning_rate))
            figures = tidy(logs, ctx.model)  # PyTorch's order; float32 without false digits
            check_epoch(figures, epoch + 1)  # weights gone non-finite at the last step: no checkpoint
            seconds = time.perf_counter() - self.started
            epoch_seconds.append(seconds)
            for name, value in figures.items():
                history.setdefault(name, []).append(value)
            atomic.write_with(ctx.run.checkpoint(epoch + 1, ".keras"), self.model.save)
            meta = {
                "epoch": epoch + 1,
                "history": history,
                "workers": ctx.replicas,
                "seed_states": seed_states(self.model),
            }
            # the JSON, written last, marks the checkpoint complete; each file is whole
            atomic.write_text(ctx.run.checkpoint(epoch + 1, ".json"), json.dumps(meta, indent=1))
            keeping.after_epoch(ctx.run, history)
            ctx.run.write_history(history)
            reporter.end_epoch(epoch, config.epochs, figures, seconds)

    return [Progress()]


def seed_states(model: Any) -> list[list[int]]:
    """The state of each random-number generator of the model (Dropout's, noise layers'), in
    the model's order of variables: Keras saves none of them in a .keras file, and a resumed
    run that started them afresh would drop other units than the uninterrupted run. (By
    order, not by path: a path's number grows with each model built in one process.)"""
    return [[int(v) for v in np.asarray(variable.value).ravel()] for variable in _generators(model)]


def restore_seed_states(model: Any, states: list[list[int]]) -> None:
    """The generators' states as a checkpoint saved them (seed_states)."""
    generators = _generators(model)
    if len(generators) != len(states):
        return  # a checkpoint of an older netspec: the generators start afresh
    for variable, state in zip(generators, states, strict=True):
        variable.assign(np.asarray(state, dtype=variable.dtype))


def _generators(model: Any) -> list[Any]:
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _named(model: ir.Model, x: Any, y: Any = None) -> tuple[Any, Any]:
    """A model with several inputs or outputs takes dicts of arrays by input and output name."""
    if x is None or model.single_io:
        return x, y
    xs = dict(zip((source.name for source in model.inputs), x, strict=True))
    ys = None if y is None else dict(zip(model.outputs, y, strict=True))
    return xs, ys


def _build(ctx: RunContext, module: Any, steps: int | None = None) -> Any:
    """The compiled model; for training, `steps` an epoch sizes its calls into TensorFlow."""
    import keras

    keras.utils.set_random_seed(ctx.config.seed)
    if steps is None:
        model = module.compile_model(module.build_model())
    else:
        model = module.compile_model(module.build_model(), steps_per_execution(steps))
    model.optimizer.build(model.trainable_variables)
    return model


def load_weights(model: Any, path: Path) -> None:
    """Weights from a .keras file of the same spec: a checkpoint (with the optimizer's state,
    which it loads too) or a network for inference (a run's model.keras, written by the
    generated inference_model: standard Keras layers, no optimizer), copied layer by layer."""
    try:
        if _holds_optimizer(path):
            with warnings.catch_warnings():
                # A functional model's internal containers hold no weights; Keras warns anyway.
                warnings.filterwarnings("ignore", message="Skipping nested container")
                model.load_weights(path)
        else:
            _copy_layer_weights(path, model)
    except (ValueError, KeyError, TypeError) as error:
        raise TrainError(
            f"{path} does not hold this spec's weights: {error}",
            hint="weights load only into the spec they were trained from",
        ) from error


def _holds_optimizer(path: Path) -> bool:
    """Whether a .keras file is of a compiled model (a checkpoint): its config says."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise TrainError(f"cannot read {path} as a .keras file: {error}") from error
    return bool(config.get("compile_config"))


def _copy_layer_weights(path: Path, model: Any) -> None:
    """The weights of each layer of a saved network into the layer of that name in `model`
    (a layer the generated module defines is, in the file, its standard-Keras equivalent of
    the same name and weights)."""
    import keras

    saved = keras.saving.load_model(path, compile=False)
    weighted = {layer.name: layer for layer in saved.layers if layer.weights}
    wanted = [layer for layer in model.layers if layer.weights]
    missing = [layer.name for layer in wanted if layer.name not in weighted]
    extra = sorted(set(weighted) - {layer.name for layer in wanted})
    problems = [f"the file lacks layers {', '.join(missing)}"] if missing else []
    if extra:
        problems.append(f"the spec has no layers {', '.join(extra)}")
    if problems:
        raise ValueError("; ".join(problems))
    for layer in wanted:
        layer.set_weights(weighted[layer.name].get_weights())


def _split_data(ctx: RunContext, split: Any, targets: bool = True) -> tuple[Any, Any]:
    """A split as the generated fit/evaluate take it: arrays (dicts of them by name, for
    several inputs or outputs) in memory, or the split itself, a batch source, streamed."""
    if split is None:
        return None, None
    if ctx.plan.pipeline == "stream":
        return split, None
    x, y = split.arrays()
    return _named(ctx.model, x, y if targets else None)


def _strategy(ctx: RunContext, module: Any, tf: Any, placement: str) -> Any:
    """The scope to build the model in: that of the generated module's tf.distribute
    strategy for several replicas (--devices N, whose batch train() has checked), else the
    chosen device."""
    try:
        strategy = module.build_strategy(ctx.devices)
    except ValueError as error:
        raise TrainError(str(error), hint="--devices at most the GPUs of this machine") from None
    if strategy.num_replicas_in_sync == 1:
        return tf.device(placement)
    return strategy.scope()


def run(ctx: RunContext, init: Init) -> dict[str, Any]:
    config = ctx.config
    tf, placement = _tensorflow(ctx.threads, ctx.device)
    module = load_module(ctx.module_path, ctx.model.name, ctx.module_source)
    scope = _strategy(ctx, module, tf, placement)
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    epoch_seconds: list[float] = []
    data, plan = ctx.data, ctx.plan
    workers = plan.workers or None  # None: tf.data chooses how many batches it reads at once
    with scope:
        model = _build(ctx, module, -(-data.samples // config.batch_size))
        if ctx.resume and (initial_epoch := ctx.run.last_checkpoint()):
            load_weights(model, ctx.run.checkpoint(initial_epoch, ".keras"))
            meta = json.loads(ctx.run.checkpoint(initial_epoch, ".json").read_text("utf-8"))
            history.update(meta["history"])
            restore_seed_states(model, meta.get("seed_states", []))
        elif ctx.init_from is not None:
            init(ctx, model)
        ctx.reporter.start(ctx.info)
        if ctx.resume:
            ctx.reporter.message(ctx.run.resume_line(initial_epoch, config.epochs))
        x, y = _split_data(ctx, data.train)
        validation = None
        if data.validation is not None:
            x_val, y_val = _split_data(ctx, data.validation)
            validation = (x_val, y_val) if plan.pipeline == "memory" else x_val
        if initial_epoch < config.epochs:
            module.fit(
                model,
                x,
                y,
                epochs=config.epochs,
                batch_size=config.batch_size,
                validation_data=validation,
                shuffle=config.shuffle,
                seed=config.seed,
                workers=workers,
                initial_epoch=initial_epoch,
                callbacks=_callbacks(ctx, history, epoch_seconds),
                **({"on_skip": skip_reporter(ctx.reporter)} if config.on_nan == "skip" else {}),
            )
        keeping = Keeping.of(ctx.model)
        saved = keeping.saved_epoch(history)
        if keeping.restore_best and initial_epoch:  # fit restores among the epochs it trained
            load_weights(model, ctx.run.checkpoint(saved, ".keras"))
        network = module.inference_model(model)  # plain Keras loads it
        atomic.write_with(ctx.run / "model.keras", network.save)
        test = None
        if data.test is not None:
            x_test, y_test = _split_data(ctx, data.test)
            test = tidy(module.evaluate(model, x_test, y_test, workers=workers), ctx.model)
    return {
        "history": history,
        "test": test,
        "epoch_seconds": epoch_seconds,
        "saved_epoch": saved,
        "best": keeping.best_record(history),
    }


def evaluate_run(ctx: RunContext, weights: Path, split: Any) -> dict[str, float]:
    """The figures of a trained model on a split, in memory or streamed as the plan says."""
    tf, placement = _tensorflow(ctx.threads, ctx.device)
    module = load_module(ctx.module_path, ctx.model.name, ctx.module_source)
    with tf.device(placement):
        model = _build(ctx, module)
        load_weights(model, weights)
        x, y = _split_data(ctx, split)
        figures = module.evaluate(model, x, y, workers=ctx.plan.workers or None)
        return {k: float(v) for k, v in figures.items()}


def predict_run(ctx: RunContext, weights: Path, inputs: Any) -> Any:
    """The outputs for a split of inputs alone: an array, or a tuple of arrays, one per output,
    for several outputs."""
    tf, placement = _tensorflow(ctx.threads, ctx.device)
    module = load_module(ctx.module_path, ctx.model.name, ctx.module_source)
    with tf.device(placement):
        model = _build(ctx, module)
        load_weights(model, weights)
        x, _ = _split_data(ctx, inputs, targets=False)
        outputs = module.predict(model, x, workers=ctx.plan.workers or None)
        if len(ctx.model.outputs) > 1:
            return tuple(np.asarray(a) for a in outputs)
        return np.asarray(outputs)
