"""The training code written into a generated Keras module.

`model.fit` runs the steps, several per call into TensorFlow (`steps_per_execution`), with
XLA off unless the spec says `compile = true` (measured slower for convolutions on CPUs).
Batches come from a `tf.data` pipeline whose order for epoch e is drawn from (seed, e)
alone, so a run resumed at epoch e repeats the uninterrupted one, and every callback sees
one `fit` call. The pipeline takes the data one of two ways, in the same order:

* in memory — arrays become constants and batches are gathered by index (`epoch_batches`);
* streamed — a batch source is read by `tf.numpy_function`, several batches in parallel,
  with prefetch (`stream_batches`).

Under tf.distribute (`build_strategy`: MirroredStrategy over the local devices) the model is
built and compiled in the strategy's scope, the spec's batch_size is the global batch, and each of the
N replicas takes every N-th sample of it (`replica_shards`), as the PyTorch module does under
torchrun; Keras sums the figures over the replicas.

A model with several inputs or outputs is fitted on dicts of arrays keyed by input and
output name, with the spec's loss weights; Keras names the figures (`loss`, `plan_loss`,
`plan_accuracy`, …). With mixed precision the layers carry a mixed dtype policy (float32
weights, bfloat16 or float16 compute), the layers that make the outputs compute in
float32, and fp16 scales the loss (`LossScaleOptimizer`).
"""

from __future__ import annotations

import textwrap

from netspec import catalogue, ir
from netspec.codegen.snippets import definition
from netspec.codegen.training import plan, write_schedule_factor
from netspec.codegen.writer import Writer, literal
from netspec.pycode import Code, PyCall

STEPS_PER_EXECUTION = 32

READS_PER_CALL = 8
"""Batches a streamed Keras pipeline reads per call into Python (tf.numpy_function): the call
costs about as much as a batch of reads, so reading several at once keeps it small."""

DTYPE_POLICIES = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def dtype_policy(config: ir.TrainConfig) -> str | None:
    """Keras' dtype policy for the spec's mixed precision; None for fp32."""
    return DTYPE_POLICIES.get(config.precision)


def _targets(model: ir.Model) -> list[tuple[str, str, ir.Shape]]:
    """(output, tf dtype, per-sample shape) of each output's targets, as its loss takes them."""
    found = []
    for loss in model.losses:
        sparse = catalogue.loss(loss.kind).target == "sparse"
        found.append(
            (loss.output, "tf.int64" if sparse else "tf.float32", () if sparse else model.shape_of(loss.output))
        )
    return found


def _tuple(items: list[str]) -> str:
    """Python source of a tuple of source fragments."""
    return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def write(w: Writer, model: ir.Model) -> None:
    training = plan(model)
    config = model.train
    dicts = not model.single_io
    scaled = config.lr_scaling == "linear" and training.schedule_factor is not None
    w.line()
    w.line()
    _write_compile(w, config, dicts)
    callbacks: list[PyCall] = []
    if training.schedule is not None:
        if training.schedule_factor is not None:
            write_schedule_factor(w, training)
            lr = literal(training.base_lr)
            if scaled:
                lr += " * replicas"
            callbacks.append(
                PyCall(
                    "keras.callbacks.LearningRateScheduler",
                    (Code(f"lambda epoch, lr: {lr} * learning_rate_factor(epoch)"),),
                )
            )
        else:
            entry = catalogue.schedule(training.schedule.kind)
            params = training.schedule.params
            callbacks.append(entry.keras(params, training.monitor, training.mode))
    if training.early_stopping is not None:
        callbacks.append(
            PyCall(
                "keras.callbacks.EarlyStopping",
                (),
                {
                    "monitor": training.monitor,
                    "patience": training.early_stopping,
                    "mode": training.mode,
                    "min_delta": training.min_delta,
                },
            )
        )
    if training.restore_best:
        callbacks.append(
            PyCall(
                "RestoreBest",
                (training.monitor,),
                {"min_delta": training.min_delta, "higher": training.higher_is_better},
            )
        )
        w.line()
        w.line()
        w.lines(definition("monitor", "best_epoch"))
        w.line()
        w.line()
        w.lines(definition("keras_monitor", "RestoreBest"))
    w.line()
    w.line()
    if scaled:
        w.line("def build_callbacks(replicas: int = 1) -> list[keras.callbacks.Callback]:")
    else:
        w.line("def build_callbacks() -> list[keras.callbacks.Callback]:")
    with w.indent():
        w.docstring(
            "The spec's learning-rate schedule and early stopping, if any."
            + (
                "\nrestore_best = true: RestoreBest ends training with the best epoch's weights."
                if training.restore_best
                else ""
            )
            + ("\nlr_scaling = linear: the schedule's rates times the replicas." if scaled else "")
        )
        w.value("return ", callbacks)
    w.line()
    w.line()
    w.lines(definition("nonfinite", "NonFiniteLoss"))
    w.line()
    w.line()
    w.lines(definition("nonfinite", "check_finite"))
    names = ("SkippedSteps", "SkipNonFiniteSteps", "ReportSkippedSteps")
    for name in names if config.on_nan == "skip" else ("StopOnNonFiniteLoss",):
        w.line()
        w.line()
        w.lines(definition("keras_nonfinite", name))
    for name in ("build_strategy", "replica_shards"):
        w.line()
        w.line()
        w.lines(definition("keras_distributed", name))
    w.line()
    w.line()
    w.lines(definition("order", "sample_order"))
    for name in ("EpochOrder", "epoch_indices", "epoch_order", "run_indices"):
        w.line()
        w.line()
        w.lines(definition("keras_data", name))
    w.line()
    w.line()  # the batches in memory: real Python in snippets/keras_data*.py
    w.lines(definition("keras_data_dicts" if dicts else "keras_data", "epoch_batches"))
    _write_stream_batches(w, model, dicts)
    _write_fit(w, config, dicts, scaled)
    _write_evaluate_predict(w, dicts, model.outputs[0] if len(model.outputs) == 1 else None)


