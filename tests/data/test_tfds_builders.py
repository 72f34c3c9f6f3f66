"""TFDS builders prepared from a small manual_dir; training streams their images."""

import numpy as np
import pytest

from ssah_tf.data import protocols, tfds_builders
from ssah_tf.data.dataset import resize_uint8
from ssah_tf.data.protocols import Split
from ssah_tf.data.tfds_builders import SsahMirflickr25k, load_prepared, prepare
from ssah_tf.errors import UserError
from tests.conftest import get_strategy
from tests.data.test_readers import write_text_lists
from tests.helpers import small_dataset_arrays


class TinyFlickr(SsahMirflickr25k):
    """MIRFLICKR's builder with tiny dims (registered under its own name)."""

    PROTOCOL = "tiny_flickr"
    TEXT_DIM = 52
    NUM_LABELS = 4


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tfds")
    patch = pytest.MonkeyPatch()
    patch.setitem(protocols.PROTOCOLS, "tiny_flickr", protocols.Protocol(query=3, train=6))
    patch.setitem(tfds_builders.BUILDERS, "tiny_flickr", TinyFlickr)
    images, texts, labels = small_dataset_arrays(n=14, h=20, w=30, d_t=52, c=4)
    write_text_lists(tmp / "manual", texts, labels, [f"t{i}" for i in range(52)], images)
    prepare("tiny_flickr", manual_dir=str(tmp / "manual"), data_dir=str(tmp / "tfds"))
    yield tmp, images, texts, labels
    patch.undo()


def test_prepared_splits_and_random_access(prepared):
    tmp, images, texts, labels = prepared
    data = load_prepared("tiny_flickr", str(tmp / "tfds"))
    expected = protocols.make_split(14, query_size=3, train_size=6, seed=0)
    query, train, database = data.predefined_split
    assert sorted(query) == sorted(expected.query) and sorted(train) == sorted(expected.train)
    assert sorted(database) == sorted(expected.database)
    np.testing.assert_array_equal(data.texts, texts)
    np.testing.assert_array_equal(data.labels, labels)
    rows = np.array([13, 1, 5])  # odd rows were written as PNG (lossless)
    np.testing.assert_array_equal(data.images.read(rows, 224), resize_uint8(images[rows], 224))
    with pytest.raises(UserError, match="not prepared"):
        load_prepared("tiny_flickr", str(tmp / "tfds"), split_seed=5)


def test_training_streams_pixels_identically_on_two_replicas(prepared, golden_dir, tmp_path):
    """The pixel pipeline (CNN-F, images read by index) on 1 and 2 replicas."""
    from tests.training.tiny import state, tiny_trainer

    tmp, *_ = prepared
    data = load_prepared("tiny_flickr", str(tmp / "tfds"))
    query, train, database = data.predefined_split
    split = Split(query=query, train=train, database=database)
    states = []
    for replicas in (1, 2):
        trainer = tiny_trainer(
            tmp_path / str(replicas),
            get_strategy(replicas),
            preset="release",
            data=data,
            split=split,
            backbone="cnnf",
            batch_size=4,
            cnnf_path=str(golden_dir / "fake_vgg_f_small.mat"),
        )
        results = trainer.train()
        assert "map_i2t" in results
        states.append(state(trainer))
    for key in states[0]:
        scale = max(np.abs(states[0][key]).max(), 1e-3)
        np.testing.assert_allclose(states[1][key], states[0][key], atol=2e-5 * scale, err_msg=key)
