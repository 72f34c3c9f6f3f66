"""The training inputs: a pass's batch table and every stage's batches, in one form.

A batch is a dict built by :meth:`StageInputs.batch` in replica context: ``index``
(the replica's positions into the training items), ``labels`` and, for a generator,
``input`` (label vectors, texts, image features or preprocessed pixels). Labels,
texts and features are device constants of the training items, gathered by
position; pixels stream from the image source through ``data.pipeline`` and
arrive with their own positions.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ssah_tf.bits import pack_label_bits
from ssah_tf.data.pipeline import pixel_batches_fn
from ssah_tf.errors import UserError

BATCH_SAMPLINGS = ("shuffled_pass", "permutation_prefix")


def batch_geometry(num_items: int, batch_size: int, replicas: int) -> tuple[int, int]:
    """(global batch, steps per pass): the batch is at most the training set and must
    split evenly across the replicas; a pass is floor(items / batch) steps."""

    batch = min(batch_size, num_items)
    if batch % replicas:
        raise UserError(
            f"batch size {batch} is not divisible by the {replicas} replicas; "
            f"choose `batch_size` as a multiple of {replicas}"
        )
    return batch, max(1, num_items // batch)


def draw_pass_table(
    rng: tf.random.Generator, *, num_items: int, steps: int, batch_size: int, sampling: str
) -> tf.Tensor:
    """[steps, batch] positions of one pass, drawn from ``rng``.

    'shuffled_pass': a prefix of one random permutation (no item twice in a pass);
    'permutation_prefix' (the release): every step takes the first batch_size items
    of its own fresh permutation (items repeat across the steps of a pass).
    """
    if sampling == "permutation_prefix":
        table = tf.argsort(rng.uniform([steps, num_items]), axis=1)[:, :batch_size]
    elif sampling == "shuffled_pass":
        table = tf.reshape(
            tf.argsort(rng.uniform([num_items]))[: steps * batch_size], [steps, batch_size]
        )
    else:
        raise ValueError(f"batch sampling must be one of {BATCH_SAMPLINGS}, got {sampling!r}")
    return tf.cast(table, tf.int64)


class StageInputs:
    """Device copies of the training items' inputs, and the batches of every stage."""

    def __init__(
        self,
        data,
        train_index: np.ndarray,
        *,
        strategy: tf.distribute.Strategy,
        batch_size: int,
        has_text: bool,
        feature_matrix: np.ndarray | None,
        pixel_images: bool,
        image_size: int,
    ):
        self.data = data
        self.train_index = np.asarray(train_index, np.int64)
        self.strategy = strategy
        self.batch_size = batch_size
        self.pixel_images = pixel_images
        self.image_size = image_size
        self.labels = tf.constant(data.labels[self.train_index])
        self.label_bits = tf.constant(pack_label_bits(data.labels[self.train_index]))
        self.texts = tf.constant(data.texts[self.train_index]) if has_text else None
        self.features = (
            tf.constant(feature_matrix[self.train_index]) if feature_matrix is not None else None
        )

    def local_positions(self, row: tf.Tensor) -> tf.Tensor:
        """This replica's slice of a global batch row (replica context)."""
        ctx = tf.distribute.get_replica_context()
        per_replica = self.batch_size // ctx.num_replicas_in_sync
        start = tf.cast(ctx.replica_id_in_sync_group, tf.int64) * per_replica
        return row[start : start + per_replica]

    def batch(self, network: str, row: tf.Tensor, element: dict | None = None) -> dict:
        """The replica's batch of step ``row`` (a pass-table row) for ``network``;
        ``element``: the streamed pixels of that step (image stage on pixels)."""
        # A streamed element's tensors carry no device; tf.identity places them on this
        # replica's device (a multi-worker all-gather of the index needs one).
        index = tf.identity(element["index"]) if element is not None else self.local_positions(row)
        batch = {"index": index, "labels": tf.gather(self.labels, index)}
        if network == "lab":
            batch["input"] = batch["labels"]
        elif network == "txt":
            batch["input"] = tf.gather(self.texts, index)
        elif network == "img":
            batch["input"] = (
                element["image"] if element is not None else tf.gather(self.features, index)
            )
        return batch

    def pixel_batches(self, table: np.ndarray, preprocess):
        """The distributed stream of a pass's images for the steps of ``table`` rows."""
        replicas = self.strategy.num_replicas_in_sync
        rows = np.asarray(table).reshape(-1, self.batch_size // replicas)
        fn = pixel_batches_fn(
            rows,
            source=self.data.images,
            item_index=self.train_index,
            image_size=self.image_size,
            preprocess=preprocess,
            replicas=replicas,
        )
        return iter(self.strategy.distribute_datasets_from_function(fn))
