"""TxtNet's multi-scale fusion against a NumPy re-derivation of TF1's resize."""

import numpy as np

from ssah_tf.config import RELEASE_WINDOWS
from ssah_tf.models import TxtNet
from tests.models.test_layers import numpy_bilinear_tf1


def test_multiscale_map_matches_numpy_rederivation():
    text_dim, windows = 61, RELEASE_WINDOWS
    net = TxtNet(
        text_dim=text_dim, windows=windows, bits=8, num_labels=3, semantic_dim=8, hidden_dim=16
    )
    scales = [0.7, -0.2, 1.3, 0.05, 2.0]
    for variable, value in zip(net.fusion.scales, scales):
        variable.assign(value)
    text = (np.random.default_rng(1).random((4, text_dim)) < 0.3).astype(np.float32)
    fused = net.multiscale(text).numpy()
    for row in range(4):
        expected = [text[row]]
        for w, scale in zip(windows, scales):
            pooled = text[row, : (text_dim // w) * w].reshape(-1, w).mean(1)
            expected.append(numpy_bilinear_tf1(np.maximum(pooled * scale, 0), text_dim))
        np.testing.assert_allclose(fused[row], np.stack(expected, 1), rtol=1e-5, atol=1e-7)
    assert np.all(fused[:, :, 2] == 0)  # the negative scale's branch is dead after ReLU
