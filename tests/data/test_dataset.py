"""The in-memory dataset: its checks and random access to images."""

import numpy as np
import pytest

from ssah_tf.data.dataset import ArrayImages, CrossModalDataset, resize_uint8, validate
from ssah_tf.errors import UserError


def dataset(**changes):
    values = dict(
        name="t",
        labels=np.eye(2, dtype=np.float32)[[0, 1, 0, 1]],
        texts=np.ones((4, 3), np.float32),
    )
    values.update(changes)
    return CrossModalDataset(**values)


@pytest.mark.parametrize(
    "changes,fragment",
    [
        ({"labels": np.zeros((4, 0), np.float32)}, "labels are empty"),
        ({"labels": np.full((4, 2), 2.0, np.float32)}, "0/1 multi-hot"),
        ({"texts": np.ones((3, 3), np.float32)}, "item counts disagree"),
        ({"texts": np.full((4, 3), np.nan, np.float32)}, "NaN or inf"),
        ({"texts": np.ones((4, 0), np.float32)}, "0 columns"),
        ({"texts": None}, "no image, image feature or text data"),
    ],
)
def test_validate_names_the_problem(changes, fragment):
    with pytest.raises(UserError, match=fragment):
        validate(dataset(**changes), "where")


def test_summary_and_modalities():
    data = validate(dataset(image_features=np.ones((4, 5), np.float32)), "where")
    assert data.modalities == ("image", "text") and data.num_items == 4
    assert "labels per item 1.00" in data.summary() and "image features dim 5" in data.summary()


def test_array_images_read_in_any_order_and_resize():
    pixels = np.random.default_rng(0).integers(0, 255, (5, 6, 6, 3), dtype=np.uint8)
    images = ArrayImages(pixels)
    np.testing.assert_array_equal(images.read(np.array([3, 1]), 6), pixels[[3, 1]])
    resized = images.read(np.array([0]), 12)
    assert resized.shape == (1, 12, 12, 3) and resized.dtype == np.uint8
    np.testing.assert_array_equal(resize_uint8(pixels, 6), pixels)  # same size: unchanged
