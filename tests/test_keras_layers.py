"""The Keras snippets (keras_layers.py, keras_data*.py), imported as they are, against Keras' own.

Generated Keras modules carry these definitions' source (codegen/keras.py and keras_loop.py
copy it); here the layers are checked numerically against the Keras layers they stand for,
and the in-memory batches against the order `sample_order` draws.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from netspec.codegen.snippets import keras_data, keras_data_dicts, keras_layers  # noqa: E402
from netspec.codegen.snippets.order import sample_order  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _inputs(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=shape).astype("float32")


def test_self_attention_is_multi_head_attention_of_x_with_x() -> None:
    x = _inputs(2, 5, 8)
    ours = keras_layers.SelfAttention(num_heads=2, key_dim=4)
    theirs = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    ours(x)
    theirs(x, x)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x, x), rtol=1e-5, atol=1e-6)


def test_stable_layer_normalization_equals_keras_layer_normalization() -> None:
    x = _inputs(4, 6) * 3.0 + 1.0
    ours = keras_layers.StableLayerNormalization(epsilon=1e-3)
    theirs = keras.layers.LayerNormalization(epsilon=1e-3)
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = [np.linspace(0.5, 2.0, 6, dtype="float32"), np.linspace(-1.0, 1.0, 6, dtype="float32")]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_positional_embedding_equals_its_keras_embedding_form() -> None:
    x = _inputs(3, 4, 2)
    layer = keras_layers.PositionalEmbedding(6, 2)
    expected = x + keras.ops.convert_to_numpy(layer.embeddings)[:4]
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6)
    np.testing.assert_allclose(layer.standard_call(x), expected, rtol=1e-6)


def test_epoch_batches_gather_the_samples_in_sample_order() -> None:
    x = np.arange(10, dtype="float32").reshape(10, 1)
    epoch = tf.Variable(1, dtype=tf.int64)
    order = sample_order(10, 3, 1, True)
    batches = list(keras_data.epoch_batches(x, x * 2, 4, 3, epoch))
    assert [len(xb) for xb, _ in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), x[order])
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), x[order] * 2)
    dicts = keras_data_dicts.epoch_batches({"a": x}, {"b": x * 2, "c": x * 3}, 4, 3, epoch)
    xs, ys = zip(*dicts, strict=True)
    np.testing.assert_array_equal(np.concatenate([b["a"] for b in xs]), x[order])
    np.testing.assert_array_equal(np.concatenate([b["c"] for b in ys]), x[order] * 3)
