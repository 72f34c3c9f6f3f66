"""Memory banks: initial contents and writes of the global batch."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.models.layers import NetworkOutput
from ssah_tf.training.banks import MemoryBanks


def test_zero_and_noise_banks_and_writes():
    generator = tf.random.Generator.from_seed(0)
    zeros = MemoryBanks(
        "lab", num_items=6, semantic_dim=4, bits=3, num_labels=2, generator=generator, init="zeros"
    )
    assert not np.any(tf.convert_to_tensor(zeros.feature).numpy())
    noise = MemoryBanks(
        "img",
        num_items=6,
        semantic_dim=4,
        bits=3,
        num_labels=2,
        generator=tf.random.Generator.from_seed(0),
        init="normal",
    )
    expected = tf.random.Generator.from_seed(0).normal([6, 4]).numpy()
    np.testing.assert_array_equal(tf.convert_to_tensor(noise.feature).numpy(), expected)
    out = NetworkOutput(feature=tf.ones([2, 4]), hash=-tf.ones([2, 3]), label=tf.fill([2, 2], 0.5))
    zeros.write(tf.constant([4, 1], tf.int64), out)
    feature = tf.convert_to_tensor(zeros.feature).numpy()
    assert feature[[1, 4]].tolist() == [[1.0] * 4] * 2 and not feature[[0, 2, 3, 5]].any()
    assert tf.convert_to_tensor(zeros.hash).numpy()[4].tolist() == [-1.0] * 3
    with pytest.raises(ValueError):
        MemoryBanks(
            "lab",
            num_items=2,
            semantic_dim=1,
            bits=1,
            num_labels=1,
            generator=generator,
            init="uniform",
        )
