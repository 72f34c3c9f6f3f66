"""Compiled single-pass average precision (numba), used by ``metrics`` when available.

For one query the stable Hamming ranking (distance, then database index) never has
to be materialised: with per-distance counts of all items and of relevant items,
an item j at distance d sits at rank

    (items at distance < d) + (items at distance d with index <= j)

and has as many relevant items at or above it as

    (relevant items at distance < d) + (relevant items at distance d with index <= j).

So passes over the database in index order give AP exactly: the first computes
distances (XOR + popcount of 64-bit words) and relevance (AND of label words), the
second counts items per (distance, relevant), the third walks the items again with
one running counter per (distance, relevant). O(database) per query, no sort.
"""

from __future__ import annotations

import numba
import numpy as np

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@numba.njit(inline="always")
def _popcount(x):
    # SWAR popcount; LLVM recognises the idiom and emits one popcnt instruction.
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@numba.njit(nogil=True, cache=True, fastmath=True)
def _sum_of_ratios(numerators, denominators, count):
    # fastmath lets LLVM vectorise the divisions and the reduction (summation order
    # changes at the last-bit level only).
    total = 0.0
    for p in range(count):
        total += numerators[p] / denominators[p]
    return total


@numba.njit(nogil=True, cache=True)
def average_precisions(
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
    they are ranked. AP is 0 for a query with none.
    """
    num_db = database_words.shape[0]
    code_words = query_words.shape[1]
    label_words = query_label_words.shape[1]
    bins = bits + 1
    key = np.empty(num_db, np.int32)  # 2 * distance + relevant
    # Two histograms filled from alternate items halve the store-to-load chains of
    # neighbours at the same distance; afterwards ``counter`` holds running counts.
    counter = np.empty(2 * bins, np.int64)
    counter_odd = np.empty(2 * bins, np.int64)
    hits_at = np.empty(num_db, np.float64)
    rank_at = np.empty(num_db, np.float64)
    for i in range(query_words.shape[0]):
        if code_words == 1 and label_words == 1:  # <= 64 bits and classes: one word each
            q, q_label = query_words[i, 0], query_label_words[i, 0]
            for j in range(num_db):
                key[j] = 2 * _popcount(q ^ database_words[j, 0]) + (
                    (q_label & database_label_words[j, 0]) != 0
                )
        else:
            for j in range(num_db):
                d = 0
                for w in range(code_words):
                    d += _popcount(query_words[i, w] ^ database_words[j, w])
                r = 0
                for w in range(label_words):
                    r |= (query_label_words[i, w] & database_label_words[j, w]) != 0
                key[j] = 2 * d + r
        counter[:] = 0
        counter_odd[:] = 0
        for j in range(num_db // 2):
            counter[key[2 * j]] += 1
            counter_odd[key[2 * j + 1]] += 1
        if num_db % 2:
            counter[key[num_db - 1]] += 1
        # Start each distance's counters at the irrelevant / relevant items ranked
        # before that distance; incrementing as items are met in index order then
        # gives an item's rank (irrelevant + relevant counters at its distance) and,
        # for a relevant item, the relevant items ranked at or above it.
        irrelevant_before = 0
        relevant_before = 0
        for d in range(bins):
            relevant_before += counter[2 * d + 1] + counter_odd[2 * d + 1]
        # The first_relevant cutoff is on an item's hit count, min(top_k, relevant).
        cutoff = min(top_k, relevant_before)
        relevant_before = 0
        for d in range(bins):
            irrelevant = counter[2 * d] + counter_odd[2 * d]
            relevant = counter[2 * d + 1] + counter_odd[2 * d + 1]
            counter[2 * d] = irrelevant_before
            counter[2 * d + 1] = relevant_before
            irrelevant_before += irrelevant
            relevant_before += relevant
        # Branch-free (relevance is a coin flip to the branch predictor): every item
        # writes its (hits, rank) at slot ``hits``, which only relevant items inside the
        # cutoff advance. An item past the cutoff leaves its counter alone, so every
        # later item at that distance is past it too (with first_relevant only relevant
        # items can be: irrelevant ones always count, for the ranks of the others).
        hits = 0
        for j in range(num_db):
            k = key[j]
            own = counter[k] + 1
            rank = own + counter[k ^ 1]
            if first_relevant:
                inside = ((k & 1) == 0) | (own <= cutoff)
            else:
                inside = rank <= top_k
            counter[k] = own - 1 + inside
            hits_at[hits] = own
            rank_at[hits] = rank
            hits += (k & 1) & inside
        out_ap[i] = _sum_of_ratios(hits_at, rank_at, hits) / hits if hits > 0 else 0.0
        out_num_relevant[i] = hits
