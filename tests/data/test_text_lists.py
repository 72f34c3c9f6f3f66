"""Text lists and manifests: strict reading, pictures inside their folder."""

import json

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.data.registry import DataConfig, resolve_split
from ssah_tf.data.text_lists import read_manifest, read_text_lists
from ssah_tf.errors import UserError
from tests.helpers import expect_error, small_dataset_arrays


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


def test_real_mirflickr_text_lists(shared_data_dir):
    data = read_text_lists(str(shared_data_dir / "mirflickr25k"), name="mirflickr25k")
    assert data.labels.shape == (20015, 24) and data.texts.shape == (20015, 1386)
    assert data.images is None and data.modalities == ("text",)
    assert data.labels.sum(1).min() >= 1 and data.texts.sum(1).min() >= 1
    split = resolve_split(data, DataConfig(dataset="mirflickr25k"))
    assert (len(split.query), len(split.train), len(split.database)) == (2000, 10000, 18015)
    assert set(split.train) <= set(split.database)
    assert not set(split.query) & set(split.database)


def _picture(path, colour):
    tf.io.write_file(str(path), tf.io.encode_png(np.full((6, 5, 3), colour, np.uint8)))


def test_manifest_csv_and_jsonl_read_the_same_collection(tmp_path):

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
