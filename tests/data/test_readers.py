"""Every reader on small files in the real layouts, and the real MIRFLICKR/mfeat data."""

import numpy as np
import scipy.io
import tensorflow as tf

from ssah_tf.data.matlab import read_matlab
from ssah_tf.data.readers import detect_and_read, read_feature_file
from ssah_tf.data.registry import DataConfig, load_dataset, resolve_split
from ssah_tf.data.text_lists import read_text_lists
from tests.data.test_text_lists import write_text_lists
from tests.helpers import expect_error, small_dataset_arrays


def test_feature_npz_with_split(tmp_path):
    rng = np.random.default_rng(0)
    _, texts, labels = small_dataset_arrays()
    feats = rng.normal(size=(12, 5)).astype(np.float32)
    path = str(tmp_path / "own.npz")
    np.savez(
        path,
        image_features=feats,
        texts=texts,
        labels=labels,
        query_index=np.arange(2),
        train_index=np.arange(2, 8),
        database_index=np.arange(2, 12),
    )
    data = load_dataset(DataConfig(dataset="npz", data_path=path))
    np.testing.assert_array_equal(data.image_features, feats)
    split = resolve_split(data, DataConfig(dataset="npz", data_path=path))
    np.testing.assert_array_equal(split.train, np.arange(2, 8))


def test_feature_reader_on_real_mfeat_views(shared_data_dir, tmp_path):
    folder = shared_data_dir / "mfeat"
    pix = np.loadtxt(folder / "mfeat-pix.csv", delimiter=",", skiprows=1)
    fou = np.loadtxt(folder / "mfeat-fou.csv", delimiter=",", skiprows=1)
    labels = np.eye(10, dtype=np.float32)[pix[:, -1].astype(int)]
    path = str(tmp_path / "mfeat.npz")
    np.savez(path, image_features=pix[:, :-1], texts=fou[:, :-1], labels=labels)
    data = read_feature_file(path)
    assert data.image_features.shape == (2000, 240) and data.texts.shape == (2000, 76)
    assert data.labels.sum() == 2000
    direct = load_dataset(DataConfig(dataset="mfeat", data_path=str(folder)))
    assert direct.image_features.shape == (2000, 240)
    np.testing.assert_array_equal(direct.labels, labels)


# ---------------------------------------------------------------- bad input
def test_warnings_for_empty_labels_and_tags(tmp_path, caplog):
    images, texts, labels = small_dataset_arrays()
    labels[[1, 2]] = 0
    texts[5] = 0
    path = str(tmp_path / "w.npz")
    np.savez(path, texts=texts, labels=labels)
    import logging

    with caplog.at_level(logging.WARNING):
        read_feature_file(path)
    text = caplog.text
    assert "2 items have no label" in text and "1 items have an empty text" in text


def test_npz_label_names_complex_arrays_and_unlabelled_data_are_refused(tmp_path):
    _, texts, labels = small_dataset_arrays(c=5)
    path = str(tmp_path / "d.npz")
    np.savez(path, texts=texts, labels=labels, label_names=np.array(["a", "b"]))
    expect_error(lambda: read_feature_file(path), "2 label names for 5 label columns")
    np.savez(path, texts=texts.astype(np.complex64), labels=labels)
    expect_error(lambda: read_feature_file(path), "d.npz:texts holds complex numbers")
    np.savez(path, texts=texts, labels=np.zeros_like(labels))
    expect_error(lambda: read_feature_file(path), "no item has a label")


def test_bad_inputs(tmp_path):
    images, texts, labels = small_dataset_arrays(h=8, w=8)
    expect_error(lambda: detect_and_read(str(tmp_path / "nope.mat"), name="x"), "does not exist")
    (tmp_path / "weird.txt").write_text("x")
    expect_error(lambda: detect_and_read(str(tmp_path / "weird.txt"), name="x"), "unknown format")
    path = str(tmp_path / "nolabels.mat")
    scipy.io.savemat(path, {"YAll": texts, "Other": labels})
    expect_error(lambda: read_matlab(path), "no label variable", "YAll", "Other")
    path = str(tmp_path / "count.mat")
    scipy.io.savemat(path, {"YAll": texts[:10], "LAll": labels})
    expect_error(lambda: read_matlab(path), "disagree")
    path = str(tmp_path / "nan.npz")
    bad = texts.copy()
    bad[3, 2] = np.nan
    np.savez(path, texts=bad, labels=labels)
    expect_error(lambda: read_feature_file(path), "NaN")
    path = str(tmp_path / "rank.npz")
    np.savez(path, texts=texts[:, :, None], labels=labels)
    expect_error(lambda: read_feature_file(path), "2-D")
    path = str(tmp_path / "keys.npz")
    np.savez(path, feats=texts, labels=labels)
    expect_error(lambda: read_feature_file(path), "keys: feats, labels")
    path = str(tmp_path / "pickle.npz")
    np.savez(path, texts=np.array([{"a": 1}] * 12, dtype=object), labels=labels)
    expect_error(lambda: read_feature_file(path), "pickle")
    path = str(tmp_path / "nonbinary.npz")
    np.savez(path, texts=texts, labels=labels * 3)
    expect_error(lambda: read_feature_file(path), "0/1")
    vocab = [f"tag{i}" for i in range(texts.shape[1])]
    write_text_lists(tmp_path / "oov", texts, labels, vocab)
    lines = (tmp_path / "oov" / "all_tags.txt").read_text().splitlines()
    lines[4] = lines[4] + ",zebra"
    (tmp_path / "oov" / "all_tags.txt").write_text("\n".join(lines) + "\n")
    expect_error(lambda: read_text_lists(str(tmp_path / "oov")), "line 5", "'zebra'")
    write_text_lists(tmp_path / "broken", texts, labels, vocab, images)
    tf.io.write_file(str(tmp_path / "broken" / "imgs" / "im3.png"), b"not an image")
    data = read_text_lists(str(tmp_path / "broken"), image_root=str(tmp_path / "broken"))
    expect_error(lambda: data.images.read(np.array([2, 3]), 8), "im3.png")
    from ssah_tf.data.protocols import make_split

    expect_error(lambda: make_split(12, query_size=13, train_size=5, seed=0), "exceed")
    expect_error(lambda: make_split(12, query_size=10, train_size=5, seed=0), "larger than")
    from ssah_tf.config import make_config

    expect_error(lambda: make_config("release", text_dim=40), "smaller than the largest", "50")
