import numpy as np
import tensorflow as tf

from ssah_tf.data.dataset import ArrayImages, CrossModalDataset
from ssah_tf.data.pipeline import make_dataset, pixel_batches_fn
from tests.conftest import get_strategy
from tests.helpers import small_dataset_arrays


def small():
    images, texts, labels = small_dataset_arrays(n=12, h=8, w=8)
    return CrossModalDataset(
        name="t", labels=labels, texts=texts, images=ArrayImages(images)
    ), images


def test_batches_have_every_field_and_preprocessing():
    data, images = small()
    mean = np.full((8, 8, 3), 100.0, np.float32)
    ds = make_dataset(
        data,
        np.array([3, 1, 4, 1, 5]),
        batch_size=2,
        image_size=8,
        preprocess=lambda x: tf.cast(x, tf.float32) - mean,
    )
    batches = list(ds)
    assert [len(b["index"]) for b in batches] == [2, 2, 1]
    first = batches[0]
    np.testing.assert_array_equal(first["index"], [3, 1])
    np.testing.assert_array_equal(first["labels"], data.labels[[3, 1]])
    np.testing.assert_array_equal(first["text"], data.texts[[3, 1]])
    np.testing.assert_allclose(first["image"], images[[3, 1]].astype(np.float32) - 100.0)


def test_shuffle_is_seeded_and_covers_everything():
    data, _ = small()
    order = lambda seed: np.concatenate(
        [
            b["index"].numpy()
            for b in make_dataset(
                data, np.arange(12), batch_size=5, fields=("labels",), shuffle=True, seed=seed
            )
        ]
    )
    np.testing.assert_array_equal(order(1), order(1))
    assert sorted(order(1)) == list(range(12)) and not np.array_equal(order(1), np.arange(12))


def test_pixel_batches_on_two_replicas_follow_the_table():
    data, images = small()
    strategy = get_strategy(2)
    # Two steps of global batch 4: element e is step e // 2, replica e % 2.
    table = np.array([[5, 0, 7, 2], [1, 3, 6, 4]])
    item_index = np.arange(12)[::-1]  # positions -> dataset rows 11, 10, ...
    fn = pixel_batches_fn(
        table.reshape(-1, 2),
        source=data.images,
        item_index=item_index,
        image_size=8,
        preprocess=lambda x: tf.cast(x, tf.float32),
        replicas=2,
    )
    seen = []
    for batch in strategy.distribute_datasets_from_function(fn):
        parts = strategy.experimental_local_results(batch["index"])
        pixels = strategy.experimental_local_results(batch["image"])
        for positions, image in zip(parts, pixels):
            assert len(positions) == 2
            np.testing.assert_array_equal(image, images[item_index[positions.numpy()]])
        seen.append(np.concatenate([p.numpy() for p in parts]))
    np.testing.assert_array_equal(np.stack(seen), table)
