"""DCMH/SSAH MATLAB files: one combined file or one file per variable, v7.3 (HDF5,
via h5py) or v5 (scipy.io); every array turned to items-first as the release stored it."""

from __future__ import annotations

import glob
import os

import h5py
import numpy as np
import scipy.io

from ssah_tf.data.dataset import ArrayImages, CrossModalDataset, validate
from ssah_tf.data.files import require_exists
from ssah_tf.errors import UserError

IMAGE_KEYS = ("images", "IAll", "I_all")
TEXT_KEYS = ("YAll", "texts", "tags", "Y_all", "T_all")
LABEL_KEYS = ("LAll", "labels", "L_all")
FEATURE_KEYS = ("image_features", "XAll", "X_all")


class MatFile:
    """Variables of one .mat file in MATLAB orientation; images stay lazy for v7.3."""

    def __init__(self, path: str):
        self.path = path
        self.hdf5 = h5py.is_hdf5(path)
        if self.hdf5:
            self._h5 = h5py.File(path, "r")
            self.names = [k for k in self._h5.keys() if not k.startswith("#")]
        else:
            try:
                self._vars = scipy.io.loadmat(path)
            except Exception as error:  # scipy raises several types for non-MAT files
                raise UserError(
                    f"{path} is not a MATLAB file ({type(error).__name__}: {error})"
                ) from None
            self.names = [k for k in self._vars if not k.startswith("__")]

    def array(self, name: str) -> np.ndarray:
        """A variable as a NumPy array in MATLAB orientation (h5py dims reversed)."""
        if self.hdf5:
            data = self._h5[name]
            if not isinstance(data, h5py.Dataset):
                raise UserError(f"{self.path}: variable {name!r} is not a numeric array")
            return np.asarray(data).transpose()
        return np.asarray(self._vars[name])

    def lazy_images(self, name: str) -> ArrayImages:
        if self.hdf5:
            data = self._h5[name]
            if data.ndim != 4 or data.shape[1] != 3:
                raise UserError(
                    f"{self.path}: {name} has shape {data.shape}; expected MATLAB "
                    "224x224x3xN (N x 3 x 224 x 224 in HDF5)"
                )
            return ArrayImages(data, matlab_h5=True, name=f"{os.path.basename(self.path)}:{name}")
        return ArrayImages(
            matlab_images_to_nhwc(self.array(name), f"{self.path}:{name}"),
            name=f"{os.path.basename(self.path)}:{name}",
        )


def matlab_images_to_nhwc(array: np.ndarray, where: str) -> np.ndarray:
    """MATLAB H x W x 3 x N (or N x H x W x 3) -> N x H x W x 3 uint8."""
    if array.ndim != 4:
        raise UserError(f"{where}: images must be 4-D, got shape {array.shape}")
    if array.shape[2] == 3 and array.shape[3] != 3:
        array = np.transpose(array, (3, 0, 1, 2))
    elif array.shape[3] != 3:
        raise UserError(f"{where}: images have shape {array.shape}; no colour axis of size 3")
    if array.dtype != np.uint8:
        if array.min() < 0 or array.max() > 255:
            raise UserError(f"{where}: images must be uint8 RGB in [0, 255]")
        array = array.astype(np.uint8)
    return array


def _orient(array: np.ndarray, n: int | None, where: str) -> np.ndarray:
    """Make a 2-D variable [N, dims] (MATLAB files store either orientation)."""
    if array.ndim != 2:
        raise UserError(f"{where}: expected a 2-D array, got shape {array.shape}")
    if n is not None and array.shape[0] != n and array.shape[1] == n:
        return array.T
    return array


def _find(files: list[MatFile], keys: tuple[str, ...]) -> tuple[MatFile, str] | None:
    for f in files:
        for key in keys:
            if key in f.names:
                return f, key
    return None


def read_matlab(path: str, name: str = "mat") -> CrossModalDataset:
    """A combined DCMH .mat file, or a folder / comma list of one-variable .mat files."""
    if os.path.isdir(path):
        paths = sorted(glob.glob(os.path.join(path, "*.mat")))
        if not paths:
            raise UserError(f"folder {path} has no .mat files")
    else:
        paths = path.split(",")
        for p in paths:
            require_exists(p, "MATLAB file")
    files = [MatFile(p) for p in paths]
    available = sorted({n for f in files for n in f.names})
    labels_at = _find(files, LABEL_KEYS)
    if labels_at is None:
        raise UserError(
            f"{path}: no label variable ({'/'.join(LABEL_KEYS)}); "
            f"variables found: {', '.join(available)}"
        )
    images_at, texts_at, feats_at = (
        _find(files, IMAGE_KEYS),
        _find(files, TEXT_KEYS),
        _find(files, FEATURE_KEYS),
    )
    if images_at is None and texts_at is None and feats_at is None:
        raise UserError(
            f"{path}: no image ({'/'.join(IMAGE_KEYS)}) or text "
            f"({'/'.join(TEXT_KEYS)}) variable; variables found: {', '.join(available)}"
        )
    images = images_at[0].lazy_images(images_at[1]) if images_at else None
    n = images.num_items if images else None
    raw_labels = labels_at[0].array(labels_at[1])
    texts = None
    if texts_at:
        raw_texts = texts_at[0].array(texts_at[1])
        if n is None and raw_texts.ndim == 2 and raw_labels.ndim == 2:
            # Choose the orientation in which texts and labels agree on N.
            for candidate in (raw_labels.shape[0], raw_labels.shape[1]):
                if candidate in raw_texts.shape:
                    n = candidate
                    break
        texts = _orient(raw_texts, n, f"{texts_at[0].path}:{texts_at[1]}").astype(np.float32)
        n = texts.shape[0]
    features = None
    if feats_at:
        features = _orient(
            feats_at[0].array(feats_at[1]), n, f"{feats_at[0].path}:{feats_at[1]}"
        ).astype(np.float32)
        n = n or features.shape[0]
    labels = _orient(raw_labels, n, f"{labels_at[0].path}:{labels_at[1]}").astype(np.float32)
    return validate(
        CrossModalDataset(
            name=name,
            labels=labels,
            texts=texts,
            images=images,
            image_features=features,
            source=path,
        ),
        path,
    )
