"""Metrics against brute-force per-query references and a hand-worked toy case."""

import numpy as np
import pytest

from ssah_tf.evaluation.curves import (
    precision_at_n,
    precision_recall_by_radius,
    precision_within_radius,
)
from ssah_tf.evaluation.hamming import hamming_distance
from ssah_tf.evaluation.metrics import mean_average_precision, mean_average_precision_tie_aware


def brute_force_map(qb, db, ql, dl, k=None, skip_empty=False):
    """One query at a time, DCMH style, with a stable sort by (distance, index)."""
    aps = []
    for i in range(len(qb)):
        dist = [(int(np.sum(qb[i] != db[j])), j) for j in range(len(db))]
        order = [j for _, j in sorted(dist)][: (k or len(db))]
        relevant = [float(ql[i] @ dl[j] > 0) for j in order]
        hits, precisions = 0, []
        for rank, rel in enumerate(relevant, start=1):
            if rel:
                hits += 1
                precisions.append(hits / rank)
        if precisions:
            aps.append(np.mean(precisions))
        elif not skip_empty:
            aps.append(0.0)
    return float(np.mean(aps)) if aps else 0.0


def brute_force_first_k_relevant(qb, db, ql, dl, k, skip_empty=False):
    """torchcmh's calc_map_k, from its definition: total = min(k, relevant items); AP =
    mean over i = 1..total of i / (rank of the i-th relevant item); no relevant item: 0."""
    aps = []
    for i in range(len(qb)):
        order = sorted(range(len(db)), key=lambda j: (int(np.sum(qb[i] != db[j])), j))
        ranks = [rank for rank, j in enumerate(order, start=1) if ql[i] @ dl[j] > 0]
        total = min(k, len(ranks))
        if total:
            aps.append(np.mean([h / ranks[h - 1] for h in range(1, total + 1)]))
        elif not skip_empty:
            aps.append(0.0)
    return float(np.mean(aps)) if aps else 0.0


def random_case(seed, nq=13, nd=40, bits=16, c=5, distinct_codes=None):
    rng = np.random.default_rng(seed)
    if distinct_codes:  # heavy ties: few distinct codes
        pool = rng.choice([-1, 1], size=(distinct_codes, bits))
        qb, db = (
            pool[rng.integers(0, distinct_codes, nq)],
            pool[rng.integers(0, distinct_codes, nd)],
        )
    else:
        qb, db = rng.choice([-1, 1], size=(nq, bits)), rng.choice([-1, 1], size=(nd, bits))
    ql = (rng.random((nq, c)) < 0.25).astype(np.float32)
    dl = (rng.random((nd, c)) < 0.25).astype(np.float32)
    ql[0] = 0  # a query with no relevant item
    return qb, db, ql, dl


def test_toy_case_by_hand(map_implementation):
    # 2-bit codes. Query q = (+1, +1) with label A.
    # Database: d0 (-1,-1) A, d1 (+1,+1) B, d2 (+1,-1) A, d3 (+1,+1) A.
    # Distances 2, 0, 1, 0 -> stable ranking d1, d3, d2, d0; relevant 0, 1, 1, 1.
    # AP = (1/2 + 2/3 + 3/4) / 3 = 0.6388...; AP@2 = (1/2) / 1 = 0.5.
    q = np.array([[1, 1]])
    d = np.array([[-1, -1], [1, 1], [1, -1], [1, 1]])
    ql = np.array([[1, 0]])
    dl = np.array([[1, 0], [0, 1], [1, 0], [1, 0]])
    kw = dict(query_codes=q, database_codes=d, query_labels=ql, database_labels=dl)
    assert mean_average_precision(**kw) == pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3)
    assert mean_average_precision(**kw, top_k=2) == pytest.approx(0.5)
    assert mean_average_precision(**kw, map_variant="top_k", top_k=2) == pytest.approx(0.5)
    # first_k_relevant, k = 2: the first 2 relevant items (d3 at rank 2, d2 at rank 3),
    # wherever they are: (1/2 + 2/3) / 2; with k >= 3 relevant items it is mAP@all.
    assert mean_average_precision(**kw, map_variant="first_k_relevant", top_k=2) == pytest.approx(
        (1 / 2 + 2 / 3) / 2
    )
    assert mean_average_precision(**kw, map_variant="first_k_relevant", top_k=3) == pytest.approx(
        (1 / 2 + 2 / 3 + 3 / 4) / 3
    )
    # Random order within the distance-0 tie (d1 irrelevant, d3 relevant): the relevant one
    # is first or second with probability 1/2 each, precision 1 or 1/2: expected 3/4.
    assert mean_average_precision_tie_aware(**kw) == pytest.approx((3 / 4 + 2 / 3 + 3 / 4) / 3)
    # precision@1 = 0, @2 = 1/2, @4 = 3/4
    np.testing.assert_allclose(precision_at_n(**kw, n_values=[1, 2, 4, 10]), [0, 0.5, 0.75, 0.75])
    # radius 0 retrieves d1, d3 (1 relevant of 2): P 0.5, R 1/3; radius 1 adds d2: P 2/3, R 2/3.
    radii, precision, recall = precision_recall_by_radius(**kw)
    np.testing.assert_allclose(precision, [0.5, 2 / 3, 0.75])
    np.testing.assert_allclose(recall, [1 / 3, 2 / 3, 1.0])
    assert precision_within_radius(**kw, radius=1) == pytest.approx(2 / 3)
    assert hamming_distance(q, d).tolist() == [[2, 0, 1, 0]]