def _write_compile(w: Writer, config: ir.TrainConfig, dicts: bool) -> None:
    fp16 = config.precision == "fp16"
    w.line(
        "def compile_model(model: keras.Model, steps_per_execution: int = "
        f"{STEPS_PER_EXECUTION}) -> keras.Model:"
    )
    with w.indent():
        what = (
            "Attach the spec's optimizer, losses, loss weights and metrics, keyed by output name."
            if dicts
            else "Attach the spec's optimizer, loss and metrics."
        )
        notes = ["Several steps run per TensorFlow call (one under a strategy of several replicas)"]
        if config.compile:
            notes.append("XLA compiles them (compile = true)")
        if fp16:
            notes.append("the loss is scaled (float16 gradients would underflow)")
        notes.append(
            "float32 products on GPUs use TF32" if config.tf32 else "float32 products stay IEEE (no TF32)"
        )
        body = "\n".join(textwrap.wrap("; ".join(notes) + ".", 88))
        w.docstring(f"{what}\n\n{body}")
        w.line(f"tf.config.experimental.enable_tensor_float_32_execution({literal(config.tf32)})")
        if config.sync_batchnorm:
            w.line("for layer in model.layers:  # sync_batchnorm = true: the global batch's statistics")
            with w.indent():
                w.line("if isinstance(layer, layers.BatchNormalization):")
                with w.indent():
                    w.line("layer.synchronized = True  # summed over the replicas under tf.distribute")
        w.line("if tf.distribute.get_strategy().num_replicas_in_sync > 1:")
        with w.indent():
            w.line("steps_per_execution = 1  # several fail under tf.distribute (keras-team/keras#19246)")
        w.line("model.compile(")
        with w.indent():
            if fp16:
                w.line("optimizer=keras.optimizers.LossScaleOptimizer(build_optimizer()),")
            else:
                w.line("optimizer=build_optimizer(),")
            w.line("loss=build_loss(),")
            if dicts:
                w.line("loss_weights=LOSS_WEIGHTS,")
            w.line("metrics=build_metrics(),")
            w.line("steps_per_execution=steps_per_execution,")
            w.line(f"jit_compile={literal(config.compile)},")
        w.line(")")
        w.line("return model")


