"""Files that are not what their names say get one clear line, never pickle advice."""

import numpy as np
import pytest

from ssah_tf.data.files import load_json, load_npy, load_npz
from ssah_tf.errors import UserError


def test_random_bytes_and_text_are_not_npz_or_npy(tmp_path):
    (tmp_path / "x.npz").write_bytes(np.random.default_rng(0).bytes(300))
    (tmp_path / "x.npy").write_text("1 2 3\n")
    with pytest.raises(UserError, match="is not a valid .npz file") as npz:
        load_npz(str(tmp_path / "x.npz"))
    with pytest.raises(UserError, match="is not a valid .npy file") as npy:
        load_npy(str(tmp_path / "x.npy"))
    assert "pickle" not in str(npz.value) + str(npy.value)


def test_object_arrays_are_refused_by_name(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "o.npz", ok=np.zeros(2), bad=np.array([[1], "x"], dtype=object))
    with pytest.raises(UserError, match="holds Python objects"):
        load_npy(str(tmp_path / "o.npy"))
    with pytest.raises(UserError, match=r"o.npz:bad holds Python objects"):
        load_npz(str(tmp_path / "o.npz"))


def test_plain_files_load(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    np.savez(tmp_path / "a.npz", x=np.ones(2))
    np.testing.assert_array_equal(load_npy(str(tmp_path / "a.npy")), [0, 1, 2])
    assert list(load_npz(str(tmp_path / "a.npz"))) == ["x"]


def test_damaged_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"ssah": ')
    with pytest.raises(UserError, match=r"config.json is damaged \(not valid JSON"):
        load_json(str(path))
