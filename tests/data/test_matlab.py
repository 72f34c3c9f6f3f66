"""MATLAB files: v7.3 and v5, combined or per variable, oriented items-first."""

import numpy as np
import scipy.io

from ssah_tf.data.matlab import read_matlab
from ssah_tf.data.readers import detect_and_read
from tests.helpers import small_dataset_arrays, write_matlab_v73


def matlab_images(images_nhwc):
    """N x H x W x 3 -> MATLAB's H x W x 3 x N."""
    return np.transpose(images_nhwc, (1, 2, 3, 0))


def test_v73_combined_file_as_matlab_writes_it(tmp_path):
    images, texts, labels = small_dataset_arrays()
    path = str(tmp_path / "FLICKR-25K.mat")
    write_matlab_v73(path, {"images": matlab_images(images), "YAll": texts, "LAll": labels})
    with open(path, "rb") as f:
        assert f.read(10) == b"MATLAB 7.3"
    import h5py

    with h5py.File(path, "r") as f:  # the layout docs/method.md §5 describes
        assert f["images"].shape == (12, 3, 6, 8) and f["YAll"].shape == (7, 12)
    data = detect_and_read(path, name="mirflickr25k")
    np.testing.assert_array_equal(data.texts, texts)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.images.read(np.array([5, 0, 11, 5]), 8).shape == (4, 8, 8, 3)  # 8x6 resized


def test_v73_images_round_trip_exactly(tmp_path):
    images, texts, labels = small_dataset_arrays(h=8, w=8)
    path = str(tmp_path / "combined.mat")
    write_matlab_v73(path, {"IAll": matlab_images(images), "YAll": texts, "LAll": labels})
    data = read_matlab(path)
    rows = np.array([7, 2, 2, 0])
    np.testing.assert_array_equal(data.images.read(rows, 8), images[rows])


def test_v5_combined_and_per_variable_files(tmp_path):
    images, texts, labels = small_dataset_arrays(h=8, w=8)
    combined = str(tmp_path / "combined.mat")
    scipy.io.savemat(combined, {"IAll": matlab_images(images), "YAll": texts, "LAll": labels})
    data = read_matlab(combined)
    np.testing.assert_array_equal(data.images.read(np.arange(12), 8), images)
    np.testing.assert_array_equal(data.texts, texts)
    folder = tmp_path / "split_vars"
    folder.mkdir()
    scipy.io.savemat(str(folder / "IAll.mat"), {"IAll": matlab_images(images)})
    write_matlab_v73(str(folder / "YAll.mat"), {"YAll": texts})  # mixed versions
    scipy.io.savemat(str(folder / "LAll.mat"), {"LAll": labels.T})  # other orientation
    data = detect_and_read(str(folder), name="x")
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_array_equal(data.texts, texts)
    np.testing.assert_array_equal(data.images.read(np.array([3]), 8), images[[3]])
