"""The retrieval directions (query modality -> database modality) and their mAPs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ssah_tf.bits import codes_from_hash
from ssah_tf.evaluation.metrics import mean_average_precision
from ssah_tf.map_variants import map_key

# name -> (query modality, database modality); a label query retrieves both others.
DIRECTIONS = {
    "i2t": ("image", "text"),
    "t2i": ("text", "image"),
    "i2i": ("image", "image"),
    "t2t": ("text", "text"),
    "l2i": ("label", "image"),
    "l2t": ("label", "text"),
}


def direction_maps(
    *,
    query_codes: Mapping[str, np.ndarray],
    database_codes: Mapping[str, np.ndarray],
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    map_variant: str | None = None,
    top_k: int | None = None,
) -> dict[str, float]:
    """The mAP (``map_variant`` with ``top_k``: metrics.mean_average_precision) of
    every direction whose two modalities are present, under ``map_variants.map_key``.

    ``query_codes`` / ``database_codes``: modality -> codes (or real-valued H: only
    the signs count), e.g. {"label": ..., "image": ..., "text": ...}.
    """
    out = {}
    for name, (source, target) in DIRECTIONS.items():
        if source in query_codes and target in database_codes:
            out[map_key(name, map_variant, top_k)] = mean_average_precision(
                query_codes=codes_from_hash(query_codes[source]),
                database_codes=codes_from_hash(database_codes[target]),
                query_labels=query_labels,
                database_labels=database_labels,
                map_variant=map_variant,
                top_k=top_k,
            )
    return out


def label_prior_map(
    *,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    map_variant: str | None = None,
    top_k: int | None = None,
) -> float:
    """mAP of a ranking that ignores the codes (all equal: ties keep the database order)."""
    return mean_average_precision(
        query_codes=np.ones((len(query_labels), 1), np.float32),
        database_codes=np.ones((len(database_labels), 1), np.float32),
        query_labels=query_labels,
        database_labels=database_labels,
        map_variant=map_variant,
        top_k=top_k,
    )
