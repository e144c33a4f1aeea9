"""The order of a generated Keras module's batches, shared by both pipelines: copied into it.

Epoch e visits the samples in an order drawn from (seed, e) when the epoch's first batch is
read, so `model.fit` sees one dataset for all its epochs, a run resumed at epoch e repeats
the uninterrupted one, and the arrays in memory and a streamed batch source give the same
batches.
"""

import keras
import tensorflow as tf


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
    """The order epoch `epoch` visits the samples in: a permutation drawn from (seed, epoch)."""
    order = tf.range(samples, dtype=tf.int64)
    if not shuffle:
        return order
    pair = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(order, seed=pair)


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