def _write_stream_batches(w: Writer, model: ir.Model, dicts: bool) -> None:
    targets = _targets(model)
    inputs = [(source.name, source.shape) for source in model.inputs]
    w.line()
    w.line()
    w.signature(
        "stream_batches",
        (
            "source: object",
            "batch_size: int",
            "seed: int = 0",
            "epoch: tf.Variable | None = None",
            "shuffle: bool = True",
            "workers: int | None = None",
            "targets: bool = True",
            "strategy: tf.distribute.Strategy | None = None",
            "span: tuple[int, int] = (0, 1)",
        ),
        "tf.data.Dataset | tf.distribute.DistributedDataset",
    )
    with w.indent():
        shape = "tuples of arrays, in the spec's order of inputs and outputs" if dicts else "arrays"
        w.docstring(
            "One epoch of batches read from a batch source: len(source) samples, and\n"
            f"source[indices] → (x, y) as NumPy {shape}, converted as the model takes them;\n"
            "`workers` reads run at once (None: as many as tf.data finds best), in the order\n"
            "epoch_indices draws. With targets=False the batches hold x alone. Under a\n"
            "strategy of several replicas each reads its shard of every batch, of the epochs\n"
            "`span` (first, end) one after the other."
        )
        w.line("samples = len(source)")
        w.line()
        w.line("def read(index: np.ndarray) -> tuple[np.ndarray, ...]:")
        with w.indent():
            w.line("x, y = source[index]")
            if dicts:
                w.line("return (*x, *y) if targets else tuple(x)  # tuples of arrays")
            else:
                w.line("return (x, y) if targets else (x,)")
        w.line()
        returns = (
            "tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]] | dict[str, tf.Tensor]"
            if dicts
            else "tuple[tf.Tensor, tf.Tensor] | tf.Tensor"
        )
        w.function("read_batch", ["index: tf.Tensor"], returns)
        with w.indent():
            x_dtypes = ["tf.float32"] * len(inputs)
            y_dtypes = [dtype for _, dtype, _ in targets]
            dtypes = f"{_tuple(x_dtypes + y_dtypes)} if targets else {_tuple(x_dtypes)}"
            if w.fits(f"dtypes = {dtypes}"):
                w.line(f"dtypes = {dtypes}")
            else:  # as ruff format breaks it
                w.line("dtypes = (")
                w.line(f"    {dtypes}")
                w.line(")")
            w.line("arrays = tf.numpy_function(read, [index], dtypes, stateful=False)")
            shapes = [shape for _, shape in inputs] + [shape for _, _, shape in targets]
            w.line(
                "for array, shape in zip(arrays, "
                f"{literal(tuple(tuple(s) for s in shapes))}, strict=False):"
            )
            with w.indent():
                w.line("array.set_shape((None, *shape))")
            n = len(inputs)
            if dicts:
                x_dict = "{" + ", ".join(f"{literal(name)}: arrays[{k}]" for k, (name, _) in enumerate(inputs)) + "}"
                y_dict = "{" + ", ".join(
                    f"{literal(name)}: arrays[{n + k}]" for k, (name, _, _) in enumerate(targets)
                ) + "}"
                w.line(f"x = {x_dict}")
                w.line(f"return (x, {y_dict}) if targets else x")
            else:
                w.line("return (arrays[0], arrays[1]) if targets else arrays[0]")
        w.line()
        w.line("reads = workers or tf.data.AUTOTUNE")
        w.line("if strategy is not None and strategy.num_replicas_in_sync > 1:  # a shard per replica")
        with w.indent():
            w.line("indices = run_indices(samples, batch_size, seed, *span, shuffle)")
            w.line("return strategy.distribute_datasets_from_function(")
            with w.indent():
                w.line("lambda context: (")
                with w.indent():
                    w.line("replica_shards(indices, context)")
                    w.line(".map(read_batch, num_parallel_calls=reads, deterministic=True)")
                    w.line(".prefetch(tf.data.AUTOTUNE)")
                w.line(")")
            w.line(")")
        w.line("return (")
        with w.indent():
            w.line(f"epoch_indices(samples, batch_size * {READS_PER_CALL}, seed, epoch, shuffle)")
            w.line(".map(read_batch, num_parallel_calls=reads, deterministic=True)")
            w.line(f".unbatch()  # {READS_PER_CALL} batches a read, cut back into batches: the same ones")
            w.line(".batch(batch_size)")
            w.line(".apply(tf.data.experimental.assert_cardinality(math.ceil(samples / batch_size)))")
            w.line(".prefetch(tf.data.AUTOTUNE)")
        w.line(")")


