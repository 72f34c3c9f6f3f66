"""TxtNet: multi-scale fusion on bag-of-words text, then an MLP (SPEC 2)."""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from ssah_tf.models.layers import (MultiScaleFusion, NetworkOutput, dense, dense_forward,
                                   local_response_norm)


class TxtNet(keras.Model):
    """MS(t) -> 4096 (ReLU, LRN) -> semantic_dim (ReLU) = F; heads H, L_hat.

    ``text_head_lrn``: the release feeds LRN(F) to both heads while F itself
    (used by losses and discriminators) stays the un-normalised ReLU output.
    """

    def __init__(self, *, text_dim: int, num_labels: int, bits: int,
                 windows: Sequence[int], semantic_dim: int = 512, hidden_dim: int = 4096,
                 text_head_lrn: bool = True, init_stddev: float = 0.01,
                 compute_dtype: str = "float32", **kwargs):
        super().__init__(**kwargs)
        self.text_dim = text_dim
        self.text_head_lrn = text_head_lrn
        self.fusion = MultiScaleFusion(text_dim, windows, init_stddev, name="fusion")
        channels = 1 + len(self.fusion.windows)
        # Mixed precision covers the d_t * channels -> hidden matmul, almost all the work.
        self.hidden = dense(hidden_dim, init_stddev, "hidden", compute_dtype=compute_dtype)
        self.semantic = dense(semantic_dim, init_stddev, "semantic")
        self.hash_head = dense(bits, init_stddev, "hash")
        self.label_head = dense(num_labels, init_stddev, "label")
        self.hidden.build((None, text_dim * channels))
        self.semantic.build((None, hidden_dim))
        self.hash_head.build((None, semantic_dim))
        self.label_head.build((None, semantic_dim))
        self.fusion.build((None, text_dim))
        self.built = True

    def multiscale(self, text: tf.Tensor) -> tf.Tensor:
        """The fused [batch, d_t, 1 + windows] map."""
        return self.fusion(text)

    def call(self, text: tf.Tensor) -> NetworkOutput:
        fused = self.fusion(text)
        # Dense over the (d_t, channels) map flattened row-major, as the
        # release's [1, d_t, channels, 4096] VALID convolution.
        flat = tf.reshape(fused, [-1, fused.shape[1] * fused.shape[2]])
        hidden = local_response_norm(tf.nn.relu(tf.cast(dense_forward(self.hidden, flat),
                                                         tf.float32)))
        feature = tf.nn.relu(self.semantic(hidden))
        head_input = local_response_norm(feature) if self.text_head_lrn else feature
        return NetworkOutput(feature=feature,
                             hash=tf.tanh(self.hash_head(head_input)),
                             label=tf.sigmoid(self.label_head(head_input)))
