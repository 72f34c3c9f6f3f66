"""Every SSAH dataset format, detected, not asked (docs/method.md §5).

* DCMH/SSAH MATLAB files (matlab.py).
* Text lists and manifests: all_imgs.txt, all_tags.txt, all_labels.txt with a tag
  vocabulary, or a .csv / .jsonl manifest (text_lists.py).
* Feature datasets: .npz (or .mat) with image_features / images, texts, labels
  and optional split indices (data/README.md documents the layout).
"""

from __future__ import annotations

import glob
import os
from typing import Any

import numpy as np

from ssah_tf.data.dataset import ArrayImages, CrossModalDataset, validate
from ssah_tf.data.files import load_npz, require_exists
from ssah_tf.data.matlab import MatFile, matlab_images_to_nhwc, read_matlab
from ssah_tf.data.text_lists import read_list_lines, read_manifest, read_text_lists
from ssah_tf.errors import UserError

SPLIT_KEYS = ("query_index", "train_index", "database_index")


# ----------------------------------------------------------------------------- npz / features
def read_feature_file(
    path: str, name: str = "npz", *, vocab_file: str | None = None
) -> CrossModalDataset:
    """A feature dataset in .npz (or .mat): see data/README.md for the keys (words of
    the text columns: the ``tag_names`` key, or ``vocab_file``)."""
    require_exists(path, "dataset file")
    arrays: dict[str, Any]
    if path.endswith(".mat"):
        mat = MatFile(path)
        arrays = {k: mat.array(k) for k in mat.names}
    else:
        arrays = load_npz(path, "dataset file")
    keys = ", ".join(sorted(arrays)) or "none"
    if "labels" not in arrays:
        raise UserError(f"{path}: missing key 'labels' (keys: {keys})")
    if not any(k in arrays for k in ("image_features", "images", "texts")):
        raise UserError(f"{path}: needs 'image_features', 'images' or 'texts' (keys: {keys})")
    for key in ("labels", "texts", "image_features"):
        if (
            key in arrays
            and not np.issubdtype(arrays[key].dtype, np.number)
            and arrays[key].dtype != np.bool_
        ):
            raise UserError(f"{path}: {key} has non-numeric dtype {arrays[key].dtype}")
    labels = np.asarray(arrays["labels"], np.float32)
    images = None
    if "images" in arrays:
        images = ArrayImages(
            matlab_images_to_nhwc(arrays["images"], f"{path}:images")
            if arrays["images"].ndim == 4
            else arrays["images"],
            name="images",
        )
        if arrays["images"].ndim != 4:
            raise UserError(f"{path}: images must be N x H x W x 3 uint8")
    split = None
    present = [k for k in SPLIT_KEYS if k in arrays]
    if present:
        if len(present) != 3:
            raise UserError(
                f"{path}: give all of {', '.join(SPLIT_KEYS)} or none (found {present})"
            )
        split = tuple(np.asarray(arrays[k]).ravel() for k in SPLIT_KEYS)
    label_names = tuple(str(s) for s in arrays["label_names"]) if "label_names" in arrays else None
    tag_names = tuple(str(s) for s in arrays["tag_names"]) if "tag_names" in arrays else None
    if vocab_file:
        tag_names = tuple(t.strip() for t in read_list_lines(vocab_file) if t.strip())
    return validate(
        CrossModalDataset(
            name=name,
            labels=labels,
            texts=np.asarray(arrays["texts"], np.float32) if "texts" in arrays else None,
            images=images,
            image_features=(
                np.asarray(arrays["image_features"], np.float32)
                if "image_features" in arrays
                else None
            ),
            label_names=label_names,
            tag_names=tag_names,
            predefined_split=split,
            source=path,
        ),
        path,
    )


def detect_and_read(
    path: str,
    *,
    name: str,
    image_root: str | None = None,
    vocab_file: str | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
    allow_images_outside_root: bool = False,
) -> CrossModalDataset:
    """Read ``path`` in whichever supported format it is."""
    require_exists(path, "data path")
    listed = dict(
        image_root=image_root,
        vocab_file=vocab_file,
        name=name,
        background=background,
        allow_images_outside_root=allow_images_outside_root,
    )
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "all_labels.txt")):
            return read_text_lists(path, **listed)
        if glob.glob(os.path.join(path, "*.mat")):
            return read_matlab(path, name=name)
        raise UserError(f"{path}: folder has neither all_labels.txt (text lists) nor .mat files")
    if path.lower().endswith((".csv", ".jsonl")):
        return read_manifest(path, **listed)
    if path.endswith(".npz"):
        return read_feature_file(path, name=name, vocab_file=vocab_file)
    if path.endswith(".mat") or "," in path:
        first = MatFile(path.split(",")[0])
        if "labels" in first.names and "LAll" not in first.names:
            return read_feature_file(path, name=name, vocab_file=vocab_file)
        return read_matlab(path, name=name)
    raise UserError(
        f"{path}: unknown format; expected a folder (text lists or .mat files), a .csv or "
        ".jsonl manifest, or a .npz/.mat file"
    )
