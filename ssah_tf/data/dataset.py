"""The in-memory description of a cross-modal dataset, and lazy image sources.

Texts and labels live in memory (NUS-WIDE: 195,834 x 1,000 floats); images
never do unless the dataset is small: they are read by index from an array,
an HDF5 (MATLAB v7.3) variable, or image files.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
from absl import logging

from ssah_tf.errors import UserError


class ImageSource:
    """Random access to N pictures.

    An ``encoded`` source hands out each picture's bytes (:meth:`read_bytes`: files,
    a prepared TFDS copy), decoded and resized inside the tf.data pipeline
    (data.pictures.decode_and_resize); an array source hands out pixels
    (:meth:`read`). Both give uint8 [k, size, size, 3] through :meth:`read`.
    """

    num_items: int
    encoded: bool = False

    def read(self, indices: np.ndarray, size: int) -> np.ndarray:
        from ssah_tf.data.pictures import decode_and_resize

        out = np.empty((len(indices), size, size, 3), np.uint8)
        for row, index in enumerate(np.asarray(indices)):
            out[row] = decode_and_resize(self.read_bytes(int(index)), size).numpy()
        return out

    def read_bytes(self, index: int) -> bytes:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def resize_uint8(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of uint8 [k, H, W, 3] to [k, size, size, 3] (no-op if already)."""
    if images.shape[1] == size and images.shape[2] == size:
        return images
    import tensorflow as tf  # local: the data layer is usable without building TF graphs

    resized = tf.image.resize(tf.cast(images, tf.float32), [size, size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8).numpy()


class ArrayImages(ImageSource):
    """Images held in an array-like (NumPy array or h5py dataset).

    ``matlab_h5``: the array is MATLAB's H x W x 3 x N read row-major by h5py,
    i.e. N x 3 x W x H; rows are transposed (0, 3, 2, 1) on read (docs/method.md §5).
    """

    def __init__(self, array, *, matlab_h5: bool = False, name: str = "images"):
        self.array = array
        self.matlab_h5 = matlab_h5
        self.name = name
        self.num_items = int(array.shape[0])

    def read(self, indices: np.ndarray, size: int) -> np.ndarray:
        indices = np.asarray(indices, np.int64)
        if self.matlab_h5:
            order = np.argsort(indices)
            unique, inverse = np.unique(indices[order], return_inverse=True)
            rows = np.asarray(self.array[unique.tolist()])[inverse]  # h5py wants increasing indices
            rows = rows[np.argsort(order)]
            rows = np.transpose(rows, (0, 3, 2, 1))
        else:
            rows = np.asarray(self.array[indices])
        return resize_uint8(np.ascontiguousarray(rows, dtype=np.uint8), size)

    @property
    def native_size(self) -> int:
        """The pictures' own side (N x H x W x 3; MATLAB's HDF5 layout N x 3 x W x H)."""
        return int(self.array.shape[3] if self.matlab_h5 else self.array.shape[1])

    def describe(self) -> str:
        return f"{self.name} array {tuple(self.array.shape)}"


class FileImages(ImageSource):
    """Pictures in files under a root folder, any format Pillow reads (data.pictures):
    ``lines`` names each item's line in the list it came from, for messages.

    The bytes handed out (a picture TensorFlow reads as it is, or its RGB PNG) are kept
    up to ``cache_bytes`` in total, so a collection that fits is converted once, not
    every epoch; beyond that, pictures are read from their files each time (a copy made
    by ssah-prepare stores them converted).
    """

    encoded = True
    CACHE_BYTES = 256 << 20

    def __init__(
        self,
        root: str,
        relative_paths: Sequence[str],
        *,
        background: tuple[int, int, int] = (255, 255, 255),
        lines: Sequence[str] | None = None,
    ):
        self.root = root
        self.paths = list(relative_paths)
        self.background = tuple(background)
        self.lines = list(lines) if lines is not None else None
        self.num_items = len(self.paths)
        self._cache: dict[int, bytes] = {}
        self._cached_bytes = 0

    def path(self, index: int) -> str:
        return os.path.join(self.root, self.paths[index])

    def where(self, index: int) -> str:
        """The picture and the list line it came from, for messages."""
        line = f" ({self.lines[index]})" if self.lines else ""
        return f"{self.path(index)}{line}"

    def picture(self, index: int) -> bytes:
        """The picture's bytes; data.pictures.PictureError when it cannot be read."""
        from ssah_tf.data.pictures import read_picture_file

        cached = self._cache.get(index)
        if cached is not None:
            return cached
        data = read_picture_file(self.path(index), self.background, self.where(index))
        if self._cached_bytes + len(data) <= self.CACHE_BYTES:
            self._cache[index] = data  # dict assignment is atomic: threads may share it
            self._cached_bytes += len(data)
        return data

    def read_bytes(self, index: int) -> bytes:
        from ssah_tf.data.pictures import PictureError

        try:
            return self.picture(index)
        except PictureError as error:
            raise UserError(f"{error}; fix or remove it (or pass `on_error=skip`)") from None

    def describe(self) -> str:
        return f"{self.num_items} picture files under {self.root}"


@dataclasses.dataclass
class CrossModalDataset:
    """Per-instance labels plus texts and images (or image features), and metadata.

    ``predefined_split`` holds (query, train, database) index arrays when the
    files carry them (npz ``query_index`` ...), else None.
    """

    name: str
    labels: np.ndarray  # [N, c] float32 in {0, 1}
    texts: np.ndarray | None = None  # [N, d_t] float32
    images: ImageSource | None = None
    image_features: np.ndarray | None = None  # [N, d] float32
    label_names: tuple[str, ...] | None = None
    tag_names: tuple[str, ...] | None = None
    item_ids: tuple[str, ...] | None = None  # e.g. each item's picture path, for reports
    # Why the data's pictures are not available although it lists some (None: no note);
    # a run that asks for images is refused with it.
    image_note: str | None = None
    predefined_split: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    source: str = ""

    @property
    def num_items(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_labels(self) -> int:
        return int(self.labels.shape[1])

    @property
    def text_dim(self) -> int | None:
        return None if self.texts is None else int(self.texts.shape[1])

    @property
    def modalities(self) -> tuple[str, ...]:
        out = []
        if self.images is not None or self.image_features is not None:
            out.append("image")
        if self.texts is not None:
            out.append("text")
        return tuple(out)

    def summary(self) -> str:
        parts = [f"{self.name}: {self.num_items} items, {self.num_labels} labels"]
        if self.texts is not None:
            parts.append(f"text dim {self.text_dim}")
        if self.images is not None:
            parts.append(self.images.describe())
        if self.image_features is not None:
            parts.append(f"image features dim {self.image_features.shape[1]}")
        per_item = self.labels.sum(1)
        parts.append(f"labels per item {per_item.mean():.2f}")
        if self.texts is not None:
            parts.append(f"nonzero text entries per item {(self.texts != 0).sum(1).mean():.2f}")
        return ", ".join(parts)


def drop_items(dataset: CrossModalDataset, drop: np.ndarray) -> CrossModalDataset:
    """The dataset without the rows ``drop`` (e.g. items whose picture is unreadable);
    file-backed pictures only (array sources have no unreadable items)."""
    keep = np.setdiff1d(np.arange(dataset.num_items), np.asarray(drop, np.int64))
    images = dataset.images
    if isinstance(images, FileImages):
        images = FileImages(
            images.root,
            [images.paths[i] for i in keep],
            background=images.background,
            lines=None if images.lines is None else [images.lines[i] for i in keep],
        )
    elif images is not None:
        raise ValueError("only file-backed pictures can be dropped")
    return dataclasses.replace(
        dataset,
        labels=dataset.labels[keep],
        texts=None if dataset.texts is None else dataset.texts[keep],
        image_features=None if dataset.image_features is None else dataset.image_features[keep],
        images=images,
        item_ids=None if dataset.item_ids is None else tuple(dataset.item_ids[i] for i in keep),
        predefined_split=None,
    )


def check_pictures(images: FileImages, on_error: str) -> list[int]:
    """Decode every picture once (in parallel): UserError naming the first unreadable
    one and its list line, or with ``on_error='skip'`` the rows to drop (warned)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from ssah_tf.data.pictures import PictureError

    def check(index):
        try:
            images.picture(index)  # kept in its cache when it fits
            return None
        except PictureError as error:
            return index, str(error)

    bad, started, last_report = [], time.time(), time.time()
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        for done, result in enumerate(pool.map(check, range(images.num_items)), 1):
            if result is not None:
                if on_error != "skip":
                    raise UserError(f"{result[1]}; fix or remove it (or pass `on_error=skip`)")
                bad.append(result)
            if time.time() - last_report > 10:
                last_report = time.time()
                logging.info(
                    "checked %d/%d pictures (%.0f/s)",
                    done,
                    images.num_items,
                    done / (time.time() - started),
                )
    if bad:
        logging.warning(
            "skipping %d items whose picture cannot be read (`on_error=skip`), e.g. %s",
            len(bad),
            bad[0][1],
        )
    return [index for index, _ in bad]


def validate(dataset: CrossModalDataset, where: str) -> CrossModalDataset:
    """Check shapes, dtypes, counts and values; raise UserError naming ``where``."""
    labels = dataset.labels
    if labels.ndim != 2:
        raise UserError(f"{where}: labels must be 2-D [items, classes], got shape {labels.shape}")
    if labels.shape[0] == 0 or labels.shape[1] == 0:
        raise UserError(f"{where}: labels are empty (shape {labels.shape})")
    if not np.all(np.isfinite(labels)) or not np.all((labels == 0) | (labels == 1)):
        raise UserError(f"{where}: labels must be 0/1 multi-hot vectors")
    n = labels.shape[0]
    for name, array in (("texts", dataset.texts), ("image_features", dataset.image_features)):
        if array is not None and array.ndim == 2 and array.shape[1] == 0:
            raise UserError(
                f"{where}: {name} have 0 columns (shape {array.shape}); give at least "
                f"one value per item, or leave {name} out"
            )
    counts = {"labels": n}
    if dataset.texts is not None:
        if dataset.texts.ndim != 2:
            raise UserError(
                f"{where}: texts must be 2-D [items, dims], got shape {dataset.texts.shape}"
            )
        counts["texts"] = dataset.texts.shape[0]
        if not np.all(np.isfinite(dataset.texts)):
            raise UserError(f"{where}: texts contain NaN or inf values")
    if dataset.image_features is not None:
        if dataset.image_features.ndim != 2:
            raise UserError(
                f"{where}: image_features must be 2-D [items, dims], "
                f"got shape {dataset.image_features.shape}"
            )
        counts["image_features"] = dataset.image_features.shape[0]
        if not np.all(np.isfinite(dataset.image_features)):
            bad = int((~np.isfinite(dataset.image_features)).any(1).sum())
            raise UserError(f"{where}: image_features contain NaN or inf values in {bad} rows")
    if dataset.images is not None:
        counts["images"] = dataset.images.num_items
    if dataset.item_ids is not None:
        counts["item ids"] = len(dataset.item_ids)
    if len(set(counts.values())) != 1:
        raise UserError(
            f"{where}: item counts disagree: " + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
    if not dataset.modalities:
        raise UserError(f"{where}: no image, image feature or text data found")
    if dataset.label_names is not None and len(dataset.label_names) != labels.shape[1]:
        raise UserError(
            f"{where}: {len(dataset.label_names)} label names for {labels.shape[1]} label "
            "columns; give one name per column"
        )
    if (
        dataset.tag_names is not None
        and dataset.texts is not None
        and len(dataset.tag_names) != dataset.texts.shape[1]
    ):
        raise UserError(
            f"{where}: a vocabulary of {len(dataset.tag_names)} words for "
            f"{dataset.texts.shape[1]} text columns; give one word per column"
        )
    empty_labels = int((labels.sum(1) == 0).sum())
    if empty_labels == n:
        raise UserError(
            f"{where}: no item has a label (all {n} label rows are zero); SSAH learns from "
            "labels, so give the items theirs"
        )
    if empty_labels:
        logging.warning(
            "%s: %d items have no label; they can never be relevant to a query", where, empty_labels
        )
    if dataset.texts is not None:
        empty_texts = int((~dataset.texts.any(1)).sum())
        if empty_texts:
            logging.warning("%s: %d items have an empty text (no tag)", where, empty_texts)
    if dataset.predefined_split is not None:
        for name, index in zip(
            ("query_index", "train_index", "database_index"), dataset.predefined_split
        ):
            if index.ndim != 1 or (index.size and (index.min() < 0 or index.max() >= n)):
                raise UserError(f"{where}: {name} must be 1-D indices in [0, {n})")
    return dataset
