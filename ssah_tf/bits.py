"""Binary codes and label sets as bits: the one implementation of each conversion.

* :func:`codes_from_hash`: real-valued hash outputs H -> codes in {-1, +1} (a tie,
  H = 0, counts as +1).
* :func:`pack_bits` / :func:`as_words` / :func:`pack_words`: bit rows -> packed bytes
  (the code files' layout) -> unsigned words for XOR + popcount.
* :func:`hamming_packed`: Hamming distances of packed codes.
* :func:`pack_label_bits`: multi-hot labels -> non-negative int32 words for
  TensorFlow (which shares a label iff a word's AND is non-zero).
"""

from __future__ import annotations

import numpy as np

_WORD_DTYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def codes_from_hash(hashes: np.ndarray) -> np.ndarray:
    """sign(H) as int8 {-1, +1}, with 0 -> +1."""
    return np.where(np.asarray(hashes) >= 0, 1, -1).astype(np.int8)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Boolean (or {-1, +1}: positive = set) rows [n, m] -> uint8 [n, ceil(m / 8)]."""
    return np.packbits(np.asarray(bits) > 0, axis=1)


def as_words(packed: np.ndarray, word_bytes: int = 8) -> np.ndarray:
    """Packed uint8 rows viewed as unsigned words of ``word_bytes`` (zero padded)."""
    width = packed.shape[1]
    words = max(1, -(-width // word_bytes))
    if words * word_bytes != width:
        padded = np.zeros((len(packed), words * word_bytes), np.uint8)
        padded[:, :width] = packed
        packed = padded
    return np.ascontiguousarray(packed).view(_WORD_DTYPES[word_bytes])


def pack_words(bits: np.ndarray, word_bytes: int | None = None) -> np.ndarray:
    """Bit rows -> unsigned words; by default the narrowest lane that holds a row
    (up to 32 bits) or 64-bit lanes beyond, so short codes stay small in memory."""
    packed = pack_bits(bits)
    if word_bytes is None:
        nbytes = max(1, packed.shape[1])
        word_bytes = 8 if nbytes > 4 else (4 if nbytes > 2 else nbytes)
    return as_words(packed, word_bytes)


def hamming_packed(queries: np.ndarray, database: np.ndarray) -> np.ndarray:
    """[q, n] Hamming distances (uint16) of packed uint8 codes, word by word."""
    q, d = as_words(queries), as_words(database)
    distance = np.zeros((len(q), len(d)), np.uint16)
    for word in range(q.shape[1]):
        distance += np.bitwise_count(q[:, word, None] ^ d[None, :, word]).astype(np.uint16)
    return distance


def pack_label_bits(labels: np.ndarray) -> np.ndarray:
    """0/1 labels [n, c] -> int32 words [n, ceil(c / 31)] (31 bits per word keeps every
    word non-negative); rows share a label iff some word's AND is non-zero."""
    labels = np.asarray(labels) > 0
    words = -(-labels.shape[1] // 31)
    out = np.zeros((labels.shape[0], words), np.int64)
    for column in range(labels.shape[1]):
        out[:, column // 31] |= labels[:, column].astype(np.int64) << (column % 31)
    return out.astype(np.int32)
