"""Standardisation statistics: training rows only, 0/1 detection, constant columns."""

import numpy as np
import pytest

from ssah_tf.data.scaling import fit_standardizer, is_binary, wants_scaling
from ssah_tf.errors import UserError


def test_statistics_are_those_of_the_rows_given():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [1000.0, -5.0]], np.float32)
    train = fit_standardizer(x[:2])
    # By hand: column 0 mean 2, std 1; column 1 constant on the training rows -> scale 1.
    np.testing.assert_allclose(train.mean, [2.0, 10.0])
    np.testing.assert_allclose(train.scale, [1.0, 1.0])
    np.testing.assert_allclose(train.apply(x), [[-1.0, 0.0], [1.0, 0.0], [998.0, -15.0]])


def test_binary_detection_and_settings():
    tags = np.array([[0, 1, 1], [1, 0, 0]], np.float32)
    dense = np.array([[0.5, 1.0], [2.0, 0.0]], np.float32)
    assert is_binary(tags) and not is_binary(dense)
    assert wants_scaling("auto", dense, "text") and not wants_scaling("auto", tags, "text")
    assert wants_scaling("on", tags, "text") and not wants_scaling("off", dense, "text")
    with pytest.raises(UserError, match="standardize_text"):
        wants_scaling("maybe", dense, "text")
