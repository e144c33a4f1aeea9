"""The order an epoch visits the training samples in, the same on both backends: copied into
the generated PyTorch and Keras modules.

One NumPy permutation drawn from (seed, epoch) alone, by PCG64 (NumPy's `Generator`), so a
PyTorch run and a Keras run of one spec and seed see the same batches in the same order, a
run resumed at epoch e repeats the uninterrupted one, and neither framework's random state
is touched.
"""

import numpy as np


def sample_order(samples: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The sample indices (int64) epoch `epoch` visits, in order: a permutation drawn from
    (seed, epoch) by PCG64, or 0 … samples - 1 without `shuffle`.

    A negative seed counts modulo 2**64 (NumPy's seed sequences take non-negative words)."""
    if not shuffle:
        return np.arange(samples, dtype=np.int64)
    words = [int(seed) % 2**64, int(epoch) % 2**64]
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))
    return generator.permutation(samples).astype(np.int64)
