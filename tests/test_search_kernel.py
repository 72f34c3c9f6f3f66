"""The compiled top-k kernel against a full stable sort."""

import numpy as np
import pytest

from ssah_tf.bits import as_words, hamming_packed, pack_bits

search_kernel = pytest.importorskip(
    "ssah_tf.search_kernel", reason="numba is optional at run time (NumPy rows instead)"
)


def full_sort(queries, database, k, radius):
    distance = hamming_packed(queries, database).astype(np.int64)
    out = []
    for row in distance:
        order = np.lexsort((np.arange(len(row)), row))
        if radius is not None:
            order = order[row[order] <= radius]
        out.append((order[:k], row[order[:k]]))
    return out


@pytest.mark.parametrize("bits", [16, 64, 72])
@pytest.mark.parametrize("k,radius", [(1, None), (50, None), (20, 3), (10_000, None)])
def test_equals_a_full_sort_across_chunks_with_ties(bits, k, radius):
    """Several database chunks and groups, few distinct codes (ties at every distance,
    decided by index), one- and two-word codes, k beyond the database, a radius."""
    rng = np.random.default_rng(bits + k)
    palette = rng.integers(0, 2, (5, bits))
    num_db = 2 * search_kernel._CHUNK + 77
    database = palette[rng.integers(0, 5, num_db)] ^ (rng.random((num_db, bits)) < 0.03)
    queries = palette[rng.integers(0, 5, 7)] ^ (rng.random((7, bits)) < 0.03)
    packed_q, packed_db = pack_bits(queries), pack_bits(database)
    got = search_kernel.top_k(
        as_words(packed_q), as_words(packed_db), k=k, bits=bits, radius=radius
    )
    for (indices, distances), (want_i, want_d) in zip(
        got, full_sort(packed_q, packed_db, k, radius)
    ):
        np.testing.assert_array_equal(indices, want_i)
        np.testing.assert_array_equal(distances, want_d)


def test_a_query_with_k_items_at_distance_zero_stops_looking():
    """Once k items sit at distance 0 the limit falls below 0: the answer is the first
    k of them by index."""
    database = np.zeros((300, 8), np.uint8)
    database[::2] = 255
    query = as_words(np.zeros((1, 8), np.uint8))
    got = search_kernel.top_k(query, as_words(database), k=5, bits=64)
    np.testing.assert_array_equal(got[0][0], [1, 3, 5, 7, 9])
    np.testing.assert_array_equal(got[0][1], [0, 0, 0, 0, 0])
