"""The order of a generated Keras module's batches, shared by both pipelines: copied into it.

Epoch e visits the samples in an order drawn from (seed, e) when the epoch's first batch is
read (`sample_order`, order.py: the permutation the PyTorch module draws too), so
`model.fit` sees one dataset for all its epochs, a run resumed at epoch e repeats the
uninterrupted one, the arrays in memory and a streamed batch source give the same batches,
and a PyTorch run of the same spec and seed sees them in the same order.
`epoch_batches` gathers the arrays in memory in that order (keras_data_dicts.py: the dicts
of a model with several inputs or outputs).
"""

import math

import keras
import numpy as np
import tensorflow as tf

from netspec.codegen.snippets.keras_distributed import replica_shards
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


def epoch_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    seed: int,
    epoch: tf.Variable,
    shuffle: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    span: tuple[int, int] = (0, 1),
) -> tf.data.Dataset | tf.distribute.DistributedDataset:
    """One epoch of (x, y) batches of arrays in memory, in the order epoch_indices draws."""
    x, y = tf.constant(x), tf.constant(y)
    samples = len(x)

    def gather(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.gather(x, index), tf.gather(y, index)

    if strategy is not None and strategy.num_replicas_in_sync > 1:  # a shard per replica
        indices = run_indices(samples, batch_size, seed, *span, shuffle)
        return strategy.distribute_datasets_from_function(
            lambda context: replica_shards(indices, context).map(gather).prefetch(tf.data.AUTOTUNE)
        )
    return (
        epoch_indices(samples, batch_size, seed, epoch, shuffle)
        .map(gather)
        .apply(tf.data.experimental.assert_cardinality(math.ceil(samples / batch_size)))
        .prefetch(tf.data.AUTOTUNE)
    )
