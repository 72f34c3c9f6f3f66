"""Compiled exact Hamming top-k search (numba), used by ``retrieval.search``.

Brute force, organised for the cache: a block of queries is compared with one chunk
of the database at a time (the chunk is read from memory once per block), and each
query keeps a distance ``limit`` beyond which no item can enter its answer. Items
arrive in index order, so once ``k`` items lie within distance L, a later item at
distance L loses every tie to them: the limit drops below L. Groups of 64 items are
first reduced to their smallest distance (a vectorised min), and only groups that
reach the limit are looked at item by item, which is rare once the limit has
settled. The answer, all candidates sorted by (distance, index) and cut at k, is
exactly what a full sort of the database would give.
"""

from __future__ import annotations

import numba
import numpy as np

from ssah_tf.evaluation.kernels import popcount64

_CHUNK = 4096  # database items per chunk (32 KB of 64-bit codes)
_GROUP = 64  # items reduced to one minimum before looking at them one by one


@numba.njit(nogil=True, cache=True, inline="always")
def _distance(query_words, q, database_words, j):
    d = np.uint64(0)
    for w in range(database_words.shape[1]):
        d += popcount64(query_words[q, w] ^ database_words[j, w])
    return d


@numba.njit(nogil=True, cache=True)
def _group_minimum_one_word(query, words):
    smallest = np.uint64(64)
    for j in range(words.shape[0]):
        d = popcount64(query ^ words[j])
        smallest = min(smallest, d)
    return smallest


@numba.njit(nogil=True, cache=True)
def _accept(limit, counts, k, q, d, j, ids, dists, found):
    """Record candidate j at distance d for query q; lower the limit while k
    candidates lie within limit."""
    n = found[q]
    ids[q, n] = j
    dists[q, n] = d
    found[q] = n + 1
    counts[q, d] += 1
    within = 0
    for x in range(limit[q] + 1):
        within += counts[q, x]
    while limit[q] >= 0 and within >= k:
        within -= counts[q, limit[q]]
        limit[q] -= 1


@numba.njit(nogil=True, cache=True)
def _top_k(query_words, database_words, k, limit, ids, dists, found, counts):
    """Candidates of every query (ids, dists, found) within the shrinking limits."""
    num_queries, num_db = query_words.shape[0], database_words.shape[0]
    one_word = database_words.shape[1] == 1
    column = np.ascontiguousarray(database_words[:, 0])
    for start in range(0, num_db, _CHUNK):
        stop = min(start + _CHUNK, num_db)
        for q in range(num_queries):
            for group in range(start, stop, _GROUP):
                end = min(group + _GROUP, stop)
                if limit[q] < 0:
                    break
                if one_word:
                    smallest = _group_minimum_one_word(query_words[q, 0], column[group:end])
                    if np.int64(smallest) > limit[q]:
                        continue
                for j in range(group, end):
                    d = np.int64(_distance(query_words, q, database_words, j))
                    if d <= limit[q]:
                        _accept(limit, counts, k, q, d, j, ids, dists, found)


def top_k(
    query_words: np.ndarray, database_words: np.ndarray, *, k: int, bits: int, radius=None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query, the (indices, distances) of its k nearest database items within
    ``radius`` (None: any distance), ordered by (distance, index). Codes are uint64
    words [items, words]; releases the GIL."""
    query_words = np.ascontiguousarray(query_words, np.uint64)
    database_words = np.ascontiguousarray(database_words, np.uint64)
    num_queries = len(query_words)
    k = int(min(k, len(database_words)))
    start_limit = bits if radius is None else min(int(radius), bits)
    limit = np.full(num_queries, start_limit, np.int64)
    # At most k candidates per distance enter before the limit passes below it.
    capacity = max(1, k * (start_limit + 1))
    ids = np.empty((num_queries, capacity), np.int64)
    dists = np.empty((num_queries, capacity), np.int64)
    found = np.zeros(num_queries, np.int64)
    counts = np.zeros((num_queries, bits + 1), np.int64)
    if k > 0:
        _top_k(query_words, database_words, k, limit, ids, dists, found, counts)
    out = []
    for q in range(num_queries):
        n = int(found[q])
        order = np.lexsort((ids[q, :n], dists[q, :n]))[:k]
        out.append((ids[q, order], dists[q, order].astype(np.uint16)))
    return out
