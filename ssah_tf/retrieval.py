"""Encoding inputs with an exported model, packed code files, and Hamming search.

Code files (.npz, no pickle): ``codes`` uint8 [n, ceil(bits/8)] (bits.pack_bits of
code > 0), ``ids`` (strings), ``bits``, ``modality``, ``model`` (the export and
the checkpoint it came from) and, when known, ``labels`` and their ``label_names``.

TensorFlow (and the export module) load inside the functions that need an export:
searching code files runs without them. FAISS is an optional extra.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ssah_tf.atomic import write_atomic
from ssah_tf.bits import as_words, hamming_packed, pack_bits
from ssah_tf.data.files import load_npz
from ssah_tf.data.pictures import PictureError, image_paths, load_picture
from ssah_tf.errors import UserError


# ----------------------------------------------------------------------------- code files
def save_code_file(
    path: str,
    *,
    codes: np.ndarray,
    ids: Sequence[str],
    bits: int,
    modality: str,
    model: str,
    labels: np.ndarray | None = None,
    label_names=None,
) -> None:
    arrays = {
        "codes": pack_bits(codes),
        "ids": np.asarray([str(i) for i in ids]),
        "bits": np.array(bits),
        "modality": np.array(modality),
        "model": np.array(model),
    }
    if labels is not None:
        arrays["labels"] = np.asarray(labels, np.float32)
        if label_names is not None:
            if len(label_names) != arrays["labels"].shape[1]:
                raise UserError(
                    f"{len(label_names)} label names for {arrays['labels'].shape[1]} label columns"
                )
            arrays["label_names"] = np.asarray([str(n) for n in label_names])
    write_atomic(path, lambda f: np.savez(f, **arrays), binary=True)


def load_code_file(path: str) -> dict:

    data = load_npz(path, "code file")
    missing = [k for k in ("codes", "ids", "bits") if k not in data]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; write it with ssah-encode")
    if np.asarray(data["bits"]).size != 1 or not np.issubdtype(
        np.asarray(data["bits"]).dtype, np.integer
    ):
        raise UserError(f"{path}: bits must be one integer")
    bits = int(data["bits"])
    codes = data["codes"]
    if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != (bits + 7) // 8:
        raise UserError(
            f"{path}: codes must be uint8 [n, {(bits + 7) // 8}] for {bits} bits, "
            f"got {codes.dtype} {codes.shape}"
        )
    if len(codes) == 0:
        raise UserError(f"{path} holds no codes")
    for key in ("ids", "labels"):
        if key in data and len(data[key]) != len(codes):
            raise UserError(
                f"{path}: {len(data[key])} {key} for {len(codes)} codes; the file is "
                "inconsistent, write it again with ssah-encode"
            )
    return data


# ----------------------------------------------------------------------------- search
def _select(
    row: np.ndarray, top_k: int | None, radius: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The chosen database indices of one query's distance row, by (distance, index)."""
    n = len(row)
    if top_k is not None and top_k < n:
        candidates = None
        stride = n // (64 * top_k)
        if stride >= 2:
            # Estimate the k-th distance on a strided sample; every item within one more
            # than that is a candidate superset whenever it holds at least k items.
            sample = np.cumsum(np.bincount(row[::stride]))
            guess = int(np.searchsorted(sample, -(-top_k // stride))) + 1
            # An underestimate (a few % of queries) retries one distance further, which
            # costs one pass instead of the full-histogram fallback's several.
            for _ in range(3):
                if radius is not None:
                    guess = min(guess, radius)
                superset = np.flatnonzero(row <= guess)
                if len(superset) >= top_k or (radius is not None and guess == radius):
                    candidates = superset
                    break
                guess += 1
        if candidates is None:
            candidates = np.arange(n)
        # The distance holding the k-th item among the candidates, then exact order.
        counts = np.cumsum(np.bincount(row[candidates]))
        limit = int(np.searchsorted(counts, top_k))
        if radius is not None:
            limit = min(limit, radius)
        candidates = candidates[row[candidates] <= limit]
    elif radius is not None:
        candidates = np.flatnonzero(row <= radius)
    else:
        candidates = np.arange(n)
    order = np.argsort(row[candidates], kind="stable")
    chosen = candidates[order][:top_k] if top_k is not None else candidates[order]
    return chosen, row[chosen].copy()


_SEARCH_BLOCK = 1 << 15  # database items per XOR buffer: 256 KB, stays in L2


def _search_rows(queries: np.ndarray, columns: list[np.ndarray], top_k, radius) -> list:
    """Per query: XOR + popcount block by block through a cache-sized buffer (the XOR
    result never goes to memory), then select."""
    n = len(columns[0])
    xor = np.empty(min(n, _SEARCH_BLOCK), np.uint64)
    count = np.empty(min(n, _SEARCH_BLOCK), np.uint8)
    single = len(columns) == 1
    distance = np.empty(n, np.uint8 if single else np.uint16)
    out = []
    for query in queries:
        for start in range(0, n, _SEARCH_BLOCK):
            stop = min(start + _SEARCH_BLOCK, n)
            size = stop - start
            if single:
                np.bitwise_xor(columns[0][start:stop], query[0], out=xor[:size])
                np.bitwise_count(xor[:size], out=distance[start:stop])
                continue
            target = distance[start:stop]
            target[:] = 0
            for w, column in enumerate(columns):
                np.bitwise_xor(column[start:stop], query[w], out=xor[:size])
                np.bitwise_count(xor[:size], out=count[:size])
                target += count[:size]
        out.append(_select(distance, top_k, radius))
    return out


def tie_at_cut(query: np.ndarray, database: np.ndarray, distances: np.ndarray, k: int):
    """When a top-``k`` result cuts inside a tie (more items at the k-th hit's distance
    than the list shows): (that distance, items at it, items shown at it); else None.
    ``query``: one packed code; ``distances``: the hits' distances."""
    if len(distances) < k:
        return None
    cut = int(distances[-1])
    at_cut = int(np.count_nonzero(hamming_packed(query[None, :], database)[0] == cut))
    shown = int(np.count_nonzero(np.asarray(distances) == cut))
    return (cut, at_cut, shown) if at_cut > shown else None


def search(
    queries: np.ndarray,
    database: np.ndarray,
    *,
    top_k: int | None = None,
    radius: int | None = None,
    threads: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Exact Hamming search over packed codes, yielding (indices, distances) per query,
    ordered by (distance, database index). ``top_k``: the k nearest; ``radius``: every
    item within that distance (both: the nearest k within the radius). Query chunks run
    on ``threads`` threads (default: the CPU count); the compiled kernel (top-k) and
    NumPy (radius only) release the GIL."""
    if top_k is None and radius is None:
        raise UserError("give `top_k` and/or `radius`")
    if top_k is not None and top_k <= 0:
        raise UserError("`top_k` must be positive")
    if queries.shape[1] != database.shape[1]:
        raise UserError(
            f"query codes have {queries.shape[1] * 8} bits of storage, database "
            f"{database.shape[1] * 8}: they come from different code lengths"
        )

    words, query_words = as_words(database), as_words(queries)
    threads = threads or os.cpu_count() or 1
    if top_k is not None and _TOP_K_KERNEL is not None:
        # The compiled kernel (search_kernel.py): a block of queries per database chunk.
        bits = database.shape[1] * 8
        per_query = 16 * min(top_k, len(words)) * (bits + 1)  # its candidate buffers
        chunk = max(1, min(256, -(-len(query_words) // threads), (64 << 20) // per_query))
        chunks = [query_words[i : i + chunk] for i in range(0, len(query_words), chunk)]
        run = lambda c: _TOP_K_KERNEL(c, words, k=top_k, bits=bits, radius=radius)
    else:
        columns = [np.ascontiguousarray(words[:, w]) for w in range(words.shape[1])]
        chunks = [query_words[i : i + 64] for i in range(0, len(query_words), 64)]
        run = lambda c: _search_rows(c, columns, top_k, radius)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for result in pool.map(run, chunks):
            yield from result


def _compiled_top_k():
    """The numba top-k kernel (None without numba: the NumPy rows instead)."""
    try:
        from ssah_tf.search_kernel import top_k

        return top_k
    except ImportError:
        return None


_TOP_K_KERNEL = _compiled_top_k()


# ----------------------------------------------------------------------------- encoding
class ExportedEncoder:
    """An ssah-export SavedModel with its input description."""

    def __init__(self, export_dir: str, *, trust: bool = False):
        from ssah_tf.data.text_files import read_text, read_text_lines
        from ssah_tf.export import EXPORT_INFO, VOCABULARY
        from ssah_tf.vetting import check_trusted

        info_path = os.path.join(export_dir, EXPORT_INFO)
        if not os.path.isfile(info_path):
            raise UserError(f"{export_dir} is not an ssah-export directory (no {EXPORT_INFO})")
        import tensorflow as tf

        try:
            self.info = json.loads(read_text(info_path))
        except ValueError as error:
            raise UserError(f"{info_path} is damaged ({error}); export the run again") from None
        if not trust:
            check_trusted(export_dir)
        self.model = tf.saved_model.load(export_dir)
        self.bits = int(self.info["bits"])
        self.identity = f"{os.path.abspath(export_dir)} ({self.info.get('source', '')})"
        self.vocabulary = None
        if self.info.get("vocabulary"):
            lines = read_text_lines(os.path.join(export_dir, VOCABULARY))
            self.vocabulary = [line for line in lines if line.strip()]

    def encode(self, modality: str, batch: np.ndarray) -> np.ndarray:
        """{-1, +1} int8 codes for a batch already in the signature's input form."""
        import tensorflow as tf

        name = f"encode_{modality}"
        if name not in self.model.signatures:
            raise UserError(
                f"the exported model has no {modality} encoder "
                f"(signatures: {', '.join(self.model.signatures)})"
            )
        arg = {"image": "images", "text": "texts", "label": "labels"}[modality]
        dtype = (
            tf.uint8 if modality == "image" and self.info["image_input"] == "pixels" else tf.float32
        )
        return self.model.signatures[name](**{arg: tf.constant(batch, dtype)})["code"].numpy()


def read_image_paths(path: str) -> list[str]:
    """A picture file, a folder (recursive, sorted) or a .txt list of paths."""
    return image_paths(path)


def decode_image(
    path: str, size: int, background: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """uint8 [size, size, 3] as training read the picture (upright, transparency on
    ``background``, resized); raises ValueError naming the file when it cannot be
    decoded."""
    try:
        return load_picture(path, size, background)
    except PictureError as error:
        raise ValueError(str(error)) from None


# ----------------------------------------------------------------------------- FAISS
class FaissSearcher:
    """Optional FAISS binary back end (``pip install ".[faiss]"``).

    ``flat`` (IndexBinaryFlat) is exact and returns exactly what :func:`search`
    returns, tie order included: FAISS orders equal distances arbitrarily, so
    every item up to the k-th distance is re-collected with a range search and
    sorted by (distance, index). ``ivf`` (IndexBinaryIVF) and ``hnsw``
    (IndexBinaryHNSW) are approximate indexes for large collections.
    """

    def __init__(
        self,
        database: np.ndarray,
        *,
        kind: str = "flat",
        nlist: int = 1024,
        nprobe: int = 16,
        hnsw_m: int = 32,
    ):
        try:
            import faiss
        except ImportError:
            raise UserError("the FAISS back end needs faiss-cpu: pip install '.[faiss]'") from None
        self.faiss = faiss
        self.bits = database.shape[1] * 8
        self.kind = kind
        if kind == "flat":
            self.index = faiss.IndexBinaryFlat(self.bits)
        elif kind == "ivf":
            quantizer = faiss.IndexBinaryFlat(self.bits)
            self.index = faiss.IndexBinaryIVF(
                quantizer, self.bits, min(nlist, max(1, len(database) // 39))
            )
            self.index.train(database)
            self.index.nprobe = nprobe
            self._quantizer = quantizer  # keep alive
        elif kind == "hnsw":
            self.index = faiss.IndexBinaryHNSW(self.bits, hnsw_m)
        else:
            raise UserError(f"unknown FAISS index {kind!r}; use flat, ivf or hnsw")
        self.index.add(np.ascontiguousarray(database))

    def _within(self, query: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
        # FAISS binary range search keeps distances strictly below the radius.
        lims, distances, labels = self.index.range_search(query[None], int(max_distance) + 1)
        order = np.lexsort((labels, distances))
        return labels[order].astype(np.int64), distances[order].astype(np.uint16)

    def search(
        self, queries: np.ndarray, *, top_k: int | None = None, radius: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if top_k is None and radius is None:
            raise UserError("give `top_k` and/or `radius`")
        queries = np.ascontiguousarray(queries)
        if top_k is not None:
            k = min(top_k, self.index.ntotal)
            distances, labels = self.index.search(queries, k)
            for row in range(len(queries)):
                if self.kind != "flat":  # approximate: order what was found
                    keep = labels[row] >= 0
                    d, i = distances[row][keep], labels[row][keep]
                    order = np.lexsort((i, d))
                    d, i = d[order], i[order]
                    if radius is not None:
                        i, d = i[d <= radius], d[d <= radius]
                    yield i.astype(np.int64), d.astype(np.uint16)
                    continue
                limit = int(distances[row, -1])
                if radius is not None:
                    limit = min(limit, radius)
                ids, dist = self._within(queries[row], limit)
                yield ids[:top_k], dist[:top_k]
        else:
            if self.kind != "flat":
                raise UserError("radius-only search needs the exact flat index")
            for row in range(len(queries)):
                yield self._within(queries[row], radius)