@pytest.fixture(params=["compiled", "numpy"])
def map_implementation(request, monkeypatch):
    """Run a test with the numba kernel and again with the NumPy blocks."""
    from ssah_tf.evaluation import metrics

    if request.param == "compiled":
        if metrics._AP_KERNEL is None:
            pytest.skip("numba is not installed (an install requirement): no compiled kernel")
    else:
        monkeypatch.setattr(metrics, "_AP_KERNEL", None)
    return request.param


@pytest.mark.parametrize("seed,distinct", [(0, None), (1, 3), (2, 2)])
@pytest.mark.parametrize("k", [None, 5, 1000])
def test_map_equals_brute_force(seed, distinct, k, map_implementation):
    qb, db, ql, dl = random_case(seed, distinct_codes=distinct)
    for skip in (False, True):
        got = mean_average_precision(
            query_codes=qb,
            database_codes=db,
            query_labels=ql,
            database_labels=dl,
            top_k=k,
            skip_empty_queries=skip,
            block_size=4,
        )
        assert got == pytest.approx(brute_force_map(qb, db, ql, dl, k, skip), abs=1e-12)


def test_zero_one_codes_and_errors():
    qb, db, ql, dl = random_case(3)
    a = mean_average_precision(
        query_codes=qb, database_codes=db, query_labels=ql, database_labels=dl
    )
    b = mean_average_precision(
        query_codes=(qb > 0).astype(int),
        database_codes=(db > 0).astype(int),
        query_labels=ql,
        database_labels=dl,
    )
    assert a == b
    with pytest.raises(ValueError, match="disagree"):
        mean_average_precision(
            query_codes=qb, database_codes=db, query_labels=ql[:3], database_labels=dl
        )
    with pytest.raises(ValueError, match="code lengths"):
        hamming_distance(qb, db[:, :8])


@pytest.mark.parametrize("bits,classes", [(8, 3), (64, 5), (72, 70), (300, 4)])
def test_wide_codes_and_labels_threads_and_fallback(monkeypatch, bits, classes, map_implementation):
    """Multi-word codes (72 bits), uint16 distances (300 bits), labels past one 64-bit
    word (70 classes): every block size, thread count and the argsort fallback agree
    with the brute-force reference."""
    qb, db, ql, dl = random_case(7, nq=9, nd=33, bits=bits, c=classes, distinct_codes=5)
    expected = brute_force_map(qb, db, ql, dl)
    kw = dict(query_codes=qb, database_codes=db, query_labels=ql, database_labels=dl)
    for block, workers in [(None, None), (1, 1), (2, 3), (4, 2)]:
        assert mean_average_precision(**kw, block_size=block, workers=workers) == pytest.approx(
            expected, abs=1e-12
        )
    assert mean_average_precision(**kw, top_k=7, block_size=2, workers=2) == pytest.approx(
        brute_force_map(qb, db, ql, dl, 7), abs=1e-12
    )
    from ssah_tf.evaluation import metrics

    monkeypatch.setattr(metrics, "_AP_KERNEL", None)
    monkeypatch.setattr(metrics, "_COO_TOCSR", None)  # NumPy's stable argsort instead
    assert mean_average_precision(**kw, block_size=2) == pytest.approx(expected, abs=1e-12)


