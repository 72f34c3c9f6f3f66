"""LabNet: the release's initialisation and what its heads return."""

import numpy as np

from ssah_tf.models import LabNet
from ssah_tf.models.layers import Initialization


def test_initialisation_is_normal_with_stddev_0_01():
    net = LabNet(num_labels=50, bits=16, semantic_dim=512, hidden_dim=4096)
    for variable in net.trainable_variables:
        values = variable.numpy()
        if values.size > 2000:
            assert abs(values.std() - 0.01) < 5e-4 and abs(values.mean()) < 5e-4, variable.path


def test_heads_shapes_and_ranges():
    net = LabNet(
        num_labels=5, bits=16, semantic_dim=32, hidden_dim=64, init=Initialization(scheme="glorot")
    )
    out = net(np.eye(5, dtype=np.float32))
    assert out.hash.shape == (5, 16) and out.feature.shape == (5, 32) and out.label.shape == (5, 5)
    assert np.all(np.abs(out.hash.numpy()) < 1)  # tanh codes
    assert np.all(out.feature.numpy() >= 0)  # ReLU features: Delta = F F^T / 2 >= 0
