"""Hamming distances and the query-block map against brute force."""

import numpy as np
import pytest

from ssah_tf.evaluation.hamming import checked_codes, code_bits, hamming_distance, map_blocks
from tests.evaluation.test_metrics import random_case


def test_distances_equal_counting_differing_bits_for_both_code_forms():
    qb, db, ql, dl = random_case(2, bits=72)
    expected = (qb[:, None, :] != db[None, :, :]).sum(-1)
    np.testing.assert_array_equal(hamming_distance(qb, db), expected)
    np.testing.assert_array_equal(hamming_distance(qb > 0, (db > 0).astype(int)), expected)
    assert code_bits(np.array([[-1, 1, 0]])).tolist() == [[False, True, True]]  # 0 -> +1
    with pytest.raises(ValueError, match="code lengths differ"):
        checked_codes(qb, db[:, :8], ql, dl)
    with pytest.raises(ValueError, match="disagree on the number of items"):
        checked_codes(qb, db, ql[:2], dl)


def test_query_blocks_cover_every_query_once():
    qb, db, ql, dl = random_case(4, nq=29)
    seen = []

    def block(distance, relevant, bits, workspace):
        seen.append(len(distance))
        return distance.sum(axis=1)

    out = map_blocks(block, qb, db, ql, dl, block_size=4, workers=2)
    total = np.concatenate(out) if isinstance(out, list) else out
    assert sum(seen) == 29
    np.testing.assert_array_equal(
        np.sort(np.ravel(total)), np.sort((qb[:, None, :] != db[None, :, :]).sum(-1).sum(1))
    )
