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


def test_validation_from_the_database_outside_training_keeps_the_test_protocol():
    from ssah_tf.data.protocols import with_validation

    split = make_split(100, query_size=10, train_size=30, seed=3)  # 60 outside training
    held = with_validation(split, 8, seed=5)
    outside = set(split.database) - set(split.train)
    assert len(held.validation) == 8 and set(held.validation) <= outside
    assert held.validation_from == "database"
    for name in ("query", "train", "database"):  # the test protocol is unchanged
        np.testing.assert_array_equal(getattr(held, name), getattr(split, name))
    assert set(held.validation_database) == set(split.database) - set(held.validation)
    again = with_validation(split, 8, seed=5)
    np.testing.assert_array_equal(again.validation, held.validation)  # seeded
    assert not np.array_equal(with_validation(split, 8, seed=6).validation, held.validation)
    with pytest.raises(UserError, match="exceeds the 60 database items"):
        with_validation(split, 61, seed=0)


def test_validation_held_out_of_training_when_the_database_is_the_training_set():
    from ssah_tf.data.protocols import checked_split, with_validation

    split = checked_split(
        np.arange(10), np.arange(10, 50), np.arange(10, 50), num_items=50, where="t"
    )
    held = with_validation(split, 4, seed=1)
    assert held.validation_from == "train" and len(held.validation) == 4
    assert set(held.validation) <= set(range(10, 50))
    assert not set(held.validation) & set(held.train)  # never trained on
    assert len(held.train) == 36 and set(held.train) | set(held.validation) == set(split.train)
    np.testing.assert_array_equal(held.database, split.database)  # still searched at test
    np.testing.assert_array_equal(held.query, split.query)
    with pytest.raises(UserError, match="leaves none to train on"):
        with_validation(split, 40, seed=0)


def test_automatic_validation_size():
    from ssah_tf.data.protocols import automatic_validation_size, checked_split

    # mfeat's protocol: 200 queries, 1,000 training items, 800 other database items.
    assert automatic_validation_size(make_split(2000, query_size=200, train_size=1000)) == 200
    # Fewer outside items than queries, but at least min(queries, train // 10) of them.
    assert automatic_validation_size(make_split(300, query_size=100, train_size=150)) == 50
    # A database that is its training set: train // 10 held out, at most the query count.
    same = checked_split(
        np.arange(400), np.arange(400, 2000), np.arange(400, 2000), num_items=2000, where="t"
    )
    assert automatic_validation_size(same) == 160
    few = checked_split(
        np.arange(5), np.arange(5, 205), np.arange(5, 205), num_items=205, where="t"
    )
    assert automatic_validation_size(few) == 5
    # Only 3 items outside training but min(20, 100 // 10) = 10 wanted: hold out training items.
    mixed = checked_split(
        np.arange(20), np.arange(20, 120), np.arange(20, 123), num_items=123, where="t"
    )
    assert automatic_validation_size(mixed) == 10


def test_split_with_validation_round_trip_and_checks(tmp_path):
    from ssah_tf.data.protocols import checked_split, legacy_validation, with_validation

    split = with_validation(make_split(50, query_size=5, train_size=20, seed=1), 6, seed=2)
    path = str(tmp_path / "split.npz")
    save_split(split, path)
    loaded = load_split(path, 50)
    np.testing.assert_array_equal(loaded.validation, split.validation)
    assert loaded.validation_from == "database"
    with pytest.raises(UserError, match="validation_index must hold database items"):
        checked_split(
            split.query,
            split.train,
            split.database,
            num_items=50,
            where="t",
            validation=split.train[:2],
        )
    with pytest.raises(UserError, match="validation_index must hold database items"):
        checked_split(
            split.query,
            split.train,
            split.database,
            num_items=50,
            where="t",
            validation=split.query[:1],
        )
    # Runs recorded before split.npz kept validation queries: the last N outside training.
    plain = make_split(50, query_size=5, train_size=20, seed=1)
    legacy = legacy_validation(plain, 4)
    outside = [i for i in plain.database if i not in set(plain.train)]
    np.testing.assert_array_equal(legacy.validation, outside[-4:])
    assert legacy_validation(plain, 0).validation is None


def test_resolve_validation_automatic_takes_training_items_when_too_few_are_outside():
    from ssah_tf.data.protocols import checked_split, resolve_validation

    mixed = checked_split(
        np.arange(20), np.arange(20, 120), np.arange(20, 123), num_items=123, where="t"
    )
    held = resolve_validation(mixed, None, seed=0)
    assert held.validation_from == "train" and len(held.validation) == 10
    assert set(held.validation) <= set(range(20, 120)) and len(held.train) == 90
    assert resolve_validation(mixed, None, seed=0, automatic=False).validation is None
    with pytest.raises(UserError, match="exceeds the 3 database items"):
        resolve_validation(mixed, 10, seed=0)  # asked for explicitly: say so, do not guess
    again = resolve_validation(held, None, seed=9)  # a split file's own validation stands
    np.testing.assert_array_equal(again.validation, held.validation)
    with pytest.raises(UserError, match="disagrees"):
        resolve_validation(held, 11, seed=0)


def test_size_errors_name_the_data_sets_item_count():
    with pytest.raises(UserError, match="the data set has 1 item; a split needs at least 2"):
        make_split(1, query_size=1, train_size=0)
    with pytest.raises(UserError, match=r"\(0\) must be positive \(the data set has 50 items\)"):
        make_split(50, query_size=5, train_size=0)
    split = make_split(2, query_size=1, train_size=1)
    assert len(split.query) == 1 and len(split.train) == 1
