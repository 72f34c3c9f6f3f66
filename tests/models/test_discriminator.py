"""The discriminators: their output, and the faster input gradient of their wide layers."""

import numpy as np
import tensorflow as tf

from ssah_tf.models import Discriminator
from ssah_tf.models.layers import Initialization


def test_logits_and_gradients_equal_plain_dense_layers():
    """dense_apply's (kernel @ g^T)^T input gradient gives TensorFlow's own gradients."""
    disc = Discriminator(semantic_dim=6, hidden=(16, 8), init=Initialization(scheme="glorot"))
    features = tf.constant(np.random.default_rng(0).normal(size=(5, 6)), tf.float32)

    def plain(x):
        for layer in disc.hidden_layers:
            x = tf.nn.relu(tf.matmul(x, layer.kernel) + layer.bias)
        return (tf.matmul(x, disc.out.kernel) + disc.out.bias)[:, 0]

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(features)
        ours, reference = disc(features), plain(features)
        loss_ours, loss_ref = tf.reduce_sum(ours**2), tf.reduce_sum(reference**2)
    assert ours.shape == (5,)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-6, atol=1e-6)
    for a, b in zip(
        tape.gradient(loss_ours, [features] + disc.trainable_variables),
        tape.gradient(loss_ref, [features] + disc.trainable_variables),
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
