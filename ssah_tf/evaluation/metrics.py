"""mAP of a Hamming ranking as pure NumPy functions (docs/method.md §6); the
precision/recall curves are in curves.py, distances and query blocks in hamming.py.

Codes are {-1, +1} (or {0, 1}) arrays [items, bits]; labels are multi-hot
[items, classes]; a database item is relevant to a query when they share a
label. Ranking is by Hamming distance with ties broken by database index
(stable), so results are reproducible, unlike the release's unstable
``np.argsort``. Work is blocked over queries so memory stays bounded, and the
ranking is a stable counting sort of whole query blocks at once (O(pairs), no
comparison sort), run on a thread pool. ``mean_average_precision`` goes further
when numba is installed: a compiled kernel per query (``kernels.py``) that
never materialises the ranking.

mAP comes in three named variants (``map_variant``; README "How to report a number"):

* ``all``: AP over every relevant item of the whole ranking (the original release's
  ``calc_map``);
* ``top_k``: AP over the relevant items among the first k ranked (DJSRH's
  ``calculate_top_map``; DCMH-style code that truncates the ranking at k);
* ``first_k_relevant``: for each query, total = min(k, number of relevant items),
  AP = mean over i = 1..total of i / (rank of the i-th relevant item), wherever it
  is ranked (torchcmh's ``calc_map_k`` and the code that copied it); with k at least
  the number of relevant items it equals ``all``.

In every variant a query without relevant items counts as AP 0 (unless
``skip_empty_queries``) and ties in Hamming distance are broken by database index.
:func:`mean_average_precision_tie_aware` gives the expectation of ``all`` over a
uniformly random order within each tie instead.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ssah_tf.evaluation.hamming import (
    BlockWorkspace,
    checked_codes,
    map_blocks,
    pack_words_64,
)
from ssah_tf.map_variants import map_variant_and_k


def _counting_sort_csr():
    """SciPy's COO -> CSR conversion, a stable counting sort in C++ (None if unavailable)."""
    try:
        from scipy.sparse import _sparsetools

        return _sparsetools.coo_tocsr
    except (ImportError, AttributeError):  # a private SciPy module: fall back if it moves
        return None


_COO_TOCSR = _counting_sort_csr()


def _compiled_average_precisions():
    """The numba kernel of ``kernels.py`` (None without numba: NumPy blocks instead)."""
    try:
        from ssah_tf.evaluation.kernels import packed_average_precisions

        return packed_average_precisions
    except ImportError:
        return None


_AP_KERNEL = _compiled_average_precisions()