def _write_fit(w: Writer, config: ir.TrainConfig, dicts: bool, scaled: bool) -> None:
    arrays = "dict[str, np.ndarray]" if dicts else "np.ndarray"
    memory = "dict" if dicts else "np.ndarray"
    w.line()
    w.line()
    w.signature(
        "fit",
        (
            "model: keras.Model",
            "x: object",
            f"y: {arrays} | None = None",
            "*",
            f"epochs: int = {literal(config.epochs)}",
            f"batch_size: int = {literal(config.batch_size)}",
            "validation_data: object | None = None",
            f"shuffle: bool = {literal(config.shuffle)}",
            f"seed: int = {literal(config.seed)}",
            "workers: int | None = None",
            "initial_epoch: int = 0",
            "callbacks: list[keras.callbacks.Callback] | None = None",
            "verbose: int = 0",
            *(
                ["on_skip: Callable[[int, int, float], None] | None = None"]
                if config.on_nan == "skip"
                else []
            ),
        ),
        "dict[str, list[float]]",
    )
    with w.indent():
        kind = "dicts of arrays by input and output name" if dicts else "arrays"
        w.docstring(
            "Train a compiled model as the spec says; returns every epoch's figures by name.\n\n"
            f"x and y are {kind} (the data in memory), or x is a batch source read while\n"
            "training by `workers` parallel readers (y None); validation_data is a pair (x, y)\n"
            "or a batch source. Epoch e visits the samples in an order drawn from (seed, e)\n"
            "alone either way, so a run resumed at epoch e (from a checkpoint with its optimizer\n"
            "state) repeats the uninterrupted one. A model built and compiled in a\n"
            "strategy's scope (build_strategy) trains data-parallel."
            + (
                "\n\non_nan = skip: a step whose loss is NaN or infinite updates nothing and counts in\n"
                "no figure; `on_skip(epoch, step, loss)` hears of it (counted from 1). One replica only."
                if config.on_nan == "skip"
                else "\n\non_nan = stop: a NaN or infinite loss raises NonFiniteLoss."
            )
        )
        length = "len(next(iter(x.values())))" if dicts else "len(x)"
        w.line("order = EpochOrder()")
        w.line("strategy = model.distribute_strategy  # the one it was built in: build_strategy()")
        w.line("replicated = strategy.num_replicas_in_sync > 1")
        w.line("span = (initial_epoch, epochs)  # under a strategy: one dataset for the whole run")
        w.line(f"if isinstance(x, {memory}):")
        with w.indent():
            w.line(f"samples = {length}")
            w.line("batches = epoch_batches(x, y, batch_size, seed, order.epoch, shuffle, strategy, span)")
        w.line("else:")
        with w.indent():
            w.line("samples = len(x)")
            w.line("batches = stream_batches(")
            with w.indent():
                w.line("x, batch_size, seed, order.epoch, shuffle, workers, strategy=strategy, span=span")
            w.line(")")
        if config.on_nan == "skip":
            w.line("if replicated:")
            with w.indent():
                w.line('raise ValueError("on_nan = skip trains on one replica (one device)")')
            w.line("if model.skipped is None:  # where its training step writes the skipped steps")
            with w.indent():
                w.line("model.skipped = SkippedSteps(model.steps_per_execution)  # one, as the step is traced once")
            w.line("nonfinite = ReportSkippedSteps(model.skipped, on_skip)")
        else:
            w.line("nonfinite = StopOnNonFiniteLoss()")
        w.line("in_memory = validation_data is None or isinstance(validation_data, tuple)")
        w.line("if validation_data is not None and replicated:")
        with w.indent():
            w.line("validation_data = evaluation_batches(validation_data, strategy, workers)")
            w.line("in_memory = False")
        w.line("elif not in_memory:")
        with w.indent():
            w.line("validation_data = stream_batches(validation_data, 1024, shuffle=False, workers=workers)")
        w.line("with strategy.scope():")
        with w.indent():
            w.line("result = model.fit(")
            with w.indent():
                w.line("batches,")
                w.line("epochs=epochs,")
                w.line("initial_epoch=initial_epoch,")
                w.line("steps_per_epoch=math.ceil(samples / batch_size) if replicated else None,")
                w.line("validation_data=validation_data,")
                w.line("validation_batch_size=1024 if in_memory else None,")
                w.line("shuffle=False,")
                if config.class_weight is not None:
                    w.line(f"class_weight={literal(dict(enumerate(config.class_weight)))},")  # type: ignore[arg-type]
                spec_callbacks = (
                    "build_callbacks(strategy.num_replicas_in_sync)" if scaled else "build_callbacks()"
                )
                w.line(f"callbacks=[order, nonfinite, *{spec_callbacks}, *(callbacks or [])],")
                w.line("verbose=verbose,")
            w.line(")")
        w.line("return result.history")