def test_compiled_kernel_matches_numpy_at_scale(monkeypatch):
    """Label-correlated 64-bit codes with many ties, 300 queries x 3,000 items, full and
    @k: the compiled kernel and the NumPy blocks (each exact against brute force on
    the small cases above) agree, with and without empty queries."""
    from ssah_tf.evaluation import metrics

    if metrics._AP_KERNEL is None:
        pytest.skip("numba is not installed (an install requirement): no compiled kernel")
    rng = np.random.default_rng(11)
    ql = (rng.random((300, 24)) < 0.1).astype(np.float32)
    dl = (rng.random((3000, 24)) < 0.1).astype(np.float32)
    projection = rng.standard_normal((24, 64))
    qb = np.where(ql @ projection + rng.standard_normal((300, 64)) >= 0, 1, -1)
    db = np.where(dl @ projection + rng.standard_normal((3000, 64)) >= 0, 1, -1)
    kw = dict(query_codes=qb, database_codes=db, query_labels=ql, database_labels=dl)
    settings = [dict(), dict(top_k=50), dict(top_k=50, skip_empty_queries=True)]
    compiled = [mean_average_precision(**kw, **s) for s in settings]
    monkeypatch.setattr(metrics, "_AP_KERNEL", None)
    numpy_blocks = [mean_average_precision(**kw, **s) for s in settings]
    np.testing.assert_allclose(compiled, numpy_blocks, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed,distinct", [(0, None), (1, 3), (2, 2)])
@pytest.mark.parametrize("k", [1, 3, 5, 1000])
def test_first_k_relevant_equals_its_definition(seed, distinct, k, map_implementation):
    qb, db, ql, dl = random_case(seed, distinct_codes=distinct)
    for skip in (False, True):
        got = mean_average_precision(
            query_codes=qb,
            database_codes=db,
            query_labels=ql,
            database_labels=dl,
            map_variant="first_k_relevant",
            top_k=k,
            skip_empty_queries=skip,
            block_size=4,
        )
        assert got == pytest.approx(
            brute_force_first_k_relevant(qb, db, ql, dl, k, skip), abs=1e-12
        )
    if k >= len(db):  # k at least every query's relevant count: mAP@all
        assert got == pytest.approx(brute_force_map(qb, db, ql, dl, None, True), abs=1e-12)


def test_variants_differ_on_the_same_codes():
    qb, db, ql, dl = random_case(4, nq=20, nd=60, distinct_codes=4)
    kw = dict(query_codes=qb, database_codes=db, query_labels=ql, database_labels=dl)
    figures = {
        v: mean_average_precision(**kw, map_variant=v, top_k=None if v == "all" else 5)
        for v in ("all", "top_k", "first_k_relevant")
    }
    assert len({round(f, 9) for f in figures.values()}) == 3


def all_tie_orders_map(qb, db, ql, dl):
    """Exact expectation of mAP@all over every order within each distance tie."""
    import itertools

    aps = []
    for i in range(len(qb)):
        dist = (qb[i] != db).sum(1)
        rel = (dl @ ql[i]) > 0
        groups = [np.flatnonzero(dist == d) for d in np.unique(dist)]
        values = []
        for orders in itertools.product(*[itertools.permutations(g) for g in groups]):
            ranked = rel[np.concatenate(orders)]
            hits = np.cumsum(ranked)
            values.append(
                (hits / np.arange(1, len(ranked) + 1))[ranked].mean() if ranked.any() else 0.0
            )
        aps.append(np.mean(values))
    return float(np.mean(aps))


def test_tie_aware_map_is_the_expectation_over_tie_orders():
    # Exact: every permutation inside every tie (3 queries, 7 items, 3 distinct codes).
    qb, db, ql, dl = random_case(8, nq=3, nd=7, bits=6, c=3, distinct_codes=3)
    kw = dict(query_codes=qb, database_codes=db, query_labels=ql, database_labels=dl)
    assert mean_average_precision_tie_aware(**kw) == pytest.approx(
        all_tie_orders_map(qb, db, ql, dl), abs=1e-12
    )
    # Statistical: the mean over many random tie orders of the stable figure, obtained by
    # permuting the database (the stable order is then random within each tie).
    qb, db, ql, dl = random_case(9, nq=10, nd=80, bits=8, c=4, distinct_codes=4)
    kw = dict(query_codes=qb, database_codes=db, query_labels=ql, database_labels=dl)
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(400):
        perm = rng.permutation(len(db))
        samples.append(
            mean_average_precision(
                query_codes=qb, database_codes=db[perm], query_labels=ql, database_labels=dl[perm]
            )
        )
    expected = mean_average_precision_tie_aware(**kw)
    assert abs(np.mean(samples) - expected) < 4 * np.std(samples) / np.sqrt(len(samples))
    assert np.std(samples) > 1e-3  # the ties really move the stable figure
    assert mean_average_precision_tie_aware(**kw, skip_empty_queries=True) > expected


def test_per_query_ap_equals_brute_force(map_implementation):
    from ssah_tf.evaluation.metrics import average_precisions

    qb, db, ql, dl = random_case(6, distinct_codes=3)
    kw = dict(query_codes=qb, database_codes=db, query_labels=ql, database_labels=dl)
    ap, has_relevant = average_precisions(**kw, block_size=3)
    for i in range(len(qb)):
        assert ap[i] == pytest.approx(
            brute_force_map(qb[i : i + 1], db, ql[i : i + 1], dl), abs=1e-12
        )
    assert not has_relevant[0] and has_relevant.sum() == int(((ql @ dl.T) > 0).any(1).sum())
