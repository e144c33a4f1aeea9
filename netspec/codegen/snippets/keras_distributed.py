"""Data-parallel training in a generated Keras module, on tf.distribute: copied into it.

`build_strategy` picks the strategy: MirroredStrategy over several local devices, else
TensorFlow's default (one device). The model is built and compiled inside the strategy's scope; each global batch of
the epoch's order is cut into a shard per replica (every N-th sample), so N replicas train on
exactly the batches one process would, and Keras sums the figures over them.
"""

import tensorflow as tf


def build_strategy(devices: int = 1) -> tf.distribute.Strategy:
    """The tf.distribute strategy of this run; call it before TensorFlow runs anything.

    With `devices` > 1: MirroredStrategy over that many local GPUs, or, on a machine without
    GPUs, over as many logical CPU devices; else TensorFlow's default strategy (one device).
    (MultiWorkerMirroredStrategy is left out: Keras 3's fit fails under it,
    tensorflow/tensorflow#72388.)
    """
    if devices <= 1:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if len(gpus) < devices:
            raise ValueError(f"{devices} devices asked for, but this machine has {len(gpus)} GPUs")
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(devices)])
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
    )
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(devices)])


def replica_shards(
    batches: tf.data.Dataset, context: tf.distribute.InputContext
) -> tf.data.Dataset:
    """This input pipeline's part of each global batch of sample indices: a shard per replica
    it feeds, in the order tf.distribute hands them out; replica k of N takes every N-th
    index, from the k-th."""
    replicas = context.num_replicas_in_sync
    local = replicas // context.num_input_pipelines
    first = context.input_pipeline_id * local

    def shards(index: tf.Tensor) -> tf.data.Dataset:
        ranks = tf.data.Dataset.range(first, first + local)
        return ranks.map(lambda k: index[k::replicas])

    return batches.flat_map(shards)
