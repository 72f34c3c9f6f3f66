"""Bits: packing, Hamming distances, codes from H, label words — against brute force."""

import numpy as np
import pytest

from ssah_tf.bits import (
    as_words,
    codes_from_hash,
    hamming_packed,
    pack_bits,
    pack_label_bits,
    pack_words,
)


@pytest.mark.parametrize("bits", [1, 12, 16, 33, 64, 130])
def test_hamming_of_packed_codes_is_the_bit_difference_count(bits):
    rng = np.random.default_rng(bits)
    q, d = rng.choice([-1, 1], size=(7, bits)), rng.choice([-1, 1], size=(11, bits))
    np.testing.assert_array_equal(
        hamming_packed(pack_bits(q), pack_bits(d)), (q[:, None] != d[None]).sum(-1)
    )


def test_words_keep_every_bit_and_pad_with_zeros():
    bits = np.array([[1, 0, 1] + [0] * 14 + [1]], bool)  # 18 bits -> 3 bytes -> one 32-bit lane
    words = pack_words(bits)
    assert words.dtype == np.uint32 and words.shape == (1, 1)
    assert np.unpackbits(words.view(np.uint8))[:18].tolist() == bits[0].astype(int).tolist()
    assert as_words(pack_bits(bits)).dtype == np.uint64
    assert pack_words(np.ones((2, 70), bool)).dtype == np.uint64


def test_codes_from_hash_count_a_tie_as_plus_one():
    np.testing.assert_array_equal(codes_from_hash(np.array([[-0.5, 0.0, 2.0]])), [[-1, 1, 1]])


def test_label_bit_words_share_a_label_exactly_when_the_product_is_positive():

    rng = np.random.default_rng(0)
    labels = (rng.random((50, 70)) < 0.03).astype(np.float32)  # 70 classes: 3 words
    bits = pack_label_bits(labels)
    assert bits.shape == (50, 3) and bits.dtype == np.int32 and (bits >= 0).all()
    shared = ((bits[:, None, :] & bits[None, :, :]) != 0).any(-1)
    np.testing.assert_array_equal(shared, labels @ labels.T > 0)
