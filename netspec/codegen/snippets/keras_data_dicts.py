"""The in-memory batches of keras_data.py for a model with several inputs or outputs: copied
into it.

x and y are dicts of arrays by input and output name; one index gathers the same samples of
every array.
"""

import math

import numpy as np
import tensorflow as tf

from netspec.codegen.snippets.keras_data import epoch_indices, run_indices
from netspec.codegen.snippets.keras_distributed import replica_shards


def epoch_batches(
    x: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    batch_size: int,
    seed: int,
    epoch: tf.Variable,
    shuffle: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    span: tuple[int, int] = (0, 1),
) -> tf.data.Dataset | tf.distribute.DistributedDataset:
    """One epoch of (x, y) batches of arrays in memory, in the order epoch_indices draws;
    x and y are dicts of arrays by input and output name.
    """
    x = {name: tf.constant(a) for name, a in x.items()}
    y = {name: tf.constant(a) for name, a in y.items()}
    samples = len(next(iter(x.values())))

    def gather(index: tf.Tensor) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        return (
            {name: tf.gather(t, index) for name, t in x.items()},
            {name: tf.gather(t, index) for name, t in y.items()},
        )

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
