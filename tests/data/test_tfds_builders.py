"""ssah-prepare's TFDS copy: any collection, all or nothing, pictures streamed by row."""

import os

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.data import tfds_builders
from ssah_tf.data.dataset import CrossModalDataset
from ssah_tf.data.protocols import make_split
from ssah_tf.data.readers import read_text_lists
from ssah_tf.data.registry import DataConfig
from ssah_tf.data.tfds_builders import load_prepared, write_prepared_copy
from ssah_tf.errors import UserError
from tests.conftest import get_strategy
from tests.data.test_text_lists import write_text_lists
from tests.helpers import small_dataset_arrays


def _collection(folder, n=14, d_t=52, c=5):
    images, texts, labels = small_dataset_arrays(n=n, h=20, w=30, d_t=d_t, c=c)
    write_text_lists(folder, texts, labels, [f"t{i}" for i in range(d_t)], images)
    (folder / "label_names.txt").write_text("\n".join(f"class{j}" for j in range(c)) + "\n")
    return images, texts, labels


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tfds")
    images, texts, labels = _collection(tmp / "lists")  # any vocabulary and label count
    source = read_text_lists(str(tmp / "lists"))
    info = write_prepared_copy(
        source, destination=str(tmp / "copy"), dataset="collection", background="white"
    )
    return tmp, source, info, texts, labels


def test_copy_holds_the_collection_and_its_names(prepared):
    tmp, source, info, texts, labels = prepared
    assert info["num_items"] == 14 and info["skipped"] == [] and info["text"] == "words"
    data = load_prepared(DataConfig(dataset="collection", data_dir=str(tmp / "copy")))
    np.testing.assert_array_equal(data.texts, texts)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.label_names == tuple(f"class{j}" for j in range(5))
    assert data.tag_names == tuple(f"t{i}" for i in range(52))
    assert data.images.encoded and data.images.num_items == 14
    rows = np.array([13, 0, 5])  # a JPEG among PNGs: the stored bytes are the file's own
    np.testing.assert_array_equal(data.images.read(rows, 24), source.images.read(rows, 24))


def test_streamed_copy_is_read_without_loading_every_picture(prepared):
    tmp, *_ = prepared
    data = load_prepared(DataConfig(dataset="collection", data_dir=str(tmp / "copy")))
    assert data.images.read_bytes(3)[:8] == b"\x89PNG\r\n\x1a\n"  # one record, by row
    assert "streamed from the prepared copy" in data.images.describe()


def test_existing_destination_is_refused(prepared):
    tmp, source, *_ = prepared
    with pytest.raises(UserError, match="exists"):
        write_prepared_copy(
            source, destination=str(tmp / "copy"), dataset="collection", background="white"
        )


def test_a_failed_prepare_leaves_nothing(tmp_path):
    _collection(tmp_path / "lists")
    (tmp_path / "lists" / "imgs" / "im4.jpg").write_bytes(b"not a picture")
    source = read_text_lists(str(tmp_path / "lists"))
    destination = tmp_path / "out" / "copy"
    with pytest.raises(UserError, match=r"im4\.jpg.*line 5"):
        write_prepared_copy(
            source, destination=str(destination), dataset="collection", background="white"
        )
    assert os.listdir(tmp_path / "out") == []  # no copy, no staging folder


def test_unreadable_pictures_skipped_and_counted(tmp_path):
    _, texts, labels = _collection(tmp_path / "lists")
    (tmp_path / "lists" / "imgs" / "im4.jpg").write_bytes(b"not a picture")
    source = read_text_lists(str(tmp_path / "lists"))
    info = write_prepared_copy(
        source,
        destination=str(tmp_path / "copy"),
        dataset="collection",
        background="white",
        on_error="skip",
    )
    assert info["num_items"] == 13 and len(info["skipped"]) == 1 and "im4" in info["skipped"][0]
    data = load_prepared(DataConfig(dataset="collection", data_dir=str(tmp_path / "copy")))
    kept = [i for i in range(14) if i != 4]
    np.testing.assert_array_equal(data.labels, labels[kept])
    np.testing.assert_array_equal(data.texts, texts[kept])


def test_feature_collection_with_dense_texts(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 9)]
    data = CrossModalDataset(
        name="feats",
        labels=labels,
        texts=rng.normal(size=(9, 4)).astype(np.float32),
        image_features=rng.normal(size=(9, 6)).astype(np.float32),
    )
    info = write_prepared_copy(
        data, destination=str(tmp_path / "c"), dataset="npz", background="white"
    )
    assert info["text"] == "dense" and not info["pictures"]
    copy = load_prepared(DataConfig(dataset="npz", data_dir=str(tmp_path / "c")))
    np.testing.assert_array_equal(copy.texts, data.texts)
    np.testing.assert_array_equal(copy.image_features, data.image_features)
    with pytest.raises(UserError, match="prepared copy of npz"):
        load_prepared(DataConfig(dataset="mfeat", data_dir=str(tmp_path / "c")))


def test_not_a_copy_is_named(tmp_path):
    with pytest.raises(UserError, match="not a prepared copy"):
        load_prepared(DataConfig(dataset="collection", data_dir=str(tmp_path)))


def test_training_streams_pixels_identically_on_two_replicas(prepared, golden_dir, tmp_path):
    """The pixel pipeline (CNN-F, pictures decoded from the copy by row) on 1 and 2 replicas."""
    from tests.training.tiny import state, tiny_trainer

    tmp, *_ = prepared
    data = load_prepared(DataConfig(dataset="collection", data_dir=str(tmp / "copy")))
    split = make_split(14, query_size=3, train_size=6, seed=0)
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


def test_pictures_of_any_size_decode_to_the_asked_size(tmp_path):
    folder = tmp_path / "lists"
    _collection(folder, n=6)
    tall = tf.io.encode_png(np.zeros((50, 7, 3), np.uint8)).numpy()
    (folder / "imgs" / "im1.png").write_bytes(tall)
    copy = write_prepared_copy(
        read_text_lists(str(folder)),
        destination=str(tmp_path / "copy"),
        dataset="collection",
        background="white",
    )
    assert copy["num_items"] == 6
    data = load_prepared(DataConfig(dataset="collection", data_dir=str(tmp_path / "copy")))
    assert data.images.read(np.array([1, 2]), 16).shape == (2, 16, 16, 3)


def test_module_names_no_private_tensorflow():
    source = open(tfds_builders.__file__).read()
    assert "tensorflow.python" not in source
