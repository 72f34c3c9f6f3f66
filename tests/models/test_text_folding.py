"""TxtNet's folded first layer against the release's fused-map formulation."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.config import PAPER_WINDOWS, RELEASE_WINDOWS
from ssah_tf.models.layers import tf1_bilinear_matrix
from ssah_tf.models.text_folding import FoldedFirstLayer, _band_tables
from ssah_tf.models.txtnet import TxtNet


@pytest.mark.parametrize("shape,block", [((17, 40), 4), ((40, 17), 8), ((5, 5), 8)])
def test_band_tables_reproduce_the_dense_product(shape, block):
    rng = np.random.default_rng(0)
    rows, cols = shape
    # A banded matrix like a resize: row r touches a short run of columns.
    matrix = np.zeros(shape, np.float32)
    for r in range(rows):
        start = (r * cols) // rows
        matrix[r, start : min(cols, start + 3)] = rng.random(min(cols, start + 3) - start)
    x = rng.random((cols, 6)).astype(np.float32)
    columns, coefficients = _band_tables(matrix, block)
    blocked = np.einsum("bpw,bwh->bph", coefficients, x[columns]).reshape(-1, 6)[:rows]
    np.testing.assert_allclose(blocked, matrix @ x, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("windows", [RELEASE_WINDOWS, PAPER_WINDOWS])
def test_fold_is_the_resize_product_and_unfold_its_adjoint(windows):
    text_dim, hidden = 103, 7
    matrices = [tf1_bilinear_matrix(text_dim // w, text_dim).T for w in windows]
    layer = FoldedFirstLayer(text_dim, matrices)
    channels = 1 + len(windows)
    rng = np.random.default_rng(1)
    kernel = rng.standard_normal((text_dim * channels, hidden)).astype(np.float32)
    raw, branches = layer.fold(tf.constant(kernel))
    per_channel = kernel.reshape(text_dim, channels, hidden)
    np.testing.assert_array_equal(raw.numpy(), per_channel[:, 0])
    expected = np.concatenate([m @ per_channel[:, c + 1] for c, m in enumerate(matrices)])
    np.testing.assert_allclose(branches.numpy(), expected, rtol=1e-5, atol=1e-5)
    # Adjoint: <fold(K), G> == <K, unfold(G)> for any K, G.
    raw_grad = rng.standard_normal(raw.shape).astype(np.float32)
    branch_grad = rng.standard_normal(branches.shape).astype(np.float32)
    unfolded = layer.unfold(tf.constant(raw_grad), tf.constant(branch_grad)).numpy()
    lhs = np.sum(raw.numpy() * raw_grad) + np.sum(branches.numpy() * branch_grad)
    np.testing.assert_allclose(np.sum(kernel * unfolded), lhs, rtol=1e-4)


def _reference_outputs(net, text):
    """The release's formulation: fused map flattened row-major times the full kernel."""
    fused = net.multiscale(text)
    flat = tf.reshape(fused, [-1, fused.shape[1] * fused.shape[2]])
    return net._heads(tf.matmul(flat, net.hidden.kernel) + net.hidden.bias)


@pytest.mark.parametrize("windows", [RELEASE_WINDOWS, PAPER_WINDOWS])
def test_txtnet_outputs_and_gradients_equal_the_unfolded_network(windows):
    net = TxtNet(
        text_dim=120, num_labels=5, bits=16, windows=windows, hidden_dim=64, semantic_dim=32
    )
    for scale in net.fusion.scales:  # large enough that every branch is active
        scale.assign(1.5)
    text = tf.constant((np.random.default_rng(0).random((9, 120)) < 0.2).astype(np.float32))
    weights = tf.constant(np.random.default_rng(2).standard_normal((9, 16)).astype(np.float32))
    results = []
    for forward in (net, lambda t: _reference_outputs(net, t)):
        with tf.GradientTape() as tape:
            out = forward(text)
            loss = (
                tf.reduce_sum(out.hash * weights)
                + tf.reduce_sum(out.feature)
                + tf.reduce_sum(out.label)
            )
        results.append((out, tape.gradient(loss, net.trainable_variables)))
    (folded, folded_grads), (plain, plain_grads) = results
    for a, b in zip(plain, folded):
        np.testing.assert_allclose(
            b.numpy(), a.numpy(), rtol=0, atol=1e-5 * max(1e-3, float(np.abs(a.numpy()).max()))
        )
    assert np.abs(plain.hash.numpy()).max() > 1e-3  # a non-trivial output
    for variable, a, b in zip(net.trainable_variables, plain_grads, folded_grads):
        scale = max(1e-6, float(np.abs(a.numpy()).max()))
        np.testing.assert_allclose(
            b.numpy(), a.numpy(), rtol=0, atol=2e-5 * scale, err_msg=variable.path
        )
    # Every branch scalar gets a gradient (the branches are live).
    scale_grads = [
        float(g.numpy())
        for v, g in zip(net.trainable_variables, folded_grads)
        if "scale_w" in v.path
    ]
    assert len(scale_grads) == len(windows) and all(abs(g) > 0 for g in scale_grads)
