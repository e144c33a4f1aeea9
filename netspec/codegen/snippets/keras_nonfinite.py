"""on_nan in a generated Keras module: copied into it beside NonFiniteLoss and check_finite
(snippets/nonfinite.py, which the generator copies too).

on_nan = stop is a callback (StopOnNonFiniteLoss). on_nan = skip needs the training step
itself: the network is a SkipNonFiniteSteps, whose step updates nothing when its loss is NaN or
infinite, and writes that step into a SkippedSteps record, which ReportSkippedSteps reads
after each call into TensorFlow (a call runs several steps).
"""

from collections.abc import Callable

import keras
import tensorflow as tf

from netspec.codegen.snippets.nonfinite import NonFiniteLoss, check_finite


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises NonFiniteLoss once the epoch's running loss is NaN or infinite (on_nan = stop),
    naming the last step of that call into TensorFlow (it runs several steps); the epoch
    never ends, so it writes no checkpoint: the last one is of the last good epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if logs and "loss" in logs:
            check_finite(float(logs["loss"]), self.epoch + 1, batch + 1)


class SkippedSteps:
    """Where SkipNonFiniteSteps' training step writes the steps it skipped (on_nan = skip):
    variables, as TensorFlow's compiled step can write nothing else. `steps` and `losses` keep
    the first `capacity` of the steps skipped since the last read; `count` counts them all."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)  # steps run this epoch
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.steps = tf.Variable(tf.zeros([capacity], tf.int64), trainable=False)
        self.losses = tf.Variable(tf.zeros([capacity], tf.float32), trainable=False)

    def write(self, loss: tf.Tensor) -> None:
        """The current step was skipped for `loss` (in the compiled step)."""
        at = tf.range(self.capacity, dtype=tf.int64) == self.count  # none once it is full
        self.steps.assign(tf.where(at, self.step, self.steps))
        self.losses.assign(tf.where(at, tf.cast(loss, tf.float32), self.losses))
        self.count.assign_add(1)


class SkipNonFiniteSteps(keras.Model):
    """A network whose training step (on_nan = skip) updates nothing when its loss is NaN or
    infinite: neither the weights, nor the optimizer's state, nor the moving statistics
    (BatchNormalization's), nor the figures; random generators (Dropout's) move on, as after
    any step. Keras' own step otherwise, on one replica; `skipped` (a SkippedSteps, set
    before fit) hears of each skipped step."""

    skipped: SkippedSteps | None = None

    def train_step(self, data: object) -> dict:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        kept = [
            v
            for v in [*self.non_trainable_variables, *self.metrics_variables]
            if "seed_generator" not in v.path
        ]
        before = [tf.identity(v.value) for v in kept]  # read before the step changes them
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight, training=True)
            scaled = self.optimizer.scale_loss(loss)
        for metric in self.metrics:
            if metric.name == "loss":  # Keras' running loss, weighted by the batch's samples
                metric.update_state(loss, sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        self.compute_metrics(x, y, y_pred, sample_weight)
        gradients = tape.gradient(scaled, self.trainable_weights)
        if self.skipped is not None:
            self.skipped.step.assign_add(1)

        def update() -> tf.Tensor:
            self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
            return tf.constant(True)

        def skip() -> tf.Tensor:
            for variable, value in zip(kept, before, strict=True):
                variable.assign(value)
            if self.skipped is not None:
                self.skipped.write(loss)
            return tf.constant(False)

        tf.cond(tf.math.is_finite(loss), update, skip)
        return self.get_metrics_result()


class ReportSkippedSteps(keras.callbacks.Callback):
    """on_nan = skip: tells `on_skip(epoch, step, loss)` (counted from 1) of each step the
    model skipped, after each call into TensorFlow, and raises NonFiniteLoss (step 0) at the
    end of an epoch whose every step was skipped, before any later callback checkpoints it."""

    def __init__(
        self, skipped: SkippedSteps, on_skip: Callable[[int, int, float], None] | None = None
    ) -> None:
        super().__init__()
        self.skipped, self.on_skip = skipped, on_skip

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch, self.skips = epoch, 0
        self.skipped.step.assign(0)
        self.skipped.count.assign(0)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        count = int(self.skipped.count.numpy())
        if not count:
            return
        self.skips += count
        steps, losses = self.skipped.steps.numpy(), self.skipped.losses.numpy()
        for at in range(min(count, self.skipped.capacity)):
            if self.on_skip is not None:
                self.on_skip(self.epoch + 1, int(steps[at]), float(losses[at]))
        self.skipped.count.assign(0)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.skips and self.skips == int(self.skipped.step.numpy()):
            raise NonFiniteLoss(float("nan"), epoch + 1, 0)  # every step skipped: nothing trained
