"""The mfeat reader: two views of the UCI digits as a single-label cross-modal task."""

import numpy as np
import pytest

from ssah_tf.data.mfeat import read_mfeat
from ssah_tf.errors import UserError


def write_views(folder, rows=6, classes=(0, 0, 1, 1, 2, 2)):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for view, width in (("pix", 4), ("fou", 3), ("kar", 2)):
        table = np.column_stack([rng.random((rows, width)), classes])
        header = ",".join(str(i) for i in range(width + 1))
        np.savetxt(folder / f"mfeat-{view}.csv", table, delimiter=",", header=header, comments="")
    return folder


def test_views_as_they_are_and_one_hot_classes(tmp_path):
    folder = write_views(tmp_path / "mfeat")
    data = read_mfeat(str(folder))
    assert data.image_features.shape == (6, 4) and data.texts.shape == (6, 3)
    np.testing.assert_array_equal(data.labels.argmax(1), [0, 0, 1, 1, 2, 2])
    assert data.labels.sum() == 6 and data.label_names == ("0", "1", "2")
    raw = np.loadtxt(folder / "mfeat-fou.csv", delimiter=",", skiprows=1)[:, :-1]
    np.testing.assert_allclose(data.texts, raw, rtol=1e-6)  # unscaled: the trainer scales
    other = read_mfeat(str(folder), image_view="kar", text_view="pix")
    assert other.image_features.shape == (6, 2) and other.texts.shape == (6, 4)


def test_missing_folder_or_disagreeing_views(tmp_path):
    with pytest.raises(UserError, match="`data_path` must be the mfeat folder"):
        read_mfeat(str(tmp_path / "nowhere"))
    folder = write_views(tmp_path / "mfeat")
    table = np.loadtxt(folder / "mfeat-fou.csv", delimiter=",", skiprows=1)
    table[0, -1] = 2
    np.savetxt(folder / "mfeat-fou.csv", table, delimiter=",", header="0,1,2,3", comments="")
    with pytest.raises(UserError, match="disagree on rows or classes"):
        read_mfeat(str(folder))


def test_real_mfeat(shared_data_dir):
    data = read_mfeat(str(shared_data_dir / "mfeat"))
    assert data.num_items == 2000 and data.num_labels == 10
    assert data.image_features.shape[1] == 240 and data.texts.shape[1] == 76
    assert (data.labels.sum(0) == 200).all()
