"""restore_best in a generated Keras module: copied into it, beside the `best_epoch` it calls
(snippets/monitor.py, which the generator copies too), so that both targets pick one epoch."""

import keras

from netspec.codegen.snippets.monitor import best_epoch


class RestoreBest(keras.callbacks.Callback):
    """restore_best = true: training ends with the weights of the best epoch by `monitor`
    (best_epoch's rule over the epochs of this fit call), not with the last epoch's."""

    def __init__(self, monitor: str, min_delta: float = 0.0, higher: bool = False) -> None:
        super().__init__()
        self.monitor, self.min_delta, self.higher = monitor, min_delta, higher

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.values: list[float] = []
        self.best_weights: list | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.values.append(float((logs or {})[self.monitor]))
        if best_epoch(self.values, self.min_delta, self.higher) == len(self.values) - 1:
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
