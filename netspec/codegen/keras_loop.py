"""The training code written into a generated Keras module.

`model.fit` runs the steps, several per call into TensorFlow (`steps_per_execution`), with
XLA off (measured slower for convolutions on CPUs). Batches come from a `tf.data` pipeline
whose order for epoch e is drawn from (seed, e) alone, so a run resumed at epoch e repeats
the uninterrupted one, and every callback sees one `fit` call.

A model with several inputs or outputs is fitted on dicts of arrays keyed by input and
output name, with the spec's loss weights; Keras names the figures (`loss`, `plan_loss`,
`plan_accuracy`, …).
"""

from __future__ import annotations

from netspec import catalogue, ir
from netspec.catalogue.base import Code, PyCall
from netspec.codegen.common import single_io
from netspec.codegen.training import plan, write_schedule_factor
from netspec.codegen.writer import Writer, literal

STEPS_PER_EXECUTION = 32

_COMPILE = '''def compile_model(model: keras.Model, steps_per_execution: int = {steps}) -> keras.Model:
    """Attach the spec's optimizer, loss and metrics; several steps run per TensorFlow call."""
    model.compile(
        optimizer=build_optimizer(),
        loss=build_loss(),
        metrics=build_metrics(),
        steps_per_execution=steps_per_execution,
        jit_compile=False,
    )
    return model'''

_COMPILE_DICTS = '''def compile_model(model: keras.Model, steps_per_execution: int = {steps}) -> keras.Model:
    """Attach the spec's optimizer, losses, loss weights and metrics, keyed by output name;
    several steps run per TensorFlow call."""
    model.compile(
        optimizer=build_optimizer(),
        loss=build_loss(),
        loss_weights=LOSS_WEIGHTS,
        metrics=build_metrics(),
        steps_per_execution=steps_per_execution,
        jit_compile=False,
    )
    return model'''

_BATCHES = '''class EpochOrder(keras.callbacks.Callback):
    """Tells the input pipeline which epoch begins, so its order is drawn from (seed, epoch)."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.assign(epoch)


def epoch_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    seed: int,
    epoch: tf.Variable,
    shuffle: bool = True,
) -> tf.data.Dataset:
    """One epoch of (x, y) batches, in the order drawn from (seed, epoch) when it is read."""
    x, y = tf.constant(x), tf.constant(y)
    samples = len(x)

    def epoch_indices(_: tf.Tensor) -> tf.data.Dataset:
        indices = tf.range(samples, dtype=tf.int64)
        if shuffle:
            pair = tf.stack([tf.constant(seed, tf.int64), epoch.read_value()])
            indices = tf.random.experimental.stateless_shuffle(indices, seed=pair)
        return tf.data.Dataset.from_tensor_slices(indices).batch(batch_size)

    return (
        tf.data.Dataset.from_tensors(0)
        .flat_map(epoch_indices)
        .map(lambda index: (tf.gather(x, index), tf.gather(y, index)))
        .apply(tf.data.experimental.assert_cardinality(math.ceil(samples / batch_size)))
        .prefetch(tf.data.AUTOTUNE)
    )'''

_FIT = '''def fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = {epochs},
    batch_size: int = {batch_size},
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    shuffle: bool = {shuffle},
    seed: int = {seed},
    initial_epoch: int = 0,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int = 0,
) -> dict[str, list[float]]:
    """Train a compiled model as the spec says; returns every epoch's figures by name.

    Epoch e visits the samples in an order drawn from (seed, e) alone, so a run resumed at
    epoch e (from a checkpoint with its optimizer state) repeats the uninterrupted one.
    """
    order = EpochOrder()
    result = model.fit(
        epoch_batches(x, y, batch_size, seed, order.epoch, shuffle),
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation_data=validation_data,
        validation_batch_size=1024,
        shuffle=False,{class_weight}
        callbacks=[order, *build_callbacks(), *(callbacks or [])],
        verbose=verbose,
    )
    return result.history


def evaluate(
    model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 1024
) -> dict[str, float]:
    """Mean loss and metrics over (x, y), in inference mode."""
    return model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for x, in inference mode."""
    return model.predict(x, batch_size=batch_size, verbose=0)'''


