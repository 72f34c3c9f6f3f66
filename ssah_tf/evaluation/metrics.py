"""Hamming-ranking retrieval metrics as pure NumPy functions (docs/method.md §6).

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
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ssah_tf.bits import hamming_packed, pack_bits, pack_words
from ssah_tf.map_variants import map_variant_and_k


def pack_words_64(bits: np.ndarray) -> np.ndarray:
    """The compiled kernel's layout: uint64 words."""
    return pack_words(bits, 8)


def _code_bits(codes: np.ndarray) -> np.ndarray:
    """Codes as booleans (True = +1): {0, 1} codes as they are, anything else as
    sign(H) with 0 -> +1 (bits.codes_from_hash), without a float copy of the codes."""
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D [items, bits], got shape {codes.shape}")
    if codes.dtype == np.bool_:
        return codes
    if codes.size and codes.min() >= 0 and codes.max() <= 1:
        if codes.dtype.kind in "iu" or np.all((codes == 0) | (codes == 1)):
            return codes > 0  # {0, 1}
    return codes >= 0


def hamming_distance(query_codes: np.ndarray, database_codes: np.ndarray) -> np.ndarray:
    """[queries, database] Hamming distances of {-1, +1} codes: (K - <b_i, b_j>) / 2."""
    q, d = _code_bits(query_codes), _code_bits(database_codes)
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"code lengths differ: {q.shape[1]} vs {d.shape[1]} bits")
    distance = hamming_packed(pack_bits(q), pack_bits(d))
    return distance.astype(np.uint8 if q.shape[1] < 256 else np.uint16)


def _check(query_codes, database_codes, query_labels, database_labels):
    if len(query_codes) != len(query_labels) or len(database_codes) != len(database_labels):
        raise ValueError("codes and labels disagree on the number of items")
    if np.asarray(query_labels).shape[1:] != np.asarray(database_labels).shape[1:]:
        raise ValueError("query and database labels have different numbers of classes")


def _checked_codes(query_codes, database_codes, query_labels, database_labels):
    """Both code sets as bits (True = +1), after checking counts and code lengths."""
    _check(query_codes, database_codes, query_labels, database_labels)
    q_codes, db_codes = _code_bits(query_codes), _code_bits(database_codes)
    if q_codes.shape[1] != db_codes.shape[1]:
        raise ValueError(f"code lengths differ: {q_codes.shape[1]} vs {db_codes.shape[1]} bits")
    return q_codes, db_codes


def _block_rows(num_db: int, block_size: int | None) -> int:
    # About a million (query, item) pairs per block: the block's temporaries stay in
    # the tens of MB whatever the database size (NUS-WIDE: 5 queries x 193,734).
    return block_size or int(min(256, max(1, (1 << 20) // max(1, num_db))))


def _map_blocks(
    fn, query_codes, database_codes, query_labels, database_labels, block_size, workers
):
    """Apply ``fn(distance, relevance)`` to blocks of queries, on a thread pool.

    Distances come from XOR + popcount of bit-packed codes and relevance from AND of
    bit-packed labels; NumPy releases the GIL in these kernels, so blocks run in
    parallel. Results are returned in block order.
    """
    q_codes, db_codes = _checked_codes(query_codes, database_codes, query_labels, database_labels)
    bits = q_codes.shape[1]
    q_words, db_words = pack_words(q_codes), pack_words(db_codes)
    q_labels = pack_words(np.asarray(query_labels) > 0)
    db_labels = pack_words(np.asarray(database_labels) > 0)
    dist_dtype = np.uint8 if bits < 256 else np.uint16
    rows = _block_rows(len(db_codes), block_size)

    workspace = _Workspace()

    def block(start):
        stop = min(start + rows, len(q_words))
        shape = (stop - start, len(db_words))
        distance = workspace.get("distance", shape, dist_dtype)
        xor = workspace.get("xor", shape, q_words.dtype)
        for w in range(q_words.shape[1]):
            np.bitwise_xor(q_words[start:stop, None, w], db_words[None, :, w], out=xor)
            if w == 0:
                np.bitwise_count(xor, out=distance)
            else:
                distance += np.bitwise_count(xor, out=workspace.get("count", shape, np.uint8))
        relevant = workspace.get("relevant", shape, np.bool_)
        shared = workspace.get("shared", shape, q_labels.dtype)
        for w in range(q_labels.shape[1]):
            np.bitwise_and(q_labels[start:stop, None, w], db_labels[None, :, w], out=shared)
            if w == 0:
                np.not_equal(shared, 0, out=relevant)
            else:
                relevant |= shared != 0
        return fn(distance, relevant, bits, workspace)

    starts = range(0, len(q_words), rows)
    workers = workers or min(len(starts), os.cpu_count() or 1)
    if workers <= 1 or len(starts) <= 1:
        return [block(s) for s in starts]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(block, starts))


class _Workspace(threading.local):
    """Per-thread buffers reused from block to block: fresh multi-MB temporaries per
    block cost page faults (and TensorFlow sets glibc to return freed memory eagerly)."""

    def get(self, name: str, shape: tuple[int, ...], dtype, zeros: bool = False) -> np.ndarray:
        size = int(np.prod(shape))
        buffer = self.__dict__.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != np.dtype(dtype):
            buffer = (np.zeros if zeros else np.empty)(size, dtype)
            self.__dict__[name] = buffer
        return buffer[:size].reshape(shape)


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
        from ssah_tf.evaluation.kernels import average_precisions

        return average_precisions
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
    q_codes, db_codes = _checked_codes(query_codes, database_codes, query_labels, database_labels)
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


def _ranked_relevance(
    distance: np.ndarray,
    relevant: np.ndarray,
    bits: int,
    k: int | None = None,
    workspace: _Workspace | None = None,
) -> np.ndarray:
    """Relevance of each query's items in stable Hamming order (distance, then index).

    A stable counting sort by (query, distance): the CSR conversion of a sparse matrix
    whose row is query * (K + 1) + distance groups each row's entries keeping their
    index order, which is exactly the ranking, for all queries of the block at once
    (O(pairs), no comparison sort). NumPy's stable radix argsort is the fallback.
    """
    rows, num_db = distance.shape
    workspace = workspace or _Workspace()
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
        ranked = _ranked_relevance(distance, relevant, bits, ranked_length, workspace)
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

    parts = _map_blocks(
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

    parts = _map_blocks(
        block, query_codes, database_codes, query_labels, database_labels, block_size, workers
    )
    bins = np.asarray(query_codes).shape[1] + 1
    relevant = np.sum([p[0] for p in parts], axis=0) if parts else np.zeros(bins, np.int64)
    irrelevant = np.sum([p[1] for p in parts], axis=0) if parts else np.zeros(bins, np.int64)
    return relevant.astype(np.int64), irrelevant.astype(np.int64)


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

    parts = _map_blocks(
        block, query_codes, database_codes, query_labels, database_labels, block_size, workers
    )
    total = sum(p[0] for p in parts)
    counted = sum(p[1] if skip_empty_queries else p[2] for p in parts)
    return total / counted if counted else 0.0


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
        hits = np.cumsum(_ranked_relevance(distance, relevant, bits, k, workspace), axis=1)
        return (hits[:, clipped - 1] / clipped).sum(axis=0)

    parts = _map_blocks(
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

    parts = _map_blocks(
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
    return np.arange(bins), precision, recall


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