def _compiled_map(
    query_codes,
    database_codes,
    query_labels,
    database_labels,
    k,
    block_size,
    workers,
    first_relevant=False,
):
    """Per-query AP and relevant counts from the compiled kernel, on a thread pool."""
    q_codes, db_codes = checked_codes(query_codes, database_codes, query_labels, database_labels)
    q_words, db_words = pack_words_64(q_codes), pack_words_64(db_codes)
    q_labels = pack_words_64(np.asarray(query_labels) > 0)
    db_labels = pack_words_64(np.asarray(database_labels) > 0)
    num_queries = len(q_words)
    ap = np.zeros(num_queries, np.float64)
    num_relevant = np.zeros(num_queries, np.int64)
    workers = workers or os.cpu_count() or 1
    # The kernel's memory is O(database) per call whatever the block, so blocks only
    # balance the threads: several per worker.
    rows = block_size or max(1, -(-num_queries // (4 * workers)))
    starts = range(0, num_queries, rows)

    def block(start):
        stop = min(start + rows, num_queries)
        _AP_KERNEL(
            q_words[start:stop],
            db_words,
            q_labels[start:stop],
            db_labels,
            q_codes.shape[1],
            k,
            ap[start:stop],
            num_relevant[start:stop],
            first_relevant,
        )

    if workers <= 1 or len(starts) <= 1:
        for start in starts:
            block(start)
    else:
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            list(pool.map(block, starts))
    return ap, num_relevant


def ranked_relevance(
    distance: np.ndarray,
    relevant: np.ndarray,
    bits: int,
    k: int | None = None,
    workspace: BlockWorkspace | None = None,
) -> np.ndarray:
    """Relevance of each query's items in stable Hamming order (distance, then index).

    A stable counting sort by (query, distance): the CSR conversion of a sparse matrix
    whose row is query * (K + 1) + distance groups each row's entries keeping their
    index order, which is exactly the ranking, for all queries of the block at once
    (O(pairs), no comparison sort). NumPy's stable radix argsort is the fallback.
    """
    rows, num_db = distance.shape
    workspace = workspace or BlockWorkspace()
    if _COO_TOCSR is not None and rows * (bits + 1) < 2**31 and distance.size < 2**31:
        bins = bits + 1
        size = distance.size
        row_id = workspace.get("row_id", distance.shape, np.int32)
        np.add(distance, (np.arange(rows, dtype=np.int32) * bins)[:, None], out=row_id)
        ranked = workspace.get("ranked", (size,), np.bool_)
        _COO_TOCSR(
            rows * bins,
            num_db,
            size,
            row_id.ravel(),
            workspace.get("zero_columns", (size,), np.int32, zeros=True),
            relevant.ravel(),
            np.empty(rows * bins + 1, np.int32),
            workspace.get("csr_indices", (size,), np.int32),
            ranked,
        )
        ranked = ranked.reshape(rows, num_db)
    else:
        order = np.argsort(distance, axis=1, kind="stable")
        ranked = np.take_along_axis(relevant, order, axis=1)
    return ranked if k is None else ranked[:, :k]


def average_precisions(
    *,
    query_codes: np.ndarray,
    database_codes: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    map_variant: str | None = None,
    top_k: int | None = None,
    block_size: int | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query AP in the named variant (:func:`mean_average_precision`) and, per
    query, whether it has a relevant item (among the first k, for ``top_k``)."""
    variant, top_k = map_variant_and_k(map_variant, top_k)
    num_db = len(database_codes)
    first_relevant = variant == "first_k_relevant"
    k = num_db if top_k is None else min(top_k, num_db)
    if _AP_KERNEL is not None and num_db > 0:
        ap, num_relevant = _compiled_map(
            query_codes,
            database_codes,
            query_labels,
            database_labels,
            k,
            block_size,
            workers,
            first_relevant,
        )
        return ap, num_relevant > 0
    ranked_length = num_db if first_relevant else k
    inverse_rank = 1.0 / np.arange(1, ranked_length + 1)

    def block_ap(distance, relevant, bits, workspace):
        ranked = ranked_relevance(distance, relevant, bits, ranked_length, workspace)
        # AP = (1 / R) sum over relevant positions r of hits(r) / r.
        hits = workspace.get("hits", ranked.shape, np.int32)
        np.cumsum(ranked, axis=1, dtype=np.int32, out=hits)
        num_relevant = hits[:, -1].copy()
        if first_relevant:  # only the first min(k, R) relevant items count
            ranked = ranked & (hits <= k)
            num_relevant = np.minimum(num_relevant, k)
        np.multiply(hits, ranked, out=hits)
        hits_float = workspace.get("hits_float", ranked.shape, np.float64)
        np.copyto(hits_float, hits)
        with np.errstate(invalid="ignore", divide="ignore"):
            ap = np.where(
                num_relevant > 0, (hits_float @ inverse_rank) / np.maximum(num_relevant, 1), 0.0
            )
        return ap, num_relevant > 0

    parts = map_blocks(
        block_ap, query_codes, database_codes, query_labels, database_labels, block_size, workers
    )
    if not parts:
        return np.zeros(0), np.zeros(0, bool)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def mean_average_precision(
    *,
    query_codes: np.ndarray,
    database_codes: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    map_variant: str | None = None,
    top_k: int | None = None,
    skip_empty_queries: bool = False,
    block_size: int | None = None,
    workers: int | None = None,
) -> float:
    """mAP of Hamming ranking in the named variant (module docstring): ``all`` (the
    default), ``top_k`` or ``first_k_relevant`` with ``top_k`` as the k (a k alone
    means ``top_k``, as it always has).

    With ``skip_empty_queries`` False (the release's convention) a query with no
    relevant item (among the first k, for ``top_k``) counts as AP 0; with True it is
    left out. ``block_size`` queries are ranked at a time (default: about 1M pairs per
    block; with the compiled kernel, four blocks per thread) on ``workers`` threads
    (default: one per CPU core).
    """
    ap, has_relevant = average_precisions(
        query_codes=query_codes,
        database_codes=database_codes,
        query_labels=query_labels,
        database_labels=database_labels,
        map_variant=map_variant,
        top_k=top_k,
        block_size=block_size,
        workers=workers,
    )
    counted = int(has_relevant.sum()) if skip_empty_queries else len(ap)
    return float(ap.sum()) / counted if counted else 0.0


def mean_average_precision_tie_aware(
    *,
    query_codes: np.ndarray,
    database_codes: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    skip_empty_queries: bool = False,
    block_size: int | None = None,
    workers: int | None = None,
) -> float:
    """The expected mAP (variant ``all``) when the items tied at each Hamming distance
    come in a uniformly random order instead of database order (McSherry and Najork,
    ECIR 2008), in closed form.

    For a tie of n items, r of them relevant, after N items and R relevant items ranked
    above it, position p (1..n) is relevant with probability r / n, and given that,
    1 + (p - 1)(r - 1)/(n - 1) relevant items of the tie are at or above it on average,
    so the tie adds (r / n) sum_p (R + 1 + (p - 1)(r - 1)/(n - 1)) / (N + p) to the
    sum of precisions: (r / n) ((R + 1) S1 + (r - 1)/(n - 1) S2) with
    S1 = H(N + n) - H(N), S2 = n - (N + 1) S1 and H the harmonic numbers.
    """
    num_db = len(database_codes)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, num_db + 1))])

    def block(distance, relevant, bits, workspace):
        rows, bins = len(distance), bits + 1
        offset = (np.arange(rows)[:, None] * bins + distance).ravel()
        n = np.bincount(offset, minlength=rows * bins).reshape(rows, bins).astype(np.float64)
        r = np.bincount(offset, weights=relevant.ravel(), minlength=rows * bins).reshape(rows, bins)
        above = np.cumsum(n, axis=1) - n
        relevant_above = np.cumsum(r, axis=1) - r
        index = above.astype(np.int64)
        s1 = harmonic[index + n.astype(np.int64)] - harmonic[index]
        s2 = n - (above + 1.0) * s1
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(n > 0, r / n, 0.0)
            pairs = np.where(n > 1, (r - 1.0) / (n - 1.0), 0.0)
        total = (share * ((relevant_above + 1.0) * s1 + pairs * s2)).sum(axis=1)
        num_relevant = r.sum(axis=1)
        ap = np.where(num_relevant > 0, total / np.maximum(num_relevant, 1.0), 0.0)
        return float(ap.sum()), int((num_relevant > 0).sum()), rows

    parts = map_blocks(
        block, query_codes, database_codes, query_labels, database_labels, block_size, workers
    )
    total = sum(p[0] for p in parts)
    counted = sum(p[1] if skip_empty_queries else p[2] for p in parts)
    return total / counted if counted else 0.0
