"""The compiled AP kernel on a hand-worked case."""

import numpy as np
import pytest

from ssah_tf.bits import pack_words

kernels = pytest.importorskip(
    "ssah_tf.evaluation.kernels",
    reason="numba is optional at run time (metrics fall back to NumPy)",
)


def test_per_query_ap_by_hand():
    # One 2-bit query 00; database codes 00, 11, 01, 00 (distances 0, 2, 1, 0); items 0, 1
    # and 2 relevant. Stable ranking: item 0 (d 0), item 3 (d 0), item 2 (d 1), item 1 (d 2).
    # Relevant at ranks 1, 3, 4: AP = (1/1 + 2/3 + 3/4) / 3; top 2: only rank 1 -> AP 1.
    query = pack_words(np.array([[0, 0]], bool), 8)
    database = pack_words(np.array([[0, 0], [1, 1], [0, 1], [0, 0]], bool), 8)
    query_labels = pack_words(np.array([[1, 0]], bool), 8)
    database_labels = pack_words(np.array([[1, 0], [1, 1], [1, 0], [0, 1]], bool), 8)
    for top_k, expected, relevant in ((4, (1 + 2 / 3 + 3 / 4) / 3, 3), (2, 1.0, 1)):
        ap, count = np.zeros(1), np.zeros(1, np.int64)
        kernels.average_precisions(
            query, database, query_labels, database_labels, 2, top_k, ap, count
        )
        assert ap[0] == pytest.approx(expected) and count[0] == relevant
