"""A TFDS builder prepared from a small manual_dir in the text-list layout."""

import numpy as np
import tensorflow_datasets as tfds

from ssah_tf.data import protocols
from ssah_tf.data.tfds_builders import SsahMirflickr25k
from tests.data.test_readers import write_text_lists
from tests.helpers import small_dataset_arrays


class TinyFlickr(SsahMirflickr25k):
    """MIRFLICKR's builder with tiny dims (registered under its own name)."""

    PROTOCOL = "tiny_flickr"
    TEXT_DIM = 7
    NUM_LABELS = 4


def test_builder_writes_protocol_splits(tmp_path, monkeypatch):
    monkeypatch.setitem(protocols.PROTOCOLS, "tiny_flickr", protocols.Protocol(query=3, train=5))
    images, texts, labels = small_dataset_arrays(n=12, h=20, w=30, d_t=7, c=4)
    write_text_lists(tmp_path / "manual", texts, labels, [f"t{i}" for i in range(7)], images)
    builder = TinyFlickr(data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(tmp_path / "manual")))
    split = protocols.make_split(12, query_size=3, train_size=5, seed=0)
    for name, expected in (("query", split.query), ("train", split.train),
                           ("database", split.database)):
        rows = list(tfds.as_numpy(builder.as_dataset(split=name)))
        assert sorted(r["index"] for r in rows) == sorted(expected.tolist())
        for r in rows:
            assert r["image"].shape == (224, 224, 3) and r["image"].dtype == np.uint8
            np.testing.assert_array_equal(r["text"], texts[r["index"]])
            np.testing.assert_array_equal(r["labels"], labels[r["index"]])
