"""Hamming-ranking retrieval metrics as pure NumPy functions (SPEC 6).

Codes are {-1, +1} (or {0, 1}) arrays [items, bits]; labels are multi-hot
[items, classes]; a database item is relevant to a query when they share a
label. Ranking is by Hamming distance with ties broken by database index
(stable), so results are reproducible, unlike the release's unstable
``np.argsort``. Work is blocked over queries so memory stays bounded, and the
ranking uses NumPy's stable radix sort on the small-integer distances (O(N)
per query) instead of a comparison sort.

mAP@k here is the mean over queries of AP computed on the first k ranked items
(precision at each relevant position among the first k, averaged over those
relevant items) — the convention of DCMH-style code that truncates the
ranking at k. Code that instead stops at the k-th *relevant* item, or divides
by min(k, number relevant), gives different numbers.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np


def _as_pm1(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D [items, bits], got shape {codes.shape}")
    if np.all((codes == 0) | (codes == 1)):
        codes = 2 * codes.astype(np.int64) - 1
    return np.where(codes >= 0, 1, -1).astype(np.float32)


def hamming_distance(query_codes: np.ndarray, database_codes: np.ndarray) -> np.ndarray:
    """[queries, database] Hamming distances of {-1, +1} codes: (K - <b_i, b_j>) / 2."""
    q, d = _as_pm1(query_codes), _as_pm1(database_codes)
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"code lengths differ: {q.shape[1]} vs {d.shape[1]} bits")
    distance = np.rint((q.shape[1] - q @ d.T) / 2)
    return distance.astype(np.uint8 if q.shape[1] < 256 else np.uint16)


def _check(query_codes, database_codes, query_labels, database_labels):
    if len(query_codes) != len(query_labels) or len(database_codes) != len(database_labels):
        raise ValueError("codes and labels disagree on the number of items")
    return (np.asarray(query_labels, np.float32), np.asarray(database_labels, np.float32))


def _blocks(query_codes, database_codes, query_labels, database_labels, block_size
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(distances, relevance) for blocks of queries."""
    q_labels, db_labels = _check(query_codes, database_codes, query_labels, database_labels)
    q_codes, db_codes = _as_pm1(query_codes), _as_pm1(database_codes)
    if q_codes.shape[1] != db_codes.shape[1]:
        raise ValueError(f"code lengths differ: {q_codes.shape[1]} vs {db_codes.shape[1]} bits")
    bits = q_codes.shape[1]
    dtype = np.uint8 if bits < 256 else np.uint16
    for start in range(0, len(q_codes), block_size):
        stop = start + block_size
        inner = q_codes[start:stop] @ db_codes.T  # exact integers in float32
        np.subtract(bits, inner, out=inner)
        inner *= 0.5
        yield inner.astype(dtype), (q_labels[start:stop] @ db_labels.T) > 0


def _ranked_relevance(distance: np.ndarray, relevant: np.ndarray, k: int) -> np.ndarray:
    """Relevance of the first k items of each query's stable Hamming ranking."""
    order = np.argsort(distance, axis=1, kind="stable")[:, :k]  # radix sort for uint8/16
    return np.take_along_axis(relevant, order, axis=1)


def mean_average_precision(*, query_codes: np.ndarray, database_codes: np.ndarray,
                           query_labels: np.ndarray, database_labels: np.ndarray,
                           top_k: int | None = None, skip_empty_queries: bool = False,
                           block_size: int = 256) -> float:
    """mAP of Hamming ranking over the whole database, or mAP@k with ``top_k``.

    With ``skip_empty_queries`` False (the release's convention) a query with no
    relevant item (among the first k) counts as AP 0; with True it is left out.
    """
    num_db = len(database_codes)
    k = num_db if top_k is None else min(int(top_k), num_db)
    if k <= 0:
        raise ValueError("top_k must be positive")
    total, counted = 0.0, 0
    for distance, relevant in _blocks(query_codes, database_codes, query_labels,
                                      database_labels, block_size):
        ranked = _ranked_relevance(distance, relevant, k)
        # At the relevant positions the running hit count is simply 1, 2, 3, ...:
        # AP = mean_t t / position_t over the relevant positions (no full-width cumsum).
        rows, cols = np.nonzero(ranked)
        num_relevant = np.bincount(rows, minlength=len(ranked))
        first = np.concatenate([[0], np.cumsum(num_relevant)[:-1]])
        hit_number = np.arange(1, len(rows) + 1) - first[rows]
        precision_sum = np.bincount(rows, weights=hit_number / (cols + 1.0), minlength=len(ranked))
        with np.errstate(invalid="ignore", divide="ignore"):
            ap = np.where(num_relevant > 0, precision_sum / np.maximum(num_relevant, 1), 0.0)
        total += float(ap.sum())
        counted += int((num_relevant > 0).sum()) if skip_empty_queries else len(ap)
    return total / counted if counted else 0.0


