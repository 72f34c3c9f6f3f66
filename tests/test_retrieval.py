"""Packed-code Hamming search against brute force."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.bits import hamming_packed
from ssah_tf.bits import pack_bits as pack_codes
from ssah_tf.errors import UserError
from ssah_tf.retrieval import decode_image, search


def brute(q, d, k=None, r=None):
    out = []
    for row in q:
        dist = (row[None, :] != d).sum(1)
        order = sorted(range(len(d)), key=lambda j: (dist[j], j))
        if r is not None:
            order = [j for j in order if dist[j] <= r]
        if k is not None:
            order = order[:k]
        out.append((np.array(order, dtype=np.int64), dist[order]))
    return out


@pytest.mark.parametrize("bits", [12, 16, 64])
def test_search_equals_brute_force_with_ties(bits):
    rng = np.random.default_rng(bits)
    pool = rng.choice([-1, 1], size=(6, bits))  # few distinct codes: heavy ties
    d = np.concatenate([pool[rng.integers(0, 6, 150)], rng.choice([-1, 1], size=(50, bits))])
    q = rng.choice([-1, 1], size=(9, bits))
    pq, pd = pack_codes(q), pack_codes(d)
    np.testing.assert_array_equal(hamming_packed(pq, pd), (q[:, None] != d[None]).sum(-1))
    for kw in ({"top_k": 7}, {"top_k": 500}, {"radius": bits // 2}, {"top_k": 5, "radius": 3}):
        got = list(search(pq, pd, threads=2, **kw))
        want = brute(q, d, kw.get("top_k"), kw.get("radius"))
        for (gi, gd), (wi, wd) in zip(got, want):
            np.testing.assert_array_equal(gi, wi)
            np.testing.assert_array_equal(gd, wd)


def test_search_errors_and_image_decoding(tmp_path):
    with pytest.raises(UserError, match="top_k"):
        list(search(pack_codes(np.ones((1, 8))), pack_codes(np.ones((2, 8)))))
    good = tmp_path / "good.png"
    tf.io.write_file(str(good), tf.io.encode_png(np.full((5, 7, 3), 9, np.uint8)))
    assert decode_image(str(good), 4).shape == (4, 4, 3)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.jpg"):
        decode_image(str(bad), 4)


@pytest.mark.parametrize("bits", [16, 64])
def test_faiss_flat_is_identical_and_approximate_indexes_find_neighbours(bits):
    pytest.importorskip("faiss", reason="faiss-cpu is an optional extra (in the test extra)")
    from ssah_tf.retrieval import FaissSearcher

    rng = np.random.default_rng(7)
    pool = rng.choice([-1, 1], size=(5, bits))
    d = np.concatenate([pool[rng.integers(0, 5, 300)], rng.choice([-1, 1], size=(700, bits))])
    q = np.concatenate([pool[:2], rng.choice([-1, 1], size=(6, bits))])
    pq, pd = pack_codes(q), pack_codes(d)
    flat = FaissSearcher(pd, kind="flat")
    for kw in ({"top_k": 10}, {"top_k": 2000}, {"radius": 3}, {"top_k": 4, "radius": 1}):
        for (gi, gd), (wi, wd) in zip(flat.search(pq, **kw), search(pq, pd, **kw)):
            np.testing.assert_array_equal(gi, wi)
            np.testing.assert_array_equal(gd, wd)
    true = (q[:, None] != d[None]).sum(-1)
    # IVF probing every list is exhaustive: the distances equal the exact ones.
    ivf = FaissSearcher(pd, kind="ivf", nlist=8, nprobe=8)
    for (_, gd), (_, wd) in zip(ivf.search(pq, top_k=10), search(pq, pd, top_k=10)):
        np.testing.assert_array_equal(gd, wd)
    # HNSW is approximate: reported distances are true, sorted, and most neighbours are found.
    hnsw = FaissSearcher(pd, kind="hnsw")
    found = 0
    for row, ((gi, gd), (_, wd)) in enumerate(
        zip(hnsw.search(pq, top_k=10), search(pq, pd, top_k=10))
    ):
        np.testing.assert_array_equal(gd, true[row, gi])
        assert np.all(np.diff(gd.astype(int)) >= 0)
        found += np.sum(gd <= wd[-1])
    assert found / (10 * len(q)) > 0.5


@pytest.mark.parametrize("k,radius", [(5, None), (40, None), (5, 3), (3, 30)])
def test_sampled_threshold_path_is_exact(k, radius):
    """Databases large enough (n >= 128 k) for the sampled k-th-distance estimate."""
    rng = np.random.default_rng(k)
    bits = 32
    pool = rng.choice([-1, 1], size=(20, bits))
    d = np.concatenate([pool[rng.integers(0, 20, 4000)], rng.choice([-1, 1], size=(4000, bits))])
    q = np.concatenate([pool[:3], rng.choice([-1, 1], size=(5, bits))])
    dist = (q[:, None] != d[None]).sum(-1)
    for row, (gi, gd) in enumerate(search(pack_codes(q), pack_codes(d), top_k=k, radius=radius)):
        order = np.lexsort((np.arange(len(d)), dist[row]))
        if radius is not None:
            order = order[dist[row][order] <= radius]
        np.testing.assert_array_equal(gi, order[:k])
        np.testing.assert_array_equal(gd, dist[row][order[:k]])


@pytest.mark.parametrize("bits", [64, 100])
def test_blocked_search_across_block_boundaries(monkeypatch, bits):
    """Distances are computed in cache-sized database blocks: with a tiny block size the
    block edges fall everywhere; one and two 64-bit words."""
    from ssah_tf import retrieval

    monkeypatch.setattr(retrieval, "_SEARCH_BLOCK", 7)
    rng = np.random.default_rng(bits)
    d = rng.choice([-1, 1], size=(101, bits))
    q = np.concatenate([d[:2], rng.choice([-1, 1], size=(3, bits))])
    dist = (q[:, None] != d[None]).sum(-1)
    for row, (gi, gd) in enumerate(search(pack_codes(q), pack_codes(d), top_k=10)):
        order = np.lexsort((np.arange(len(d)), dist[row]))[:10]
        np.testing.assert_array_equal(gi, order)
        np.testing.assert_array_equal(gd, dist[row][order])


def test_a_top_k_cut_inside_a_tie_is_counted():
    from ssah_tf.retrieval import tie_at_cut

    # By hand: 5 database codes at distance 0 from the query, one at distance 8.
    query = np.packbits(np.ones((1, 8), bool), axis=1)
    database = np.packbits(np.array([[1] * 8] * 5 + [[0] * 8], bool), axis=1)
    ((indices, distances),) = list(search(query, database, top_k=3))
    assert distances.tolist() == [0, 0, 0]
    assert tie_at_cut(query[0], database, distances, 3) == (0, 5, 3)
    ((indices, distances),) = list(search(query, database, top_k=6))
    assert tie_at_cut(query[0], database, distances, 6) is None  # the whole tie is shown
