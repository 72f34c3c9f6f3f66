"""Every reader on small files in the real layouts, and the real MIRFLICKR/mfeat data."""

import json

import numpy as np
import pytest
import scipy.io
import tensorflow as tf

from ssah_tf.data.readers import detect_and_read, read_feature_file, read_matlab, read_text_lists
from ssah_tf.data.registry import DataConfig, load_dataset, resolve_split
from ssah_tf.errors import UserError
from tests.helpers import small_dataset_arrays, write_matlab_v73


def matlab_images(images_nhwc):
    """N x H x W x 3 -> MATLAB's H x W x 3 x N."""
    return np.transpose(images_nhwc, (1, 2, 3, 0))


def test_v73_combined_file_as_matlab_writes_it(tmp_path):
    images, texts, labels = small_dataset_arrays()
    path = str(tmp_path / "FLICKR-25K.mat")
    write_matlab_v73(path, {"images": matlab_images(images), "YAll": texts, "LAll": labels})
    with open(path, "rb") as f:
        assert f.read(10) == b"MATLAB 7.3"
    import h5py

    with h5py.File(path, "r") as f:  # the layout docs/method.md §5 describes
        assert f["images"].shape == (12, 3, 6, 8) and f["YAll"].shape == (7, 12)
    data = detect_and_read(path, name="mirflickr25k")
    np.testing.assert_array_equal(data.texts, texts)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.images.read(np.array([5, 0, 11, 5]), 8).shape == (4, 8, 8, 3)  # 8x6 resized


def test_v73_images_round_trip_exactly(tmp_path):
    images, texts, labels = small_dataset_arrays(h=8, w=8)
    path = str(tmp_path / "combined.mat")
    write_matlab_v73(path, {"IAll": matlab_images(images), "YAll": texts, "LAll": labels})
    data = read_matlab(path)
    rows = np.array([7, 2, 2, 0])
    np.testing.assert_array_equal(data.images.read(rows, 8), images[rows])


def test_v5_combined_and_per_variable_files(tmp_path):
    images, texts, labels = small_dataset_arrays(h=8, w=8)
    combined = str(tmp_path / "combined.mat")
    scipy.io.savemat(combined, {"IAll": matlab_images(images), "YAll": texts, "LAll": labels})
    data = read_matlab(combined)
    np.testing.assert_array_equal(data.images.read(np.arange(12), 8), images)
    np.testing.assert_array_equal(data.texts, texts)
    folder = tmp_path / "split_vars"
    folder.mkdir()
    scipy.io.savemat(str(folder / "IAll.mat"), {"IAll": matlab_images(images)})
    write_matlab_v73(str(folder / "YAll.mat"), {"YAll": texts})  # mixed versions
    scipy.io.savemat(str(folder / "LAll.mat"), {"LAll": labels.T})  # other orientation
    data = detect_and_read(str(folder), name="x")
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_array_equal(data.texts, texts)
    np.testing.assert_array_equal(data.images.read(np.array([3]), 8), images[[3]])


def write_text_lists(folder, texts, labels, vocab, images=None):
    folder.mkdir(exist_ok=True)
    (folder / "TagList.txt").write_text("\n".join(vocab) + "\n")
    (folder / "all_tags.txt").write_text(
        "\n".join(",".join(vocab[j] for j in np.flatnonzero(row)) for row in texts) + "\n"
    )
    (folder / "all_labels.txt").write_text(
        "\n".join(" ".join(str(int(v)) for v in row) for row in labels) + "\n"
    )
    if images is not None:
        (folder / "imgs").mkdir(exist_ok=True)
        names = []
        for i, image in enumerate(images):
            name = f"imgs/im{i}.png" if i % 2 else f"imgs/im{i}.jpg"
            data = tf.io.encode_png(image) if i % 2 else tf.io.encode_jpeg(image, quality=100)
            tf.io.write_file(str(folder / name), data)
            names.append(name)
        (folder / "all_imgs.txt").write_text("\n".join(names) + "\n")


def test_text_lists_with_images(tmp_path):
    images, texts, labels = small_dataset_arrays(h=16, w=16)
    vocab = [f"tag{i}" for i in range(texts.shape[1])]
    write_text_lists(tmp_path / "lists", texts, labels, vocab, images)
    data = read_text_lists(str(tmp_path / "lists"), image_root=str(tmp_path / "lists"))
    np.testing.assert_array_equal(data.texts, texts)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.tag_names == tuple(vocab)
    np.testing.assert_array_equal(data.images.read(np.array([1, 3]), 16), images[[1, 3]])  # PNG
    assert data.images.read(np.array([0]), 224).shape == (1, 224, 224, 3)  # resized


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