def precision_at_n(*, query_codes: np.ndarray, database_codes: np.ndarray,
                   query_labels: np.ndarray, database_labels: np.ndarray,
                   n_values: Sequence[int], block_size: int = 256) -> np.ndarray:
    """Mean over queries of the fraction of relevant items among the first N ranked,
    for each N in ``n_values`` (N larger than the database counts the whole database)."""
    n_values = np.asarray(n_values, np.int64)
    if np.any(n_values <= 0):
        raise ValueError("n_values must be positive")
    num_db = len(database_codes)
    k = int(min(n_values.max(), num_db))
    clipped = np.minimum(n_values, num_db)
    total = np.zeros(len(n_values))
    for distance, relevant in _blocks(query_codes, database_codes, query_labels,
                                      database_labels, block_size):
        hits = np.cumsum(_ranked_relevance(distance, relevant, k), axis=1)
        total += (hits[:, clipped - 1] / clipped).sum(axis=0)
    return total / len(query_codes)


def precision_recall_by_radius(*, query_codes: np.ndarray, database_codes: np.ndarray,
                               query_labels: np.ndarray, database_labels: np.ndarray,
                               block_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash-lookup precision and recall for every Hamming radius r = 0..K.

    Items within distance r are retrieved. precision(r) = mean, over queries that
    retrieve at least one item, of relevant retrieved / retrieved; recall(r) =
    mean, over queries with at least one relevant item, of relevant retrieved /
    relevant. Returns (radii, precision, recall).
    """
    bits = np.asarray(query_codes).shape[1]
    bins = bits + 1
    precision_sum, precision_count = np.zeros(bins), np.zeros(bins)
    recall_sum, recall_count = np.zeros(bins), 0
    for distance, relevant in _blocks(query_codes, database_codes, query_labels,
                                      database_labels, block_size):
        rows = len(distance)
        offset = (np.arange(rows)[:, None] * bins + distance).ravel()
        per_radius = np.bincount(offset, minlength=rows * bins).reshape(rows, bins)
        relevant_per_radius = np.bincount(offset, weights=relevant.ravel(),
                                          minlength=rows * bins).reshape(rows, bins)
        retrieved = np.cumsum(per_radius, axis=1)
        true_positive = np.cumsum(relevant_per_radius, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(retrieved > 0, true_positive / retrieved, 0.0)
        precision_sum += precision.sum(axis=0)
        precision_count += (retrieved > 0).sum(axis=0)
        total_relevant = relevant.sum(axis=1)
        has_relevant = total_relevant > 0
        recall_sum += (true_positive[has_relevant] / total_relevant[has_relevant, None]).sum(axis=0)
        recall_count += int(has_relevant.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(precision_count > 0, precision_sum / np.maximum(precision_count, 1), 0.0)
    recall = recall_sum / max(recall_count, 1)
    return np.arange(bins), precision, recall


def precision_within_radius(*, query_codes: np.ndarray, database_codes: np.ndarray,
                            query_labels: np.ndarray, database_labels: np.ndarray,
                            radius: int = 2, block_size: int = 256) -> float:
    """Precision of hash lookup within Hamming radius ``radius`` (default 2)."""
    _, precision, _ = precision_recall_by_radius(
        query_codes=query_codes, database_codes=database_codes, query_labels=query_labels,
        database_labels=database_labels, block_size=block_size)
    return float(precision[min(radius, len(precision) - 1)])
