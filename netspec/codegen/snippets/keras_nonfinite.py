"""on_nan = stop in a generated Keras module: copied into it beside NonFiniteLoss and
check_finite (snippets/nonfinite.py, which the generator copies too)."""

import keras

from netspec.codegen.snippets.nonfinite import check_finite


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises NonFiniteLoss once the epoch's running loss is NaN or infinite (on_nan = stop),
    naming the last step of that call into TensorFlow (it runs several steps); the epoch
    never ends, so it writes no checkpoint: the last one is of the last good epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if logs and "loss" in logs:
            check_finite(float(logs["loss"]), self.epoch + 1, batch + 1)
