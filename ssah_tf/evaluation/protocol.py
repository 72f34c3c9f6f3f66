"""What a reported mAP was measured under: the ``protocol`` record of every results.json.

Two figures are comparable when their protocols agree (apart from the seed): the mAP
variant and its k, how ties and queries without relevant items count, where the
checkpoint was selected, the split (by the SHA-256 of its index arrays) and the code
length. README "How to report a number".
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ssah_tf.map_variants import map_variant_and_k
from ssah_tf.version import __version__

TIES = "broken by database index (stable order)"
EMPTY_QUERIES = "count as AP 0 in the mean"
SPLIT_ARRAYS = ("query_index", "train_index", "database_index", "validation_index")


def split_sha256(split) -> str:
    """SHA-256 of a split's index arrays, as split.npz holds them: for each of
    query_index, train_index, database_index and (when present) validation_index,
    its name in ASCII, then its indices as little-endian int64. Two runs with the same
    value used the same queries, training items, database and validation queries."""
    digest = hashlib.sha256()
    for name, index in zip(
        SPLIT_ARRAYS, (split.query, split.train, split.database, split.validation)
    ):
        if index is None:
            continue
        digest.update(name.encode("ascii"))
        digest.update(np.asarray(index, dtype="<i8").tobytes())
    return digest.hexdigest()


def protocol_record(
    *,
    map_variant: str | None,
    top_k: int | None,
    selected_on: str | None,
    split=None,
    counts: dict[str, int] | None = None,
    bits: int | None,
    seed: int | None,
) -> dict[str, Any]:
    """The ``protocol`` object of a results.json. ``split`` gives the counts and the
    split hash; without one (a code file) ``counts`` gives the counts and the hash is
    None."""

    variant, k = map_variant_and_k(map_variant, top_k)
    if split is not None:
        counts = {
            "queries": len(split.query),
            "train": len(split.train),
            "database": len(split.database),
            "validation": 0 if split.validation is None else len(split.validation),
        }
    return {
        "map_variant": variant,
        "top_k": k,
        "ties": TIES,
        "empty_queries": EMPTY_QUERIES,
        "selected_on": selected_on,
        "split_sha256": split_sha256(split) if split is not None else None,
        **{k_: int(v) for k_, v in (counts or {}).items()},
        "bits": bits,
        "seed": seed,
        "version": __version__,
    }
