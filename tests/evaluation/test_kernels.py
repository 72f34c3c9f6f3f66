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
        kernels.packed_average_precisions(
            query, database, query_labels, database_labels, 2, top_k, ap, count
        )
        assert ap[0] == pytest.approx(expected) and count[0] == relevant


@pytest.mark.parametrize("bits,classes", [(64, 24), (72, 70)])
def test_blocks_and_chunks_match_numpy(monkeypatch, bits, classes):
    """More queries than one key block and more items than one chunk of the key pass
    and of the ranking walk, one-word and multi-word codes and labels, every variant:
    the kernel equals the NumPy ranking (exact against brute force in test_metrics)."""
    from ssah_tf.evaluation import metrics

    rng = np.random.default_rng(3)
    num_queries = kernels.QUERY_BLOCK + 5
    num_db = 2 * kernels._CHUNK + 123
    # Few distinct codes: heavy ties, the case where index order matters.
    palette = rng.integers(0, 2, (6, bits))
    query_codes = palette[rng.integers(0, 6, num_queries)] ^ (rng.random((num_queries, bits)) < 0.1)
    database_codes = palette[rng.integers(0, 6, num_db)] ^ (rng.random((num_db, bits)) < 0.1)
    query_labels = rng.random((num_queries, classes)) < 0.05
    database_labels = rng.random((num_db, classes)) < 0.05
    kw = dict(
        query_codes=query_codes.astype(np.int8),
        database_codes=database_codes.astype(np.int8),
        query_labels=query_labels,
        database_labels=database_labels,
    )
    variants = [("all", None), ("top_k", 50), ("first_k_relevant", 20)]
    compiled = [metrics.average_precisions(**kw, map_variant=v, top_k=k)[0] for v, k in variants]
    monkeypatch.setattr(metrics, "_AP_KERNEL", None)
    for (variant, k), ap in zip(variants, compiled):
        expected = metrics.average_precisions(**kw, map_variant=variant, top_k=k)[0]
        np.testing.assert_allclose(ap, expected, rtol=0, atol=1e-12, err_msg=variant)
