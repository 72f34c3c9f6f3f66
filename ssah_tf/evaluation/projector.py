"""Codes (and semantic features) for TensorBoard's Embedding Projector.

For each embedding: a tensor in a checkpoint in the log directory, a metadata TSV (id,
split, label names, first label: colour the points by it) and, where the items are
images, a sprite of thumbnails; ``projector_config.pbtxt`` ties them together, so
``tensorboard --logdir RUN`` shows the code space coloured by label.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins import projector

CHECKPOINT_PREFIX = "projector"
# TensorBoard's projector shows sprites up to 8192 x 8192 pixels.
SPRITE_LIMIT = 8192


@dataclasses.dataclass
class Embedding:
    """One set of points: ``values`` [n, d], one metadata row per point
    (``columns``), optional thumbnails uint8 [n, s, s, 3]."""

    name: str
    values: np.ndarray
    columns: dict[str, Sequence[str]]
    images: np.ndarray | None = None


def _clean(value) -> str:
    return str(value).replace("\t", " ").replace("\n", " ") or "(none)"


def sprite(images: np.ndarray) -> np.ndarray:
    """Thumbnails [n, s, s, 3] in a square grid (empty cells black), row-major as the
    projector reads them."""
    n, size = len(images), images.shape[1]
    side = int(np.ceil(np.sqrt(n)))
    if side * size > SPRITE_LIMIT:
        raise ValueError(f"{n} thumbnails of {size} px exceed the projector's sprite limit")
    grid = np.zeros((side * size, side * size, 3), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, side)
        grid[r * size : (r + 1) * size, c * size : (c + 1) * size] = image
    return grid


def write_projector(log_dir: str, embeddings: Sequence[Embedding]) -> list[str]:
    """Write every embedding's tensor (one checkpoint), metadata, sprite and the
    projector config into ``log_dir``; returns the files written."""

    os.makedirs(log_dir, exist_ok=True)
    variables = {
        e.name: tf.Variable(np.asarray(e.values, np.float32), name=e.name) for e in embeddings
    }
    checkpoint = tf.train.Checkpoint(**variables)
    prefix = checkpoint.write(os.path.join(log_dir, CHECKPOINT_PREFIX))
    # Make it the directory's latest checkpoint, where the projector looks for tensors,
    # by a relative path: the folder may be moved (ssah-eval stages its output).
    with open(os.path.join(log_dir, "checkpoint"), "w") as f:
        f.write(
            f'model_checkpoint_path: "{CHECKPOINT_PREFIX}"\n'
            f'all_model_checkpoint_paths: "{CHECKPOINT_PREFIX}"\n'
        )
    config = projector.ProjectorConfig()
    written = [prefix + ".index", os.path.join(log_dir, "checkpoint")]
    sprites: dict[int, str] = {}  # embeddings of the same items share one sprite file
    for e in embeddings:
        entry = config.embeddings.add()
        entry.tensor_name = f"{e.name}/.ATTRIBUTES/VARIABLE_VALUE"
        metadata = f"{e.name}_metadata.tsv"
        names = list(e.columns)
        rows = ["\t".join(names)] + [
            "\t".join(_clean(e.columns[c][i]) for c in names) for i in range(len(e.values))
        ]
        with open(os.path.join(log_dir, metadata), "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
        entry.metadata_path = metadata
        written.append(os.path.join(log_dir, metadata))
        if e.images is not None and len(e.images):
            if id(e.images) not in sprites:
                image = f"{e.name}_sprite.png"
                png = tf.io.encode_png(sprite(np.asarray(e.images, np.uint8))).numpy()
                with open(os.path.join(log_dir, image), "wb") as f:
                    f.write(png)
                sprites[id(e.images)] = image
                written.append(os.path.join(log_dir, image))
            entry.sprite.image_path = sprites[id(e.images)]
            entry.sprite.single_image_dim.extend([e.images.shape[2], e.images.shape[1]])
    path = os.path.join(log_dir, "projector_config.pbtxt")
    with open(path, "w") as f:
        f.write(text_format.MessageToString(config))
    written.append(path)
    return written
