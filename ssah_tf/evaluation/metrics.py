"""Hamming-ranking retrieval metrics as pure NumPy functions (SPEC 6).

Codes are {-1, +1} (or {0, 1}) arrays [items, bits]; labels are multi-hot
[items, classes]; a database item is relevant to a query when they share a
label. Ties in Hamming distance are broken by database index (stable), so
results are reproducible, unlike the release's unstable ``np.argsort``.
Work is blocked over queries so memory stays bounded.
"""

from __future__ import annotations

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
    return np.rint((q.shape[1] - q @ d.T) / 2).astype(np.int32)


def mean_average_precision(*, query_codes: np.ndarray, database_codes: np.ndarray,
                           query_labels: np.ndarray, database_labels: np.ndarray,
                           top_k: int | None = None, skip_empty_queries: bool = False,
                           block_size: int = 256) -> float:
    """mAP of Hamming ranking (mAP@k when ``top_k`` is given).

    AP of a query = mean over its relevant items among the first k ranked of
    (relevant seen so far / rank). With ``skip_empty_queries`` False (the
    release's convention) queries with no relevant item count as AP 0 in the
    mean; with True they are left out of the mean.
    """
    query_labels = np.asarray(query_labels, np.float32)
    database_labels = np.asarray(database_labels, np.float32)
    num_db = database_labels.shape[0]
    if len(query_codes) != len(query_labels) or len(database_codes) != num_db:
        raise ValueError("codes and labels disagree on the number of items")
    k = num_db if top_k is None else min(int(top_k), num_db)
    total, counted = 0.0, 0
    index = np.arange(num_db, dtype=np.int64)
    for start in range(0, len(query_codes), block_size):
        stop = start + block_size
        dist = hamming_distance(query_codes[start:stop], database_codes).astype(np.int64)
        # Unique keys dist * N + index give the stable (distance, index) order.
        order = np.argsort(dist * num_db + index[None, :], axis=1)[:, :k]
        relevant = (query_labels[start:stop] @ database_labels.T) > 0
        ranked = np.take_along_axis(relevant, order, axis=1).astype(np.float64)
        hits = np.cumsum(ranked, axis=1)
        num_relevant = ranked.sum(axis=1)
        precision_at_hits = (hits / np.arange(1, k + 1)[None, :]) * ranked
        with np.errstate(invalid="ignore", divide="ignore"):
            ap = np.where(num_relevant > 0, precision_at_hits.sum(1) / num_relevant, 0.0)
        total += float(ap.sum())
        counted += int((num_relevant > 0).sum()) if skip_empty_queries else len(ap)
    return total / counted if counted else 0.0
