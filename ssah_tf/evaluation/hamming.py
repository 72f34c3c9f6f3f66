"""Hamming distances between code sets and the blocked, threaded map over query
blocks that every metric uses; inputs checked once here."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ssah_tf.bits import hamming_packed, pack_bits, pack_words


def pack_words_64(bits: np.ndarray) -> np.ndarray:
    """The compiled kernel's layout: uint64 words."""
    return pack_words(bits, 8)


def code_bits(codes: np.ndarray) -> np.ndarray:
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
    q, d = code_bits(query_codes), code_bits(database_codes)
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"code lengths differ: {q.shape[1]} vs {d.shape[1]} bits")
    distance = hamming_packed(pack_bits(q), pack_bits(d))
    return distance.astype(np.uint8 if q.shape[1] < 256 else np.uint16)


def check_inputs(query_codes, database_codes, query_labels, database_labels):
    if len(query_codes) != len(query_labels) or len(database_codes) != len(database_labels):
        raise ValueError("codes and labels disagree on the number of items")
    if np.asarray(query_labels).shape[1:] != np.asarray(database_labels).shape[1:]:
        raise ValueError("query and database labels have different numbers of classes")


def checked_codes(query_codes, database_codes, query_labels, database_labels):
    """Both code sets as bits (True = +1), after checking counts and code lengths."""
    check_inputs(query_codes, database_codes, query_labels, database_labels)
    q_codes, db_codes = code_bits(query_codes), code_bits(database_codes)
    if q_codes.shape[1] != db_codes.shape[1]:
        raise ValueError(f"code lengths differ: {q_codes.shape[1]} vs {db_codes.shape[1]} bits")
    return q_codes, db_codes


def block_rows(num_db: int, block_size: int | None) -> int:
    # About a million (query, item) pairs per block: the block's temporaries stay in
    # the tens of MB whatever the database size (NUS-WIDE: 5 queries x 193,734).
    return block_size or int(min(256, max(1, (1 << 20) // max(1, num_db))))


class BlockWorkspace(threading.local):
    """Per-thread buffers reused from block to block: fresh multi-MB temporaries per
    block cost page faults (and TensorFlow sets glibc to return freed memory eagerly)."""

    def get(self, name: str, shape: tuple[int, ...], dtype, zeros: bool = False) -> np.ndarray:
        size = int(np.prod(shape))
        buffer = self.__dict__.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != np.dtype(dtype):
            buffer = (np.zeros if zeros else np.empty)(size, dtype)
            self.__dict__[name] = buffer
        return buffer[:size].reshape(shape)


def map_blocks(fn, query_codes, database_codes, query_labels, database_labels, block_size, workers):
    """Apply ``fn(distance, relevance)`` to blocks of queries, on a thread pool.

    Distances come from XOR + popcount of bit-packed codes and relevance from AND of
    bit-packed labels; NumPy releases the GIL in these kernels, so blocks run in
    parallel. Results are returned in block order.
    """
    q_codes, db_codes = checked_codes(query_codes, database_codes, query_labels, database_labels)
    bits = q_codes.shape[1]
    q_words, db_words = pack_words(q_codes), pack_words(db_codes)
    q_labels = pack_words(np.asarray(query_labels) > 0)
    db_labels = pack_words(np.asarray(database_labels) > 0)
    dist_dtype = np.uint8 if bits < 256 else np.uint16
    rows = block_rows(len(db_codes), block_size)

    workspace = BlockWorkspace()

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
