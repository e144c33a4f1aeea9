"""Keras layers netspec writes into generated Keras modules for augmentation: copied into them.

Keras 3's RandomCrop passes an image through unchanged in inference (keras-team/keras#21868),
so a model's shapes would differ between training and inference; its documentation states
the rule kept here instead.
"""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="netspec")
class CenteredRandomCrop(layers.RandomCrop):
    """Keras' RandomCrop with the inference its documentation states: the largest central
    window of the crop's aspect ratio, resized (bilinear) to height × width."""

    def call(self, data, training=True):
        if training:
            return super().call(data, training=True)
        return keras.ops.image.resize(
            data, (self.height, self.width), interpolation="bilinear", crop_to_aspect_ratio=True
        )

    def standard_call(self, data, training=None):
        """Keras' Resizing of this layer's name: what the crop computes in inference."""
        resize = layers.Resizing(
            self.height,
            self.width,
            interpolation="bilinear",
            crop_to_aspect_ratio=True,
            dtype=self.dtype_policy,
            name=self.name,
        )
        return resize(data)
