"""Raw inputs for encoding: arrays from .npy / .npz / text, checked shapes and values."""

import numpy as np
import pytest

from ssah_tf.encoding import attached_labels, load_array
from ssah_tf.errors import UserError


def test_arrays_from_every_format(tmp_path):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "a.npz", texts=x)
    (tmp_path / "a.txt").write_text("0 1 2\n3 4 5\n\n")
    for name in ("a.npy", "a.npz", "a.txt"):
        np.testing.assert_array_equal(load_array(str(tmp_path / name), "texts"), x)
    with pytest.raises(UserError, match="has no 'labels'"):
        load_array(str(tmp_path / "a.npz"), "labels")
    (tmp_path / "b.txt").write_text("0 x\n")
    with pytest.raises(UserError, match=r"b\.txt line 1 column 3: .x. is not a number"):
        load_array(str(tmp_path / "b.txt"), "texts")
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(UserError, match="expected numbers"):
        load_array(str(tmp_path / "s.npy"), "texts")


def test_attached_labels_follow_the_encoded_rows(tmp_path):
    labels = np.eye(3, dtype=np.float32)
    np.save(tmp_path / "l.npy", labels)
    np.testing.assert_array_equal(
        attached_labels(str(tmp_path / "l.npy"), 3, np.array([2, 0])), labels[[2, 0]]
    )
    with pytest.raises(UserError, match="expected 4 label rows"):
        attached_labels(str(tmp_path / "l.npy"), 4, np.array([0]))
