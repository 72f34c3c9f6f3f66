"""LabNet: the self-supervised semantic network on label vectors (docs/method.md §2)."""

from __future__ import annotations

import keras
import tensorflow as tf

from ssah_tf.models.layers import (
    Initialization,
    NetworkOutput,
    dense,
    dense_apply,
    local_response_norm,
)


class LabNet(keras.Model):
    """labels -> 4096 (ReLU, LRN) -> semantic_dim (ReLU) = F; heads H (tanh), L_hat (sigmoid)."""

    def __init__(
        self,
        *,
        num_labels: int,
        bits: int,
        semantic_dim: int = 512,
        hidden_dim: int = 4096,
        init: Initialization = Initialization(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_labels = num_labels
        self.hidden = dense(hidden_dim, init, "hidden")
        self.semantic = dense(semantic_dim, init, "semantic")
        self.hash_head = dense(bits, init, "hash")
        self.label_head = dense(num_labels, init, "label")
        # Weights exist right after construction, so checkpoints and optimizers
        # can be built before the first step.
        self.hidden.build((None, num_labels))
        self.semantic.build((None, hidden_dim))
        self.hash_head.build((None, semantic_dim))
        self.label_head.build((None, semantic_dim))
        self.built = True

    def call(self, labels: tf.Tensor) -> NetworkOutput:
        hidden = local_response_norm(tf.nn.relu(self.hidden(labels)))
        feature = tf.nn.relu(dense_apply(self.semantic, hidden))
        return NetworkOutput(
            feature=feature,
            hash=tf.tanh(self.hash_head(feature)),
            label=tf.sigmoid(self.label_head(feature)),
        )
