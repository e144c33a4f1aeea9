"""Keras layers netspec writes into generated Keras modules where Keras has none: copied into them.

Each has a `standard_call`: the same computation in Keras' own layers, which
`inference_model` (keras_inference.py) calls instead of the layer, so that the model a run
saves loads in plain Keras, without netspec or the generated module.
"""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="netspec")
class SelfAttention(layers.MultiHeadAttention):
    """Keras' MultiHeadAttention as self-attention: queries, keys and values are the input."""

    def build(self, input_shape):
        super().build(input_shape, input_shape)

    def call(self, inputs, training=None):
        return super().call(inputs, inputs, training=training)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return super().compute_output_shape(query_shape, query_shape)

    def compute_output_spec(self, inputs, training=None):
        return super().compute_output_spec(inputs, inputs)

    def standard_call(self, inputs, training=None):
        """Keras' MultiHeadAttention of this layer's name and weights, called as mha(x, x)."""
        attention = layers.MultiHeadAttention.from_config(self.get_config())
        outputs = attention(inputs, inputs)
        attention.set_weights(self.get_weights())
        return outputs


@keras.saving.register_keras_serializable(package="netspec")
class PositionalEmbedding(layers.Layer):
    """Adds a learned vector per position 0 … steps - 1 to a (N, steps, output_dim) input."""

    def __init__(
        self, sequence_length, output_dim, embeddings_initializer="random_uniform", **kwargs
    ):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.output_dim = output_dim
        self.embeddings_initializer = embeddings_initializer
        self.embeddings = self.add_weight(
            shape=(sequence_length, output_dim),
            initializer=embeddings_initializer,
            name="embeddings",
        )

    def call(self, inputs):
        return inputs + self.embeddings[: inputs.shape[-2]]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "output_dim": self.output_dim,
            "embeddings_initializer": self.embeddings_initializer,
        }

    def standard_call(self, inputs):
        """x + Embedding(positions 0 … steps - 1) in a model of this layer's name and weights
        (a model of its own keeps the names of its operations apart from the network's)."""
        x = keras.Input(batch_shape=inputs.shape, dtype=inputs.dtype)
        positions = keras.ops.zeros_like(x[..., 0], dtype="int32")
        positions = positions + keras.ops.arange(inputs.shape[-2], dtype="int32")
        table = layers.Embedding(
            self.sequence_length, self.output_dim, dtype=self.dtype_policy, name="embeddings"
        )
        block = keras.Model(x, x + table(positions), name=self.name)
        table.set_weights(self.get_weights())
        return block(inputs)


@keras.saving.register_keras_serializable(package="netspec")
class StableLayerNormalization(layers.LayerNormalization):
    """Keras' LayerNormalization over the last axis, computed as PyTorch does: normalize
    (x - mean) / sqrt(var + epsilon), then scale and shift. Keras' own x·inv + (beta -
    mean·inv) cancels badly over a narrow axis (1-2 features, a small epsilon)."""

    def call(self, inputs):
        x = keras.ops.cast(inputs, "float32")  # statistics in float32, as Keras' own
        centered = x - keras.ops.mean(x, axis=-1, keepdims=True)
        variance = keras.ops.mean(keras.ops.square(centered), axis=-1, keepdims=True)
        normalized = centered * keras.ops.rsqrt(variance + self.epsilon)
        outputs = normalized * keras.ops.cast(self.gamma, "float32")
        outputs = outputs + keras.ops.cast(self.beta, "float32")
        return keras.ops.cast(outputs, self.compute_dtype)

    def standard_call(self, inputs):
        """The same in Keras' own operations and an EinsumDense of this layer's weights
        (gamma as its kernel, beta as its bias), in a model of this layer's name."""
        x = keras.Input(batch_shape=inputs.shape, dtype=inputs.dtype)
        centered = keras.ops.cast(x, "float32")
        centered = centered - keras.ops.mean(centered, axis=-1, keepdims=True)
        variance = keras.ops.mean(keras.ops.square(centered), axis=-1, keepdims=True)
        normalized = centered * keras.ops.rsqrt(variance + self.epsilon)
        scale_shift = layers.EinsumDense(
            "...c,c->...c",
            output_shape=(inputs.shape[-1],),
            bias_axes="c",
            dtype=self.dtype_policy,
            name="scale_shift",
        )
        block = keras.Model(x, scale_shift(normalized), name=self.name)
        scale_shift.set_weights([self.gamma.numpy(), self.beta.numpy()])
        return block(inputs)
