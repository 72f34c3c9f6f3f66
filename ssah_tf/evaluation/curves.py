"""Precision and recall by Hamming radius, precision at N, and the distance histogram
of relevant and irrelevant pairs: the report's curves (docs/method.md §6)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssah_tf.evaluation.hamming import (
    map_blocks,
)
from ssah_tf.evaluation.metrics import ranked_relevance


def distance_histogram(
    *,
    query_codes: np.ndarray,
    database_codes: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    block_size: int | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """How many (query, database item) pairs lie at each Hamming distance 0..K:
    (relevant pairs, irrelevant pairs). Codes that separate put the first at small
    distances and the second at large ones."""

    def block(distance, relevant, bits, workspace):
        bins = bits + 1
        return (
            np.bincount(distance[relevant], minlength=bins),
            np.bincount(distance[~relevant], minlength=bins),
        )

    parts = map_blocks(
        block, query_codes, database_codes, query_labels, database_labels, block_size, workers
    )
    bins = np.asarray(query_codes).shape[1] + 1
    relevant = np.sum([p[0] for p in parts], axis=0) if parts else np.zeros(bins, np.int64)
    irrelevant = np.sum([p[1] for p in parts], axis=0) if parts else np.zeros(bins, np.int64)
    return relevant.astype(np.int64), irrelevant.astype(np.int64)


def precision_at_n(
    *,
    query_codes: np.ndarray,
    database_codes: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    n_values: Sequence[int],
    block_size: int | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Mean over queries of the fraction of relevant items among the first N ranked,
    for each N in ``n_values`` (N larger than the database counts the whole database)."""
    n_values = np.asarray(n_values, np.int64)
    if np.any(n_values <= 0):
        raise ValueError("n_values must be positive")
    num_db = len(database_codes)
    k = int(min(n_values.max(), num_db))
    clipped = np.minimum(n_values, num_db)

    def block(distance, relevant, bits, workspace):
        hits = np.cumsum(ranked_relevance(distance, relevant, bits, k, workspace), axis=1)
        return (hits[:, clipped - 1] / clipped).sum(axis=0)

    parts = map_blocks(
        block, query_codes, database_codes, query_labels, database_labels, block_size, workers
    )
    return np.sum(parts, axis=0) / len(query_codes)


def precision_recall_by_radius(
    *,
    query_codes: np.ndarray,
    database_codes: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    block_size: int | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash-lookup precision and recall for every Hamming radius r = 0..K.

    Items within distance r are retrieved. precision(r) = mean, over queries that
    retrieve at least one item, of relevant retrieved / retrieved; recall(r) =
    mean, over queries with at least one relevant item, of relevant retrieved /
    relevant. Returns (radii, precision, recall).
    """
    radii, precision, recall, _ = lookup_by_radius(
        query_codes=query_codes,
        database_codes=database_codes,
        query_labels=query_labels,
        database_labels=database_labels,
        block_size=block_size,
        workers=workers,
    )
    return radii, precision, recall


def lookup_by_radius(
    *,
    query_codes: np.ndarray,
    database_codes: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    block_size: int | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`precision_recall_by_radius` and, per radius, how many queries retrieve
    anything that close (the queries each precision figure averages over)."""
    bins = np.asarray(query_codes).shape[1] + 1

    def block(distance, relevant, bits, workspace):
        rows = len(distance)
        offset = (np.arange(rows)[:, None] * bins + distance).ravel()
        per_radius = np.bincount(offset, minlength=rows * bins).reshape(rows, bins)
        relevant_per_radius = np.bincount(
            offset, weights=relevant.ravel(), minlength=rows * bins
        ).reshape(rows, bins)
        retrieved = np.cumsum(per_radius, axis=1)
        true_positive = np.cumsum(relevant_per_radius, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(retrieved > 0, true_positive / retrieved, 0.0)
        total_relevant = relevant.sum(axis=1)
        has_relevant = total_relevant > 0
        recall = (true_positive[has_relevant] / total_relevant[has_relevant, None]).sum(axis=0)
        return (precision.sum(axis=0), (retrieved > 0).sum(axis=0), recall, int(has_relevant.sum()))

    parts = map_blocks(
        block, query_codes, database_codes, query_labels, database_labels, block_size, workers
    )
    precision_sum = np.sum([p[0] for p in parts], axis=0)
    precision_count = np.sum([p[1] for p in parts], axis=0)
    recall_sum = np.sum([p[2] for p in parts], axis=0)
    recall_count = sum(p[3] for p in parts)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(
            precision_count > 0, precision_sum / np.maximum(precision_count, 1), 0.0
        )
    recall = recall_sum / max(recall_count, 1)
    return np.arange(bins), precision, recall, precision_count.astype(np.int64)


def precision_within_radius(
    *,
    query_codes: np.ndarray,
    database_codes: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    radius: int = 2,
    block_size: int | None = None,
) -> float:
    """Precision of hash lookup within Hamming radius ``radius`` (default 2)."""
    _, precision, _ = precision_recall_by_radius(
        query_codes=query_codes,
        database_codes=database_codes,
        query_labels=query_labels,
        database_labels=database_labels,
        block_size=block_size,
    )
    return float(precision[min(radius, len(precision) - 1)])