def _write_evaluation_batches(w: Writer, dicts: bool) -> None:
    length = "len(next(iter(data[0].values())))" if dicts else "len(data[0])"
    w.line()
    w.line()
    w.signature(
        "evaluation_batches",
        ("data: object", "strategy: tf.distribute.Strategy", "workers: int | None = None"),
        "tf.distribute.DistributedDataset",
    )
    with w.indent():
        w.docstring(
            "A validation or test set (a pair (x, y) in memory, or a batch source) under a\n"
            "strategy of several replicas: a shard of each batch per replica, in the samples'\n"
            "order. The first batch splits evenly: Keras builds its evaluation from the first\n"
            "batch's shapes and fails when the replicas' shares differ."
        )
        w.line("memory = isinstance(data, tuple)")
        w.line(f"samples = {length} if memory else len(data)")
        w.line("replicas = strategy.num_replicas_in_sync")
        w.line("batch = max(min(1024, samples) // replicas * replicas, replicas)")
        w.line("if memory:")
        with w.indent():
            w.line("return epoch_batches(*data, batch, 0, None, False, strategy)")
        w.line("return stream_batches(data, batch, shuffle=False, workers=workers, strategy=strategy)")


def _write_evaluate_predict(w: Writer, dicts: bool, one_output: str | None) -> None:
    arrays = "dict[str, np.ndarray]" if dicts else "np.ndarray"
    memory = "dict" if dicts else "np.ndarray"
    _write_evaluation_batches(w, dicts)
    w.line()
    w.line()
    w.signature(
        "evaluate",
        (
            "model: keras.Model",
            "x: object",
            f"y: {arrays} | None = None",
            "batch_size: int = 1024",
            "workers: int | None = None",
        ),
        "dict[str, float]",
    )
    with w.indent():
        what = "loss, each output's loss and the metrics" if dicts else "loss and metrics"
        w.docstring(f"Mean {what} over arrays (x, y) or a batch source x, in inference mode.")
        w.line("strategy = model.distribute_strategy")
        w.line("if strategy.num_replicas_in_sync > 1:  # a shard of each batch per replica")
        with w.indent():
            arguments = f"x if not isinstance(x, {memory}) else (x, y), strategy, workers"
            if w.fits(f"batches = evaluation_batches({arguments})"):
                w.line(f"batches = evaluation_batches({arguments})")
            else:  # as ruff format breaks it
                w.line("batches = evaluation_batches(")
                w.line(f"    {arguments}")
                w.line(")")
            w.line("return model.evaluate(batches, verbose=0, return_dict=True)")
        w.line(f"if not isinstance(x, {memory}):")
        with w.indent():
            w.line("batches = stream_batches(x, batch_size, shuffle=False, workers=workers)")
            w.line("return model.evaluate(batches, verbose=0, return_dict=True)")
        w.line("return model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)")
    w.line()
    w.line()
    keyed = dicts and one_output is not None  # several inputs, one output: a dict of one
    returns = "list[np.ndarray]" if dicts and not keyed else "np.ndarray"
    w.line("def predict(")
    with w.indent():
        w.line("model: keras.Model, x: object, batch_size: int = 1024, workers: int | None = None")
    w.line(f") -> {returns}:")
    with w.indent():
        what = ", an array per output in order," if dicts and not keyed else ""
        w.docstring(f"The model's outputs{what} for arrays x or a batch source x, in inference mode.")
        w.line(f"if not isinstance(x, {memory}):")
        with w.indent():
            w.line("batches = stream_batches(x, batch_size, shuffle=False, workers=workers, targets=False)")
            w.line(f"return model.predict(batches, verbose=0){f'[{literal(one_output)}]' if keyed else ''}")
        w.line(f"return model.predict(x, batch_size=batch_size, verbose=0){f'[{literal(one_output)}]' if keyed else ''}")
