"""Modality discriminators: semantic feature -> logit (docs/method.md §2)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from ssah_tf.models.layers import Initialization, dense, dense_apply


class Discriminator(keras.Model):
    """F (semantic_dim) -> hidden... (ReLU) -> 1 logit, returned as shape [batch].

    Paper: hidden (4096, 4096); release: (512, 256). The release also applies
    dropout with keep_prob 1.0, i.e. nothing, so there is no dropout here.
    """

    def __init__(
        self,
        *,
        semantic_dim: int = 512,
        hidden: Sequence[int] = (4096, 4096),
        init: Initialization = Initialization(),
        compute_dtype: str = "float32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Attributes fc1, fc2, ... rather than a list: Keras' list tracker is invisible
        # to tf.train.Checkpoint.
        self._depth = len(hidden)
        for i, units in enumerate(hidden):
            setattr(
                self, f"fc{i + 1}", dense(units, init, f"fc{i + 1}", compute_dtype=compute_dtype)
            )
        self.out = dense(1, init, "out")
        width = semantic_dim
        for layer in self.hidden_layers:
            layer.build((None, width))
            width = layer.units
        self.out.build((None, width))
        self.built = True

    @property
    def hidden_layers(self) -> list:
        return [getattr(self, f"fc{i + 1}") for i in range(self._depth)]

    def call(self, features: tf.Tensor) -> tf.Tensor:
        x = features
        # dense_apply: every step backpropagates through the hidden layers (to the
        # generator's features, or to fc1's weights), and TF's own input gradient of a
        # wide layer is far slower than its forward pass on CPU (layers.wide_matmul).
        for layer in self.hidden_layers:
            x = tf.nn.relu(dense_apply(layer, x))
        return self.out(tf.cast(x, tf.float32))[:, 0]
