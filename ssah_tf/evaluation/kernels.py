"""Compiled single-pass average precision (numba), used by ``metrics`` when available.

For one query the stable Hamming ranking (distance, then database index) never has
to be materialised: with per-distance counts of all items and of relevant items,
an item j at distance d sits at rank

    (items at distance < d) + (items at distance d with index <= j)

and has as many relevant items at or above it as

    (relevant items at distance < d) + (relevant items at distance d with index <= j).

So three passes over the database in index order give AP exactly: the first computes
each item's key 2 * distance + relevant (XOR + popcount of 64-bit code words, AND of
label words), the second counts items per key, the third walks the items again with
one running counter per key. O(database) per query, no sort.

The first pass runs for a block of queries at a time over cache-sized chunks of the
database, so each chunk of code and label words is read from memory once per block
(not once per query) and the loop vectorises (the popcount is LLVM's ``ctpop``, one
instruction where the CPU has it).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# Queries whose keys are computed together, and database items per chunk of that pass:
# 16 x 4,096 one-byte keys and 4,096 x 16 bytes of words stay in the L1/L2 caches.
QUERY_BLOCK = 16
_CHUNK = 4096
# Items per chunk of the ranking walk: its (hits, rank) slots fill 16 KB.
_WALK_CHUNK = 2048


@intrinsic
def popcount64(typingctx, value):
    """The number of set bits of a uint64 (llvm.ctpop: POPCNT / VPOPCNTQ)."""
    signature = types.uint64(types.uint64)

    def codegen(context, builder, sig, args):
        function = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(function, args)

    return signature, codegen


@numba.njit(nogil=True, cache=True)
def _keys(query_words, database_words, query_label_words, database_label_words, keys, counts):
    """keys[i, j] = 2 * distance(query i, item j) + (they share a label), and counts[i]
    the histogram of keys[i]."""
    num_queries, num_db = query_words.shape[0], database_words.shape[0]
    code_words, label_words = query_words.shape[1], query_label_words.shape[1]
    for start in range(0, num_db, _CHUNK):
        stop = min(start + _CHUNK, num_db)
        for i in range(num_queries):
            row = keys[i]
            for j in range(start, stop):
                d = np.uint64(0)
                for w in range(code_words):
                    d += popcount64(query_words[i, w] ^ database_words[j, w])
                r = np.uint64(0)
                for w in range(label_words):
                    r |= np.uint64((query_label_words[i, w] & database_label_words[j, w]) != 0)
                row[j] = 2 * d + r
            _count(row[start:stop], counts[i])


@numba.njit(nogil=True, cache=True)
def _count(keys, counts):
    """Add the histogram of ``keys`` to ``counts`` (four interleaved quarters: four
    independent store-to-load chains for neighbours with the same key)."""
    n = keys.shape[0]
    quarter = n // 4
    for j in range(quarter):
        counts[0, keys[j]] += 1
        counts[1, keys[quarter + j]] += 1
        counts[2, keys[2 * quarter + j]] += 1
        counts[3, keys[3 * quarter + j]] += 1
    for j in range(4 * quarter, n):
        counts[0, keys[j]] += 1


@numba.njit(nogil=True, cache=True)
def _key_row(query, query_label, database_words, database_label_words, row):
    for j in range(database_words.shape[0]):
        row[j] = 2 * popcount64(query ^ database_words[j]) + np.uint64(
            (query_label & database_label_words[j]) != 0
        )


@numba.njit(nogil=True, cache=True)
def _keys_one_word(
    query_words, database_words, query_label_words, database_label_words, keys, counts
):
    """_keys for codes and labels of one word each (<= 64 bits and classes), as 1-D
    arrays: scalar query words and unit strides, so the loop vectorises."""
    num_queries, num_db = query_words.shape[0], database_words.shape[0]
    for start in range(0, num_db, _CHUNK):
        stop = min(start + _CHUNK, num_db)
        words, label_words = database_words[start:stop], database_label_words[start:stop]
        for i in range(num_queries):
            row = keys[i, start:stop]
            _key_row(query_words[i], query_label_words[i], words, label_words, row)
            _count(row, counts[i])


@numba.njit(nogil=True, cache=True, fastmath=True)
def _sum_of_ratios(hits_at, rank_at, count):
    """Sum of hits_at / rank_at over the first ``count`` slots."""
    # fastmath lets LLVM vectorise the divisions and the reduction (summation order
    # changes at the last-bit level only).
    total = 0.0
    for p in range(count):
        total += np.float64(hits_at[p]) / np.float64(rank_at[p])
    return total


@numba.njit(nogil=True, cache=True)
def _query_ap(key, counts, num_keys, top_k, first_relevant, counter, hits_at, rank_at):
    """(AP, relevant items averaged over) of one query from its items' keys and their
    histogram ``counts`` [4, keys] (summed here; ``counter`` then holds running counts)."""
    num_db = key.shape[0]
    for k in range(num_keys):
        counter[k] = counts[0, k] + counts[1, k] + counts[2, k] + counts[3, k]
    relevant_total = 0
    for k in range(1, num_keys, 2):
        relevant_total += counter[k]
    # The first_relevant cutoff is on an item's hit count, min(top_k, relevant).
    cutoff = min(top_k, relevant_total)
    # Start each distance's counters at the irrelevant / relevant items ranked before
    # that distance; incrementing as items are met in index order then gives an
    # item's rank (irrelevant + relevant counters at its distance) and, for a relevant
    # item, the relevant items ranked at or above it.
    irrelevant_before = 0
    relevant_before = 0
    for d in range(num_keys // 2):
        irrelevant = counter[2 * d]
        relevant = counter[2 * d + 1]
        counter[2 * d] = irrelevant_before
        counter[2 * d + 1] = relevant_before
        irrelevant_before += irrelevant
        relevant_before += relevant
    # Branch-free (relevance is a coin flip to the branch predictor): every item writes
    # its (hits, rank) at slot ``slot``, which only counted relevant items advance. The
    # slots are summed after every chunk of items, so they stay in the L1 cache.
    everything = top_k >= num_db and not first_relevant  # mAP@all: every item is inside
    total = 0.0
    hits = 0
    for start in range(0, num_db, _WALK_CHUNK):
        stop = min(start + _WALK_CHUNK, num_db)
        slot = 0
        if everything:
            for j in range(start, stop):
                k = np.int64(key[j])
                own = counter[k] + 1
                counter[k] = own
                hits_at[slot] = own
                rank_at[slot] = own + counter[k ^ 1]
                slot += k & 1
        else:
            # An item past the cutoff leaves its counter alone, so every later item at
            # that distance is past it too (with first_relevant only relevant items can
            # be: irrelevant ones always count, for the ranks of the others).
            for j in range(start, stop):
                k = np.int64(key[j])
                own = counter[k] + 1
                rank = own + counter[k ^ 1]
                if first_relevant:
                    inside = ((k & 1) == 0) | (own <= cutoff)
                else:
                    inside = rank <= top_k
                counter[k] = own - 1 + inside
                hits_at[slot] = own
                rank_at[slot] = rank
                slot += (k & 1) & inside
        total += _sum_of_ratios(hits_at, rank_at, slot)
        hits += slot
    if hits == 0:
        return 0.0, 0
    return total / hits, hits


@numba.njit(nogil=True, cache=True)
def _average_precisions(
    query_words,
    database_words,
    query_label_words,
    database_label_words,
    num_keys,
    top_k,
    out_ap,
    out_num_relevant,
    first_relevant,
    keys,
):
    num_queries = query_words.shape[0]
    block = keys.shape[0]
    one_word = query_words.shape[1] == 1 and query_label_words.shape[1] == 1
    database_one_word = np.ascontiguousarray(database_words[:, 0])
    database_label_one_word = np.ascontiguousarray(database_label_words[:, 0])
    counter = np.empty(num_keys, np.int64)
    counts = np.zeros((block, 4, num_keys), np.int64)
    hits_at = np.empty(_WALK_CHUNK, np.int32)
    rank_at = np.empty(_WALK_CHUNK, np.int32)
    for first in range(0, num_queries, block):
        last = min(first + block, num_queries)
        counts[:] = 0
        if one_word:
            _keys_one_word(
                query_words[first:last, 0].copy(),
                database_one_word,
                query_label_words[first:last, 0].copy(),
                database_label_one_word,
                keys,
                counts,
            )
        else:
            _keys(
                query_words[first:last],
                database_words,
                query_label_words[first:last],
                database_label_words,
                keys,
                counts,
            )
        for i in range(first, last):
            ap, hits = _query_ap(
                keys[i - first], counts[i - first], num_keys, top_k, first_relevant, counter,
                hits_at, rank_at,
            )  # fmt: skip
            out_ap[i] = ap
            out_num_relevant[i] = hits


def packed_average_precisions(
    query_words,
    database_words,
    query_label_words,
    database_label_words,
    bits,
    top_k,
    out_ap,
    out_num_relevant,
    first_relevant=False,
):
    """AP of each query into ``out_ap``, and the number of relevant items it averages
    over into ``out_num_relevant``.

    Codes and labels are bit-packed into uint64 words [items, words]; an item is
    relevant when its label words AND the query's are non-zero. AP averages precision
    over the relevant items among the first ``top_k`` ranked items or, with
    ``first_relevant``, over the first min(top_k, relevant) relevant items wherever
    they are ranked. AP is 0 for a query with none. Releases the GIL.
    """
    if len(database_words) >= 1 << 31:
        raise ValueError("the kernel keeps ranks in 32 bits: at most 2**31 - 1 database items")
    num_keys = 2 * (int(bits) + 1)
    block = min(QUERY_BLOCK, max(1, len(query_words)))
    # One byte a key up to 127 bits (key <= 255), two beyond.
    keys = np.empty((block, len(database_words)), np.uint8 if num_keys <= 256 else np.uint16)
    _average_precisions(
        np.ascontiguousarray(query_words, np.uint64),
        np.ascontiguousarray(database_words, np.uint64),
        np.ascontiguousarray(query_label_words, np.uint64),
        np.ascontiguousarray(database_label_words, np.uint64),
        num_keys,
        int(top_k),
        out_ap,
        out_num_relevant,
        bool(first_relevant),
        keys,
    )
