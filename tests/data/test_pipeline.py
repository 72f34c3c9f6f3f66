import numpy as np
import tensorflow as tf

from ssah_tf.data.dataset import ArrayImages, CrossModalDataset
from ssah_tf.data.pipeline import distributed_dataset_fn, make_dataset
from tests.conftest import get_strategy
from tests.helpers import small_dataset_arrays


def small():
    images, texts, labels = small_dataset_arrays(n=12, h=8, w=8)
    return CrossModalDataset(name="t", labels=labels, texts=texts, images=ArrayImages(images)), images


def test_batches_have_every_field_and_preprocessing():
    data, images = small()
    mean = np.full((8, 8, 3), 100.0, np.float32)
    ds = make_dataset(data, np.array([3, 1, 4, 1, 5]), batch_size=2, image_size=8,
                      preprocess=lambda x: tf.cast(x, tf.float32) - mean)
    batches = list(ds)
    assert [len(b["index"]) for b in batches] == [2, 2, 1]
    first = batches[0]
    np.testing.assert_array_equal(first["index"], [3, 1])
    np.testing.assert_array_equal(first["labels"], data.labels[[3, 1]])
    np.testing.assert_array_equal(first["text"], data.texts[[3, 1]])
    np.testing.assert_allclose(first["image"], images[[3, 1]].astype(np.float32) - 100.0)


def test_shuffle_is_seeded_and_covers_everything():
    data, _ = small()
    order = lambda seed: np.concatenate([b["index"].numpy() for b in make_dataset(
        data, np.arange(12), batch_size=5, fields=("labels",), shuffle=True, seed=seed)])
    np.testing.assert_array_equal(order(1), order(1))
    assert sorted(order(1)) == list(range(12)) and not np.array_equal(order(1), np.arange(12))


def test_distribute_datasets_from_function_on_two_replicas():
    data, images = small()
    strategy = get_strategy(2)
    fn = distributed_dataset_fn(data, np.arange(8), global_batch_size=4, fields=("image",),
                                image_size=8)
    dist = strategy.distribute_datasets_from_function(fn)
    seen = []
    for batch in dist:
        for replica in strategy.experimental_local_results(batch["index"]):
            assert len(replica) == 2  # per-replica batch = global / replicas
            seen.extend(replica.numpy())
    assert sorted(seen) == list(range(8))
