"""The order of a generated Keras module's batches, shared by both pipelines: copied into it.

Epoch e visits the samples in an order drawn from (seed, e) when the epoch's first batch is
read (`sample_order`, order.py: the permutation the PyTorch module draws too), so
`model.fit` sees one dataset for all its epochs, a run resumed at epoch e repeats the
uninterrupted one, the arrays in memory and a streamed batch source give the same batches,
and a PyTorch run of the same spec and seed sees them in the same order.
"""

import keras
import numpy as np
import tensorflow as tf

from netspec.codegen.snippets.order import sample_order


class EpochOrder(keras.callbacks.Callback):
    """Tells the input pipeline which epoch begins, so its order is drawn from (seed, epoch)."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.assign(epoch)


def epoch_indices(
    samples: int,
    batch_size: int,
    seed: int,
    epoch: tf.Variable | None = None,
    shuffle: bool = True,
) -> tf.data.Dataset:
    """Batches of sample indices: in the order drawn from (seed, epoch) when the dataset is
    read (`epoch` is the EpochOrder's variable), or in order without `shuffle`."""

    def indices(_: tf.Tensor) -> tf.data.Dataset:
        order = epoch_order(samples, seed, epoch.read_value() if shuffle else 0, shuffle)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    return tf.data.Dataset.from_tensors(0).flat_map(indices)


def epoch_order(samples: int, seed: int, epoch: tf.Tensor | int, shuffle: bool = True) -> tf.Tensor:
    """The order epoch `epoch` visits the samples in: `sample_order`'s permutation drawn from
    (seed, epoch), the one the PyTorch module draws too, read when the pipeline reaches it."""
    if not shuffle:
        return tf.range(samples, dtype=tf.int64)

    def draw(epoch: np.ndarray) -> np.ndarray:
        return sample_order(samples, seed, int(epoch), shuffle)

    order = tf.numpy_function(draw, [tf.cast(epoch, tf.int64)], tf.int64, stateful=False)
    order.set_shape((samples,))
    return order


def run_indices(
    samples: int, batch_size: int, seed: int, first: int, epochs: int, shuffle: bool = True
) -> tf.data.Dataset:
    """The batches of indices of epochs first … epochs - 1, one epoch after the other: for a
    fit that keeps one iterator for the whole run (`steps_per_epoch`), as a distributed
    dataset must (it reads ahead, before an epoch's callbacks have run)."""

    def indices(epoch: tf.Tensor) -> tf.data.Dataset:
        order = epoch_order(samples, seed, epoch, shuffle)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    return tf.data.Dataset.range(first, epochs).flat_map(indices)
