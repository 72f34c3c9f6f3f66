"""Tag lines (comma-separated tags) -> 0/1 bag-of-words rows over a vocabulary."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssah_tf.errors import UserError


def tags_to_vectors(lines: Sequence[str], vocabulary: Sequence[str], where: str) -> np.ndarray:
    """One float32 0/1 row per line; a tag outside ``vocabulary`` is a UserError naming
    ``where`` and the line."""
    index = {tag: i for i, tag in enumerate(vocabulary)}
    if len(index) != len(vocabulary):
        raise UserError(f"{where}: the vocabulary has duplicate tags")
    out = np.zeros((len(lines), len(vocabulary)), np.float32)
    for row, line in enumerate(lines):
        for tag in (t.strip() for t in line.split(",")):
            if not tag:
                continue
            column = index.get(tag)
            if column is None:
                raise UserError(f"{where} line {row + 1}: tag {tag!r} is not in the vocabulary")
            out[row, column] = 1.0
    return out
