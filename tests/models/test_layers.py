"""Building blocks against TensorFlow's own ops."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.models.layers import local_response_norm, tf1_bilinear_matrix, wide_matmul


@pytest.mark.parametrize("shape", [(6, 40), (2, 5, 5, 12), (3, 4)])
def test_lrn_value_and_gradient_equal_tensorflows_lrn_op(shape):
    """The XLA-fused LRN (and its hand-written gradient) against tf.nn.lrn and LRNGrad.
    Large inputs so the normaliser is far from 1 (alpha * sum x^2 ~ bias)."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal(shape).astype(np.float32) * 80)
    weights = tf.constant(rng.standard_normal(shape).astype(np.float32))
    as_4d = lambda t: tf.reshape(t, (1, 1, -1, shape[-1])) if len(shape) == 2 else t
    results = []
    for lrn in (
        lambda t: local_response_norm(t),
        lambda t: tf.reshape(
            tf.nn.local_response_normalization(as_4d(t), 2, 2.0, 1e-4, 0.75), shape
        ),
    ):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = lrn(x)
            loss = tf.reduce_sum(y * weights)
        results.append((y.numpy(), tape.gradient(loss, x).numpy()))
    (ours, our_grad), (theirs, their_grad) = results
    assert np.abs(theirs / x.numpy()).min() < 0.7  # the normaliser matters
    np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=1e-6 * np.abs(theirs).max())
    np.testing.assert_allclose(our_grad, their_grad, rtol=0, atol=2e-6 * np.abs(their_grad).max())


def test_wide_matmul_gradients_equal_the_plain_matmul():
    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal((5, 30)).astype(np.float32))
    kernel = tf.constant(rng.standard_normal((30, 7)).astype(np.float32))
    upstream = tf.constant(rng.standard_normal((5, 7)).astype(np.float32))
    grads = []
    for product in (wide_matmul, tf.matmul):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            loss = tf.reduce_sum(product(x, kernel) * upstream)
        grads.append([g.numpy() for g in tape.gradient(loss, [x, kernel])])
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def numpy_bilinear_tf1(x, out_len):
    """TF1 resize_bilinear along one axis, written from its definition."""
    in_len = len(x)
    out = np.empty(out_len)
    for i in range(out_len):
        src = i * in_len / out_len
        lo = int(np.floor(src))
        hi = min(lo + 1, in_len - 1)
        out[i] = x[lo] + (x[hi] - x[lo]) * (src - lo)
    return out


def test_tf1_bilinear_matches_the_legacy_kernel():
    x = np.random.default_rng(0).normal(size=(1, 1, 7, 1)).astype(np.float32)
    legacy = tf.raw_ops.ResizeBilinear(
        images=x, size=[1, 23], align_corners=False, half_pixel_centers=False
    ).numpy()[0, 0, :, 0]
    np.testing.assert_allclose(tf1_bilinear_matrix(7, 23) @ x[0, 0, :, 0], legacy, atol=1e-6)
    np.testing.assert_allclose(numpy_bilinear_tf1(x[0, 0, :, 0], 23), legacy, atol=1e-6)
