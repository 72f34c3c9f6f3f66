"""Shared flags' helpers: output files checked against folders and inputs."""

import pytest

from ssah_tf.cli.common import check_output_file, print_results
from ssah_tf.errors import UserError


def test_an_output_file_is_neither_a_folder_nor_an_input(tmp_path):
    with pytest.raises(UserError, match="is an existing directory; give a file name"):
        check_output_file(str(tmp_path))
    data = tmp_path / "db.npz"
    data.write_bytes(b"x")
    with pytest.raises(UserError, match="is the same path as --database="):
        check_output_file(str(data), inputs={"--database": str(data), "--queries": None})
    check_output_file(str(tmp_path / "hits.json"), inputs={"--database": str(data)})


def test_results_print_with_the_label_prior_beside_them(capsys):
    print_results("baseline (16 bits)", {"map_i2t": 0.5, "label_prior_map": 0.25}, "r.json")
    out = capsys.readouterr().out
    assert "map_i2t  0.5000" in out and "label-prior baseline (random ranking) 0.2500" in out
