import hashlib

import numpy as np

from ssah_tf.data.protocols import make_split, with_validation
from ssah_tf.evaluation.protocol import protocol_record, split_sha256


def test_split_hash_is_of_the_index_arrays():
    split = with_validation(make_split(60, query_size=6, train_size=20, seed=1), 5, seed=0)
    expected = hashlib.sha256()
    for name, index in (
        ("query_index", split.query),
        ("train_index", split.train),
        ("database_index", split.database),
        ("validation_index", split.validation),
    ):
        expected.update(name.encode() + np.asarray(index, "<i8").tobytes())
    assert split_sha256(split) == expected.hexdigest()
    # Any change of any array changes it; the same indices give the same hash.
    assert split_sha256(with_validation(split, 0, seed=0)) != split_sha256(split)
    other = make_split(60, query_size=6, train_size=20, seed=2)
    assert split_sha256(other) != split_sha256(with_validation(split, 0, seed=0))
    again = with_validation(make_split(60, query_size=6, train_size=20, seed=1), 5, seed=0)
    assert split_sha256(again) == split_sha256(split)


def test_protocol_record_fields():
    split = with_validation(make_split(60, query_size=6, train_size=20, seed=1), 5, seed=0)
    record = protocol_record(
        map_variant=None, top_k=50, selected_on="validation", split=split, bits=16, seed=3
    )
    assert record["map_variant"] == "top_k" and record["top_k"] == 50
    assert (record["queries"], record["train"], record["database"], record["validation"]) == (
        6,
        20,
        54,
        5,
    )
    assert record["selected_on"] == "validation" and record["bits"] == 16 and record["seed"] == 3
    assert "index" in record["ties"] and "0" in record["empty_queries"] and record["version"]
    codes = protocol_record(
        map_variant="all",
        top_k=None,
        selected_on=None,
        split=None,
        counts={"queries": 3, "database": 9},
        bits=8,
        seed=None,
    )
    assert codes["split_sha256"] is None and codes["queries"] == 3 and "train" not in codes
