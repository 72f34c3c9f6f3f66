import numpy as np
import pytest

from ssah_tf.data.protocols import load_split, make_split, save_split
from ssah_tf.errors import UserError


def test_split_is_seeded_disjoint_and_train_inside_database():
    a = make_split(100, query_size=10, train_size=30, seed=3)
    b = make_split(100, query_size=10, train_size=30, seed=3)
    c = make_split(100, query_size=10, train_size=30, seed=4)
    np.testing.assert_array_equal(a.query, b.query)
    assert not np.array_equal(a.query, c.query)
    assert len(a.database) == 90 and not set(a.query) & set(a.database)
    np.testing.assert_array_equal(a.train, a.database[:30])
    assert sorted(np.concatenate([a.query, a.database])) == list(range(100))


def test_split_round_trip(tmp_path):
    split = make_split(50, query_size=5, train_size=20, database_size=40, seed=1)
    path = str(tmp_path / "run" / "split.npz")
    save_split(split, path)
    loaded = load_split(path, 50)
    for name in ("query", "train", "database"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(split, name))
    assert loaded.seed == 1
    with pytest.raises(UserError, match="outside"):
        load_split(path, 30)
    with pytest.raises(UserError, match="does not exist"):
        load_split(str(tmp_path / "missing.npz"), 50)