def _dicts(template: str) -> str:
    """The single-array template for dicts of arrays keyed by input and output name."""
    replacements = {
        "    x: np.ndarray,\n    y: np.ndarray,": "    x: dict[str, np.ndarray],\n    y: dict[str, np.ndarray],",
        "validation_data: tuple[np.ndarray, np.ndarray] | None": (
            "validation_data: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None"
        ),
        '"""One epoch of (x, y) batches, in the order drawn from (seed, epoch) when it is read."""\n'
        "    x, y = tf.constant(x), tf.constant(y)\n"
        "    samples = len(x)": (
            '"""One epoch of (x, y) batches, in the order drawn from (seed, epoch) when it is read;\n'
            '    x and y are dicts of arrays by input and output name."""\n'
            "    x = {name: tf.constant(a) for name, a in x.items()}\n"
            "    y = {name: tf.constant(a) for name, a in y.items()}\n"
            "    samples = len(next(iter(x.values())))"
        ),
        "    return (\n        tf.data.Dataset.from_tensors(0)": (
            "    def gather(index: tf.Tensor) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:\n"
            "        return (\n"
            "            {name: tf.gather(t, index) for name, t in x.items()},\n"
            "            {name: tf.gather(t, index) for name, t in y.items()},\n"
            "        )\n\n"
            "    return (\n        tf.data.Dataset.from_tensors(0)"
        ),
        ".map(lambda index: (tf.gather(x, index), tf.gather(y, index)))": ".map(gather)",
        "    model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 1024\n": (
            "    model: keras.Model,\n    x: dict[str, np.ndarray],\n"
            "    y: dict[str, np.ndarray],\n    batch_size: int = 1024,\n"
        ),
        '"""Mean loss and metrics over (x, y), in inference mode."""': (
            '"""Mean loss, each output\'s loss and the metrics over (x, y), in inference mode."""'
        ),
        "def predict(model: keras.Model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:\n"
        '    """The model\'s outputs for x, in inference mode."""': (
            "def predict(\n    model: keras.Model, x: dict[str, np.ndarray], batch_size: int = 1024\n"
            ") -> list[np.ndarray]:\n"
            '    """The model\'s outputs for x, an array per output in order, in inference mode."""'
        ),
    }
    for old, new in replacements.items():
        assert old in template, old
        template = template.replace(old, new)
    return template


def write(w: Writer, model: ir.Model) -> None:
    training = plan(model)
    config = model.train
    dicts = not single_io(model)
    w.line()
    w.line()
    w.lines((_COMPILE_DICTS if dicts else _COMPILE).format(steps=STEPS_PER_EXECUTION))
    callbacks: list[PyCall] = []
    if training.schedule is not None:
        if training.schedule_factor is not None:
            write_schedule_factor(w, training)
            lr = literal(training.base_lr)
            callbacks.append(
                PyCall(
                    "keras.callbacks.LearningRateScheduler",
                    (Code(f"lambda epoch, lr: {lr} * learning_rate_factor(epoch)"),),
                )
            )
        else:
            entry = catalogue.lookup("schedule", training.schedule.kind)
            assert entry is not None
            callbacks.append(entry().keras(training.schedule.params, training.monitor))  # type: ignore[attr-defined]
    if training.early_stopping is not None:
        callbacks.append(
            PyCall(
                "keras.callbacks.EarlyStopping",
                (),
                {"monitor": training.monitor, "patience": training.early_stopping, "mode": "min"},
            )
        )
    w.line()
    w.line()
    w.line("def build_callbacks() -> list[keras.callbacks.Callback]:")
    with w.indent():
        w.docstring("The spec's learning-rate schedule and early stopping, if any.")
        w.value("return ", callbacks)
    w.line()
    w.line()
    loop = (_BATCHES + "\n\n\n" + _FIT).format(
        epochs=literal(config.epochs),
        batch_size=literal(config.batch_size),
        shuffle=literal(config.shuffle),
        seed=literal(config.seed),
        class_weight=""
        if config.class_weight is None
        else "\n        class_weight="
        + literal(dict(enumerate(config.class_weight)))  # type: ignore[arg-type]
        + ",",
    )
    w.lines(_dicts(loop) if dicts else loop)
