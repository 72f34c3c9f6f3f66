"""Release-layout code files: round trip, directions, curves."""

import os

import numpy as np
import pytest

from ssah_tf.errors import UserError
from ssah_tf.evaluation.codes import (
    CODE_DIRECTIONS,
    evaluate_codes,
    read_code_file,
    write_code_file,
    write_curves,
)


def test_directions_name_the_release_keys():
    assert CODE_DIRECTIONS["i2t"] == ("Qi", "Dt") and CODE_DIRECTIONS["l2i"] == ("Ql", "Di")


def test_round_trip_and_a_perfect_ranking(tmp_path):
    labels = np.eye(2)[[0, 1, 0, 1]]
    codes = np.where(labels[:, :1] > 0, 1, -1) * np.ones((4, 8), int)  # one code per class
    write_code_file(
        str(tmp_path / "c.mat"),
        {"Qi": codes, "Dt": codes, "query_L": labels, "retrieval_L": labels},
    )
    loaded = read_code_file(str(tmp_path / "c.mat"))
    np.testing.assert_array_equal(loaded["Qi"], codes)
    results, curves = evaluate_codes(loaded, top_k=2)
    assert results["map_i2t"] == pytest.approx(1.0) and results["map_i2t@2"] == pytest.approx(1.0)
    assert set(results) >= {"precision_r2_i2t"} and "pr_i2t" in curves
    # All 4 queries find their 2 class-mates at distance 0: precision 1 over 4 queries,
    # the same figure precision_within_radius gives on its own.
    assert results["precision_r2_i2t"] == 1.0 and results["queries_r2_i2t"] == 4
    from ssah_tf.evaluation.curves import precision_within_radius

    kw = dict(query_codes=codes, database_codes=codes, query_labels=labels, database_labels=labels)
    assert precision_within_radius(**kw) == results["precision_r2_i2t"]
    written = write_curves(str(tmp_path), curves)
    assert all(os.path.exists(p) for p in written) and any(p.endswith(".csv") for p in written)


def test_codes_must_be_plus_minus_one(tmp_path):
    import scipy.io

    scipy.io.savemat(
        tmp_path / "bad.mat",
        {
            "Qi": np.zeros((2, 4)),
            "Dt": np.ones((2, 4)),
            "query_L": np.eye(2),
            "retrieval_L": np.eye(2),
        },
    )
    with pytest.raises(UserError, match=r"Qi must hold codes in \{-1, \+1\}"):
        read_code_file(str(tmp_path / "bad.mat"))
