"""Raw inputs -> codes with an exported model: what ssah-encode and ssah-search share.

Inputs are images (file, folder or list), image features, texts (tag strings with
a vocabulary, or bag-of-words arrays) or label vectors, streamed in batches.
Corrupt inputs are named and either fail the whole call or are skipped.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable

import numpy as np
from absl import logging

from ssah_tf.data.files import load_npy, load_npz
from ssah_tf.data.pictures import background_colour
from ssah_tf.data.tags import tags_to_vectors
from ssah_tf.data.text_files import number_rows, read_text_lines
from ssah_tf.errors import UserError
from ssah_tf.retrieval import decode_image, read_image_paths

SOURCES = ("images", "image_features", "texts", "labels")
_MODALITY = {"images": "image", "image_features": "image", "texts": "text", "labels": "label"}


@dataclasses.dataclass
class EncodedItems:
    """{-1, +1} codes [n, bits] with the ids of the inputs that were encoded."""

    codes: np.ndarray
    ids: list[str]
    modality: str
    skipped: list[str]
    rows: np.ndarray  # positions of the encoded items among the inputs


def load_array(path: str, key: str) -> np.ndarray:
    """A float32 matrix from .npy, .npz (``key``) or text (space-separated numbers)."""

    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist")
    if path.endswith(".npz"):
        arrays = load_npz(path, "input file")
        if key not in arrays:
            raise UserError(f"{path} has no {key!r} (keys: {', '.join(sorted(arrays)) or 'none'})")
        return _numeric(arrays[key], f"{path}:{key}")
    if path.endswith(".npy"):
        return _numeric(load_npy(path, "input file"), path)
    return number_rows(read_text_lines(path), path)


def _numeric(array: np.ndarray, where: str) -> np.ndarray:
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise UserError(f"{where} has dtype {array.dtype}; expected numbers")
    return np.asarray(array, np.float32)


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


def _encode_images(encoder, path: str, *, batch_size: int, on_error: str, log) -> tuple:
    """Images from a file, folder or list, decoded and resized; corrupt ones fail the
    call or are skipped (by name)."""

    if encoder.info["image_input"] != "pixels":
        raise UserError("this export encodes image features: use `image_features`")
    paths = read_image_paths(path)
    size = encoder.info["image_shape"][0]
    background = background_colour(encoder.info.get("image_background") or "white")
    codes, ids, skipped, rows = [], [], [], []
    started = time.time()
    for start, stop in _batches(len(paths), batch_size):
        batch = []
        for row in range(start, stop):
            try:
                batch.append(decode_image(paths[row], size, background))
            except ValueError as error:
                if on_error == "fail":
                    raise UserError(f"{error}; fix it or pass `on_error=skip`") from None
                logging.warning("skipping %s", error)
                skipped.append(paths[row])
                continue
            ids.append(paths[row])
            rows.append(row)
        if batch:
            codes.append(encoder.encode("image", np.stack(batch)))
        log(
            "encoded %d/%d images (%.0f items/s)",
            stop,
            len(paths),
            stop / max(time.time() - started, 1e-9),
        )
    return codes, ids, skipped, rows


def _input_matrix(
    encoder, source: str, path: str, vocab_file: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Texts (tag lines with a vocabulary, or arrays), labels or image features; for tag
    lines also which lines hold no tag at all."""

    if source == "texts" and path.endswith(".txt"):
        vocabulary = encoder.vocabulary
        if vocab_file:
            vocabulary = [line.strip() for line in read_text_lines(vocab_file) if line.strip()]
        if not vocabulary:
            raise UserError("tag strings need a vocabulary: pass `vocab_file`")
        lines = read_text_lines(path)
        empty = np.array([not line.replace(",", "").strip() for line in lines], bool)
        return tags_to_vectors(lines, vocabulary, path), empty
    return load_array(path, source), None


def _encode_arrays(
    encoder, source: str, path: str, *, vocab_file: str | None, batch_size: int, on_error: str, log
) -> tuple:
    """Rows of a matrix input, checked against the model's input width; rows with
    NaN/inf fail the call or are skipped."""
    modality = _MODALITY[source]
    matrix, empty = _input_matrix(encoder, source, path, vocab_file)
    expected = {
        "text": encoder.info["text_dim"],
        "label": encoder.info["num_labels"],
        "image": (encoder.info["image_shape"] or [None])[0],
    }[modality]
    if matrix.ndim != 2 or matrix.shape[1] != expected:
        raise UserError(
            f"{path}: expected rows of {expected} values for this model, got shape {matrix.shape}"
        )
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        if on_error == "fail":
            raise UserError(
                f"{path}: row {int(np.argmax(bad)) + 1} has NaN or inf; fix it "
                "or pass `on_error=skip`"
            )
        logging.warning("skipping %d rows with NaN/inf", int(bad.sum()))
    if empty is not None and empty.any():
        # An empty line would get the code of "no tag at all", the same for every one.
        if on_error == "fail":
            raise UserError(
                f"{path} line {int(np.argmax(empty)) + 1} is empty (no tag); give its tags "
                "or pass `on_error=skip`"
            )
        logging.warning("skipping %d empty lines (no tag)", int(empty.sum()))
        bad |= empty
    skipped = [str(i) for i in np.flatnonzero(bad)]
    keep = np.flatnonzero(~bad)
    codes = []
    for start, stop in _batches(len(keep), batch_size):
        codes.append(encoder.encode(modality, matrix[keep[start:stop]]))
        log("encoded %d/%d rows", stop, len(keep))
    return codes, [str(i) for i in keep], skipped, list(keep)


def encode_source(
    encoder,
    source: str,
    path: str,
    *,
    vocab_file: str | None = None,
    batch_size: int = 256,
    on_error: str = "fail",
    log: Callable[..., None] = logging.info,
) -> EncodedItems:
    """Encode the inputs at ``path`` (``source`` one of SOURCES) with an ExportedEncoder."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    if source == "images":
        codes, ids, skipped, rows = _encode_images(
            encoder, path, batch_size=batch_size, on_error=on_error, log=log
        )
    else:
        codes, ids, skipped, rows = _encode_arrays(
            encoder,
            source,
            path,
            vocab_file=vocab_file,
            batch_size=batch_size,
            on_error=on_error,
            log=log,
        )
    if not codes:
        raise UserError("no input could be encoded; nothing written")
    return EncodedItems(
        codes=np.concatenate(codes),
        ids=ids,
        modality=_MODALITY[source],
        skipped=skipped,
        rows=np.asarray(rows, np.int64),
    )


def attached_labels(path: str, num_inputs: int, rows: np.ndarray) -> np.ndarray:
    """Label vectors for the encoded rows from a file aligned with the inputs."""
    labels = load_array(path, "labels")
    if labels.ndim != 2 or len(labels) != num_inputs:
        raise UserError(
            f"{path}: expected {num_inputs} label rows (one per input), got shape {labels.shape}"
        )
    labels = labels[rows]
    if not np.all((labels == 0) | (labels == 1)):
        raise UserError(f"{path}: labels must be 0/1 vectors")
    return labels
