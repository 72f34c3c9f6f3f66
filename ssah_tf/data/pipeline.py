"""tf.data input pipelines: index -> (image | image feature | text | labels) batches.

Pictures are read by index in parallel (``num_parallel_calls``): an encoded source's
bytes (files, a prepared copy) are decoded and resized inside the pipeline, an
array source's pixels read a batch at a time; then preprocessed (e.g. minus the
CNN-F mean image) and prefetched. Texts and labels are gathered from in-memory
arrays. ``pixel_batches_fn`` streams a training pass's pictures to
``strategy.distribute_datasets_from_function``. Only the pictures of the batches in
flight are in memory, whatever the size of the collection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from ssah_tf.data.dataset import CrossModalDataset
from ssah_tf.data.pictures import decode_and_resize

AUTOTUNE = tf.data.AUTOTUNE


def picture_stream(source, positions: tf.data.Dataset, size: int, lookup=None) -> tf.data.Dataset:
    """(position, uint8 [size, size, 3]) for each position of ``positions``, read in
    parallel and in order from an encoded ``source``; ``lookup`` maps a position to
    the source's item index (default: the position itself)."""

    def read(position):
        index = int(position) if lookup is None else int(lookup[int(position)])
        return source.read_bytes(index)

    def load(position):
        data = tf.numpy_function(read, [position], tf.string, stateful=False)
        data.set_shape([])
        return position, decode_and_resize(data, size)

    return positions.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)


def pixel_statistics(data: CrossModalDataset, indices: np.ndarray, preprocess, size: int):
    """Per-column mean and standard deviation of ``preprocess``-ed pictures of rows
    ``indices`` (the training items), streamed: one pass, float64 sums."""
    from ssah_tf.data.scaling import standardizer_from_moments

    total = total_squares = None
    count = 0
    dataset = make_dataset(
        data, indices, batch_size=256, fields=("image",), image_size=size, preprocess=preprocess
    )
    for batch in dataset:
        values = batch["image"].numpy().astype(np.float64).reshape(len(batch["index"]), -1)
        total = values.sum(0) if total is None else total + values.sum(0)
        squares = np.square(values).sum(0)
        total_squares = squares if total_squares is None else total_squares + squares
        count += len(values)
    return standardizer_from_moments(total, total_squares, count)


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
    labels = tf.constant(data.labels) if "labels" in fields else None
    texts = tf.constant(data.texts) if "text" in fields and data.texts is not None else None
    features = (
        tf.constant(image_features) if "image" in fields and image_features is not None else None
    )
    source = data.images if "image" in fields and features is None else None

    def gather(index, images=None):
        out = {"index": index}
        if labels is not None:
            out["labels"] = tf.gather(labels, index)
        if texts is not None:
            out["text"] = tf.gather(texts, index)
        if features is not None:
            out["image"] = tf.gather(features, index)
        if images is not None:
            out["image"] = preprocess(images) if preprocess is not None else images
        return out

    if source is not None and source.encoded:
        # One picture at a time (decoded and resized in parallel), then the batch.
        ds = picture_stream(source, ds, image_size).batch(batch_size, drop_remainder=drop_remainder)
        return ds.map(gather, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
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

        ds = tf.data.Dataset.from_tensor_slices(rows[keep])
        if source.encoded:
            pictures = picture_stream(source, ds.unbatch(), image_size, lookup=item_index)
            return (
                pictures.batch(per_replica)
                .map(lambda positions, images: {"index": positions, "image": preprocess(images)})
                .prefetch(AUTOTUNE)
            )

        def read(positions):
            return source.read(item_index[positions], image_size)

        def load(positions):
            images = tf.numpy_function(read, [positions], tf.uint8, stateful=False)
            images.set_shape([per_replica, image_size, image_size, 3])
            return {"index": positions, "image": preprocess(images)}

        return ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)

    return dataset_fn
