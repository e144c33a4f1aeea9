"""on_nan in a generated module (either target): the error that stops a run at a step whose
loss is NaN or infinite, and, for Keras, the callback that raises it."""

import math


class NonFiniteLoss(FloatingPointError):
    """The loss of a step was NaN or infinite (on_nan = stop): training stops there, before
    that step updates the weights (PyTorch; Keras: by the end of that call into TensorFlow)."""

    def __init__(self, value: float, epoch: int, step: int) -> None:
        super().__init__(f"the loss is {value} at epoch {epoch}, step {step}")
        self.value, self.epoch, self.step = value, epoch, step


def check_finite(loss: float, epoch: int, step: int) -> None:
    """Raise NonFiniteLoss for a NaN or infinite loss (epoch and step counted from 1)."""
    if not math.isfinite(loss):
        raise NonFiniteLoss(loss, epoch, step)
