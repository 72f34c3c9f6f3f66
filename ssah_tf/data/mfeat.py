"""UCI multiple-features digits: two feature views as a single-label cross-modal task."""

from __future__ import annotations

import os

import numpy as np

from ssah_tf.data.dataset import CrossModalDataset, validate
from ssah_tf.data.text_files import number_rows, read_text_lines
from ssah_tf.errors import UserError


def _read_view(folder: str, view: str) -> np.ndarray:
    path = os.path.join(folder, f"mfeat-{view}.csv")
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist; `data_path` must be the mfeat folder")
    return number_rows(read_text_lines(path)[1:], path, delimiter=",", first_line=2)


def read_mfeat(
    folder: str, *, image_view: str = "pix", text_view: str = "fou"
) -> CrossModalDataset:
    """Pixels as 'image features', Fourier coefficients as 'text', both as the files
    hold them: the trainer standardises dense inputs with training-item statistics.

    Each CSV's last column is the digit class (rows ordered by class, 200 each).
    """
    image = _read_view(folder, image_view)
    text = _read_view(folder, text_view)
    if image.shape[0] != text.shape[0] or not np.array_equal(image[:, -1], text[:, -1]):
        raise UserError(f"{folder}: views {image_view} and {text_view} disagree on rows or classes")
    classes = image[:, -1].astype(np.int64)
    labels = np.eye(int(classes.max()) + 1, dtype=np.float32)[classes]
    image, text = image[:, :-1], text[:, :-1]
    return validate(
        CrossModalDataset(
            name="mfeat",
            labels=labels,
            texts=np.ascontiguousarray(text, np.float32),
            image_features=np.ascontiguousarray(image, np.float32),
            label_names=tuple(str(i) for i in range(labels.shape[1])),
            source=folder,
        ),
        folder,
    )
