"""A data set's fingerprint: cheap to compute, changes when the items or labels change.

Sizes and dtypes of every array, a SHA-256 of the label matrix (as 0/1 bits) and of
the item ids or picture paths. A run records it in config.json and results.json, and
every later evaluation, resume or export compares it with the data it loads.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ssah_tf.data.dataset import CrossModalDataset, FileImages


def _sha256(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _shape(array) -> list[int] | None:
    return None if array is None else [int(n) for n in array.shape]


def data_fingerprint(data: CrossModalDataset) -> dict[str, Any]:
    """The fingerprint record (JSON-ready) of ``data``."""
    labels = np.asarray(data.labels) > 0
    names: list[str] | None = None
    if data.item_ids is not None:
        names = list(data.item_ids)
    elif isinstance(data.images, FileImages):
        names = list(data.images.paths)
    return {
        "items": data.num_items,
        "labels": _shape(labels),
        "labels_sha256": _sha256(
            np.asarray(labels.shape, "<i8").tobytes(), np.packbits(labels, axis=1).tobytes()
        ),
        "texts": _shape(data.texts),
        "image_features": _shape(data.image_features),
        "pictures": None if data.images is None else int(data.images.num_items),
        "ids_sha256": None if names is None else _sha256("\n".join(names).encode("utf-8")),
    }


def fingerprint_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, one short phrase each."""
    phrases = {
        "items": "item count",
        "labels": "label matrix shape",
        "labels_sha256": "labels",
        "texts": "text matrix shape",
        "image_features": "image feature shape",
        "pictures": "picture count",
        "ids_sha256": "item ids or picture paths",
    }
    changed = []
    for key, phrase in phrases.items():
        if key in recorded and recorded[key] != current.get(key):
            before, now = recorded[key], current.get(key)
            if key.endswith("sha256"):
                changed.append(f"{phrase} changed")
            else:
                changed.append(f"{phrase} {before} -> {now}")
    return changed
