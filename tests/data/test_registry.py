"""From (dataset name, path) to a dataset and its split: the settings and their order."""

import numpy as np
import pytest

from ssah_tf.data.protocols import make_split, save_split
from ssah_tf.data.registry import DataConfig, load_dataset, resolve_split
from ssah_tf.errors import UserError


def test_data_config_checks_its_fields_when_built():
    with pytest.raises(UserError, match="`dataset='cifar'` is not valid"):
        DataConfig(dataset="cifar")
    with pytest.raises(UserError, match="`query_size=0` must be a positive integer"):
        DataConfig(query_size=0)
    with pytest.raises(UserError, match="`split_seed=-1`"):
        DataConfig(split_seed=-1)
    assert DataConfig().dataset == "demo"


def test_a_dataset_without_a_path_says_which_setting():
    with pytest.raises(UserError, match="`dataset=mirflickr25k` needs `data_path` or `data_dir`"):
        load_dataset(DataConfig(dataset="mirflickr25k"))


def test_split_precedence_file_then_own_indices_then_protocol(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]
    path = tmp_path / "d.npz"
    np.savez(
        path,
        image_features=rng.random((40, 4)),
        texts=rng.random((40, 3)),
        labels=labels,
        query_index=np.arange(5),
        train_index=np.arange(5, 25),
        database_index=np.arange(5, 40),
    )
    config = DataConfig(dataset="npz", data_path=str(path))
    data = load_dataset(config)
    own = resolve_split(data, config)  # the file's own indices
    np.testing.assert_array_equal(own.query, np.arange(5))
    protocol = resolve_split(
        data,
        DataConfig(dataset="npz", data_path=str(path), query_size=4, train_size=10, split_seed=3),
    )
    assert len(protocol.query) == 4 and len(protocol.train) == 10  # sizes given: a protocol
    expected = make_split(40, query_size=4, train_size=10, seed=3)
    np.testing.assert_array_equal(protocol.query, expected.query)
    saved = make_split(40, query_size=6, train_size=12, seed=9)
    save_split(saved, str(tmp_path / "split.npz"))
    from_file = resolve_split(
        data, DataConfig(dataset="npz", data_path=str(path), split_file=str(tmp_path / "split.npz"))
    )
    np.testing.assert_array_equal(from_file.train, saved.train)  # a split file wins