def test_real_mirflickr_text_lists(shared_data_dir):
    data = read_text_lists(str(shared_data_dir / "mirflickr25k"), name="mirflickr25k")
    assert data.labels.shape == (20015, 24) and data.texts.shape == (20015, 1386)
    assert data.images is None and data.modalities == ("text",)
    assert data.labels.sum(1).min() >= 1 and data.texts.sum(1).min() >= 1
    split = resolve_split(data, DataConfig(dataset="mirflickr25k"))
    assert (len(split.query), len(split.train), len(split.database)) == (2000, 10000, 18015)
    assert set(split.train) <= set(split.database)
    assert not set(split.query) & set(split.database)


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
def expect_error(fn, *fragments):
    with pytest.raises(UserError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


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


def _picture(path, colour):
    tf.io.write_file(str(path), tf.io.encode_png(np.full((6, 5, 3), colour, np.uint8)))


def test_manifest_csv_and_jsonl_read_the_same_collection(tmp_path):
    from ssah_tf.data.readers import read_manifest

    (tmp_path / "p").mkdir()
    for name, colour in (("a", 10), ("b", 20), ("c", 30)):
        _picture(tmp_path / "p" / f"{name}.png", colour)
    (tmp_path / "m.csv").write_text(
        "image,words,labels\np/a.png,cat;face,animal\np/b.png,dog,animal;pet\np/c.png,,plant\n"
    )
    rows = [
        {"image": "p/a.png", "words": ["cat", "face"], "labels": ["animal"]},
        {"image": "p/b.png", "words": "dog", "labels": "animal;pet"},
        {"image": "p/c.png", "words": [], "labels": ["plant"]},
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for name in ("m.csv", "m.jsonl"):
        data = read_manifest(str(tmp_path / name))
        assert data.tag_names == ("cat", "dog", "face")  # every word used, sorted
        assert data.label_names == ("animal", "pet", "plant")
        np.testing.assert_array_equal(data.texts, [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
        np.testing.assert_array_equal(data.labels, [[1, 0, 0], [1, 1, 0], [0, 0, 1]])
        assert data.item_ids == ("p/a.png", "p/b.png", "p/c.png")
        assert data.images.read(np.array([2]), 6)[0, 0, 0, 0] == 30


def test_manifest_errors_name_the_line(tmp_path):
    from ssah_tf.data.readers import read_manifest

    (tmp_path / "m.csv").write_text("image,words,labels\na.png,cat,\n")
    with pytest.raises(UserError, match="no item has a label"):
        read_manifest(str(tmp_path / "m.csv"))
    (tmp_path / "v.txt").write_text("cat\n")
    (tmp_path / "m2.csv").write_text("image,words,labels\n,cat,x\n,zebra,x\n")
    with pytest.raises(UserError, match=r"m2\.csv line 3: word 'zebra'"):
        read_manifest(str(tmp_path / "m2.csv"), vocab_file=str(tmp_path / "v.txt"))


def test_missing_listed_pictures_are_not_silently_text_only(tmp_path):
    images, texts, labels = small_dataset_arrays(h=8, w=8)
    write_text_lists(tmp_path / "lists", texts, labels, [f"t{i}" for i in range(7)], images)
    (tmp_path / "lists" / "imgs" / "im0.jpg").unlink()
    data = read_text_lists(str(tmp_path / "lists"))
    assert data.images is None and "im0.jpg" in data.image_note


def test_strict_inputs_name_the_file_line_and_column(tmp_path):
    images, texts, labels = small_dataset_arrays(h=8, w=8)
    vocab = [f"t{i}" for i in range(7)]
    write_text_lists(tmp_path / "lists", texts, labels, vocab)
    folder = str(tmp_path / "lists")
    tags = tmp_path / "lists" / "all_tags.txt"
    good = tags.read_bytes()
    tags.write_bytes(good.replace(b"t1", b"t\xe91", 1))
    line = good[: good.index(b"t1")].count(b"\n") + 1
    expect_error(lambda: read_text_lists(folder), f"all_tags.txt line {line}", "0xe9")
    tags.write_bytes(good)
    rows = (tmp_path / "lists" / "all_labels.txt").read_text().split("\n")
    rows[2] = rows[2].replace("1", "yes", 1)
    (tmp_path / "lists" / "all_labels.txt").write_text("\n".join(rows))
    expect_error(lambda: read_text_lists(folder), "all_labels.txt line 3 column", "'yes'")


def test_npz_label_names_complex_arrays_and_unlabelled_data_are_refused(tmp_path):
    _, texts, labels = small_dataset_arrays(c=5)
    path = str(tmp_path / "d.npz")
    np.savez(path, texts=texts, labels=labels, label_names=np.array(["a", "b"]))
    expect_error(lambda: read_feature_file(path), "2 label names for 5 label columns")
    np.savez(path, texts=texts.astype(np.complex64), labels=labels)
    expect_error(lambda: read_feature_file(path), "d.npz:texts holds complex numbers")
    np.savez(path, texts=texts, labels=np.zeros_like(labels))
    expect_error(lambda: read_feature_file(path), "no item has a label")


def test_picture_paths_stay_inside_the_image_folder(tmp_path):
    images, texts, labels = small_dataset_arrays(n=4, h=8, w=8)
    write_text_lists(tmp_path / "lists", texts, labels, [f"t{i}" for i in range(7)], images)
    tf.io.write_file(str(tmp_path / "outside.png"), tf.io.encode_png(images[0]))
    listed = (tmp_path / "lists" / "all_imgs.txt").read_text().split("\n")
    for escape in ("../outside.png", str(tmp_path / "outside.png")):
        listed[1] = escape
        (tmp_path / "lists" / "all_imgs.txt").write_text("\n".join(listed))
        expect_error(
            lambda: read_text_lists(str(tmp_path / "lists")),
            "all_imgs.txt line 2",
            "lies outside the image folder",
            "allow_images_outside_root",
        )
        data = read_text_lists(str(tmp_path / "lists"), allow_images_outside_root=True)
        assert data.images.path(1).endswith("outside.png")
