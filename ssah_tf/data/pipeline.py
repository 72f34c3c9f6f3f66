"""tf.data input pipelines: index -> (image | image feature | text | labels) batches.

Images are read by index in parallel (``num_parallel_calls``), preprocessed
(e.g. minus the CNN-F mean image) and prefetched; texts and labels are
gathered from in-memory arrays. ``pixel_batches_fn`` streams a training pass's
images to ``strategy.distribute_datasets_from_function``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from ssah_tf.data.dataset import CrossModalDataset

AUTOTUNE = tf.data.AUTOTUNE


def image_feature_matrix(data: CrossModalDataset, pixel_size: int = 32) -> np.ndarray:
    """Image features for the mlp backbone: the dataset's own, or else its pixels
    (resized to ``pixel_size``, scaled to [0, 1], flattened)."""
    if data.image_features is not None:
        return data.image_features
    if data.images is None:
        raise ValueError("dataset has no image modality")
    pixels = data.images.read(np.arange(data.images.num_items), pixel_size)
    return pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0


def make_dataset(
    data: CrossModalDataset,
    indices: np.ndarray,
    *,
    batch_size: int,
    fields: Sequence[str] = ("labels", "text", "image"),
    image_size: int = 224,
    image_features: np.ndarray | None = None,
    preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    repeat: bool = False,
    drop_remainder: bool = False,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Batches of dicts with 'index' and the requested fields for rows ``indices``.

    'image' is read from ``image_features`` when given (mlp backbone), else from
    the dataset's image source at ``image_size`` and passed through ``preprocess``.
    """
    indices = np.asarray(indices, np.int64)
    ds = tf.data.Dataset.from_tensor_slices(indices)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle:
        ds = ds.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    labels = tf.constant(data.labels) if "labels" in fields else None
    texts = tf.constant(data.texts) if "text" in fields and data.texts is not None else None
    features = (
        tf.constant(image_features) if "image" in fields and image_features is not None else None
    )
    source = data.images if "image" in fields and features is None else None

    def gather(index):
        out = {"index": index}
        if labels is not None:
            out["labels"] = tf.gather(labels, index)
        if texts is not None:
            out["text"] = tf.gather(texts, index)
        if features is not None:
            out["image"] = tf.gather(features, index)
        return out

    ds = ds.map(gather, num_parallel_calls=AUTOTUNE, deterministic=True)
    if source is not None:

        def read(index):
            return source.read(index, image_size)

        def add_images(batch):
            images = tf.numpy_function(read, [batch["index"]], tf.uint8, stateful=False)
            images.set_shape([None, image_size, image_size, 3])
            batch["image"] = preprocess(images) if preprocess is not None else images
            return batch

        ds = ds.map(add_images, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def pixel_batches_fn(
    rows: np.ndarray,
    *,
    source,
    item_index: np.ndarray,
    image_size: int,
    preprocess: Callable[[tf.Tensor], tf.Tensor],
    replicas: int,
) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
    """A ``dataset_fn`` for ``strategy.distribute_datasets_from_function`` that streams
    the images of ``rows``: [steps * replicas, per_replica] positions into
    ``item_index`` (element e is step e // replicas, replica e % replicas), read by
    index in parallel, preprocessed and prefetched; each element is
    {"index": positions, "image": preprocessed images}."""
    per_replica = rows.shape[1]

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        local_replicas = replicas // ctx.num_input_pipelines
        keep = [
            e for e in range(len(rows)) if (e % replicas) // local_replicas == ctx.input_pipeline_id
        ]

        def read(positions):
            return source.read(item_index[positions], image_size)

        def load(positions):
            images = tf.numpy_function(read, [positions], tf.uint8, stateful=False)
            images.set_shape([per_replica, image_size, image_size, 3])
            return {"index": positions, "image": preprocess(images)}

        ds = tf.data.Dataset.from_tensor_slices(rows[keep])
        return ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)

    return dataset_fn
