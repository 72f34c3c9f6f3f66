"""Readers for every SSAH dataset format (docs/method.md §5); the format is detected, not asked.

* DCMH/SSAH MATLAB files: one combined file or one file per variable, v7.3
  (HDF5, via h5py) or v5 (scipy.io).
* Text lists: all_imgs.txt, all_tags.txt, all_labels.txt, a tag vocabulary and
  an optional image folder.
* Feature datasets: .npz (or .mat) with image_features / images, texts, labels
  and optional split indices (data/README.md documents the layout).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
from typing import Any

import h5py
import numpy as np
import scipy.io

from ssah_tf.data.dataset import ArrayImages, CrossModalDataset, FileImages, validate
from ssah_tf.data.files import load_npz
from ssah_tf.data.tags import tags_to_vectors
from ssah_tf.data.text_files import number_rows, read_text, read_text_lines
from ssah_tf.errors import UserError

IMAGE_KEYS = ("images", "IAll", "I_all")
TEXT_KEYS = ("YAll", "texts", "tags", "Y_all", "T_all")
LABEL_KEYS = ("LAll", "labels", "L_all")
FEATURE_KEYS = ("image_features", "XAll", "X_all")
SPLIT_KEYS = ("query_index", "train_index", "database_index")
LABEL_NAMES_FILE = "label_names.txt"
VOCAB_NAMES = ("TagList.txt", "all_tags_vocab.txt", "vocab.txt", "tag_list.txt", "common_tags.txt")


def _require_exists(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise UserError(f"{what} {path} does not exist; check `data_path`")


# ----------------------------------------------------------------------------- MATLAB
class _MatFile:
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


def _find(files: list[_MatFile], keys: tuple[str, ...]) -> tuple[_MatFile, str] | None:
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
            _require_exists(p, "MATLAB file")
    files = [_MatFile(p) for p in paths]
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


# ----------------------------------------------------------------------------- text lists
def _read_lines(path: str) -> list[str]:
    _require_exists(path, "file")
    return read_text_lines(path)


def _read_names(path: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in _read_lines(path) if line.strip())


def _pictures(
    relative: list[str],
    *,
    image_root: str | None,
    default_root: str,
    lines: list[str],
    background: tuple[int, int, int],
    listed_in: str,
    allow_outside_root: bool = False,
) -> tuple[FileImages | None, str | None]:
    """(pictures, None) when every listed picture exists under the image root (given,
    or else ``default_root``), else (None, why): a run that asks for images is refused
    with the reason, a text-only run goes on."""
    root = image_root if image_root is not None else default_root
    if image_root is not None:
        _require_exists(image_root, "image folder")
    if not allow_outside_root:
        inside = os.path.realpath(root)
        for path, line in zip(relative, lines):
            full = os.path.realpath(os.path.join(root, path))
            if os.path.commonpath([inside, full]) != inside:
                raise UserError(
                    f"{line}: {path} lies outside the image "
                    f"folder {root}; list paths inside it, or pass "
                    "`allow_images_outside_root` if that is deliberate"
                )
    missing = [p for p in relative if not os.path.isfile(os.path.join(root, p))]
    if missing:
        note = (
            f"{len(missing)} of the {len(relative)} pictures {listed_in} lists are missing "
            f"under {root}, e.g. {missing[0]}"
        )
        if image_root is not None:
            raise UserError(f"{note}; check `image_root`")
        return None, (
            f"{note}; pass `image_root` (the folder the paths are relative to), or "
            "`modalities=text` to train without pictures"
        )
    return FileImages(root, relative, background=background, lines=lines), None


def read_text_lists(
    folder: str,
    *,
    image_root: str | None = None,
    vocab_file: str | None = None,
    name: str = "text_lists",
    background: tuple[int, int, int] = (255, 255, 255),
    allow_images_outside_root: bool = False,
) -> CrossModalDataset:
    """all_imgs.txt / all_tags.txt / all_labels.txt / vocabulary (+ label_names.txt),
    with the pictures all_imgs.txt lists under ``image_root`` (default: the folder)."""
    _require_exists(folder, "folder")
    tags_path = os.path.join(folder, "all_tags.txt")
    labels_path = os.path.join(folder, "all_labels.txt")
    for p in (tags_path, labels_path):
        _require_exists(p, "text-list file")
    if vocab_file is None:
        for candidate in VOCAB_NAMES:
            if os.path.exists(os.path.join(folder, candidate)):
                vocab_file = os.path.join(folder, candidate)
                break
        else:
            raise UserError(
                f"{folder}: no tag vocabulary file ({', '.join(VOCAB_NAMES)}); pass `vocab_file`"
            )
    vocab = [t.strip() for t in _read_lines(vocab_file) if t.strip()]
    if len(set(vocab)) != len(vocab):
        raise UserError(f"{vocab_file}: the vocabulary has duplicate tags")
    tag_lines = _read_lines(tags_path)
    label_lines = [line for line in _read_lines(labels_path)]
    while label_lines and not label_lines[-1].strip():
        label_lines.pop()
    while tag_lines and len(tag_lines) > len(label_lines) and not tag_lines[-1].strip():
        tag_lines.pop()
    if len(tag_lines) != len(label_lines):
        raise UserError(
            f"{folder}: all_tags.txt has {len(tag_lines)} lines but all_labels.txt "
            f"has {len(label_lines)}"
        )
    texts = tags_to_vectors(
        tag_lines, vocab, f"{tags_path} (vocabulary {os.path.basename(vocab_file)})"
    )
    labels = number_rows(label_lines, labels_path, skip_blank=False)
    names_path = os.path.join(folder, LABEL_NAMES_FILE)
    label_names = _read_names(names_path) if os.path.isfile(names_path) else None
    images, note, item_ids = None, None, None
    imgs_path = os.path.join(folder, "all_imgs.txt")
    if os.path.isfile(imgs_path):
        listed = [(n, p.strip()) for n, p in enumerate(_read_lines(imgs_path), 1) if p.strip()]
        if len(listed) != len(labels):
            raise UserError(f"{imgs_path} lists {len(listed)} images for {len(labels)} label rows")
        relative = [p for _, p in listed]
        images, note = _pictures(
            relative,
            image_root=image_root,
            default_root=folder,
            lines=[f"all_imgs.txt line {n}" for n, _ in listed],
            background=background,
            listed_in="all_imgs.txt",
            allow_outside_root=allow_images_outside_root,
        )
        item_ids = tuple(relative)
    elif image_root is not None:
        raise UserError(f"`image_root` is given but {folder} has no all_imgs.txt listing pictures")
    return validate(
        CrossModalDataset(
            name=name,
            labels=labels,
            texts=texts,
            images=images,
            tag_names=tuple(vocab),
            label_names=label_names,
            item_ids=item_ids,
            image_note=note,
            source=folder,
        ),
        folder,
    )


# ----------------------------------------------------------------------------- manifests
MANIFEST_FIELDS = {"image": ("image", "picture", "path"), "words": ("words", "tags", "text")}


def _manifest_rows(path: str) -> list[tuple[int, dict]]:
    """(line number, {image, words, labels}) of a .csv (header row; words and labels
    separated by ';' in their cells) or .jsonl manifest (lists or ';'-separated strings)."""
    rows = []
    text = read_text(path, "manifest")
    if path.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "labels" not in header:
            raise UserError(
                f"{path}: the header row needs a 'labels' column (and 'image' and/or "
                f"'words'); found {', '.join(header) or 'no header'}"
            )
        for row in reader:
            rows.append((reader.line_num, {k.strip().lower(): v for k, v in row.items() if k}))
        return rows
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise UserError(f"{path} line {number}: not a JSON object ({error})") from None
        if not isinstance(record, dict):
            raise UserError(f"{path} line {number}: expected a JSON object per line")
        rows.append((number, {k.lower(): v for k, v in record.items()}))
    return rows


def _items(value, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise UserError(f"{where}: expected a list of strings or a ';'-separated string")


def read_manifest(
    path: str,
    *,
    image_root: str | None = None,
    vocab_file: str | None = None,
    name: str = "collection",
    background: tuple[int, int, int] = (255, 255, 255),
    allow_images_outside_root: bool = False,
) -> CrossModalDataset:
    """A hand-written manifest, one item per row: its picture path (relative to
    ``image_root``, default the manifest's folder), its words and its labels by name.
    The vocabulary is every word used (sorted), unless ``vocab_file`` gives one; the
    label names are every label used (sorted)."""
    _require_exists(path, "manifest")
    rows = _manifest_rows(path)
    if not rows:
        raise UserError(f"{path} has no items")
    base = os.path.basename(path)

    def field(row, kind):
        return next((row[k] for k in MANIFEST_FIELDS[kind] if k in row), None)

    words = [(n, _items(field(r, "words"), f"{base} line {n}")) for n, r in rows]
    labels = [(n, _items(r.get("labels"), f"{base} line {n}")) for n, r in rows]
    paths = [(n, field(r, "image")) for n, r in rows]
    label_names = tuple(sorted({x for _, names in labels for x in names}))
    if not label_names:
        raise UserError(f"{path}: no item has a label; give each item its labels")
    column = {x: i for i, x in enumerate(label_names)}
    label_matrix = np.zeros((len(rows), len(label_names)), np.float32)
    for row, (_, names) in enumerate(labels):
        label_matrix[row, [column[x] for x in names]] = 1.0
    texts, vocab = None, None
    if any(w for _, w in words):
        if vocab_file:
            vocab = [t.strip() for t in _read_lines(vocab_file) if t.strip()]
        else:
            vocab = sorted({x for _, ws in words for x in ws})
        index = {word: i for i, word in enumerate(vocab)}
        texts = np.zeros((len(rows), len(vocab)), np.float32)
        for row, (number, item_words) in enumerate(words):
            for word in item_words:
                if word not in index:
                    raise UserError(
                        f"{base} line {number}: word {word!r} is not in the vocabulary {vocab_file}"
                    )
                texts[row, index[word]] = 1.0
    images, note, item_ids = None, None, None
    if any(p for _, p in paths):
        absent = [n for n, p in paths if not p]
        if absent:
            raise UserError(f"{base} line {absent[0]}: no picture path (every item needs one)")
        relative = [str(p) for _, p in paths]
        images, note = _pictures(
            relative,
            image_root=image_root,
            default_root=os.path.dirname(os.path.abspath(path)),
            lines=[f"{base} line {n}" for n, _ in paths],
            background=background,
            listed_in=base,
            allow_outside_root=allow_images_outside_root,
        )
        item_ids = tuple(relative)
    return validate(
        CrossModalDataset(
            name=name,
            labels=label_matrix,
            texts=texts,
            images=images,
            tag_names=tuple(vocab) if vocab else None,
            label_names=label_names,
            item_ids=item_ids,
            image_note=note,
            source=path,
        ),
        path,
    )


# ----------------------------------------------------------------------------- npz / features
def read_feature_file(
    path: str, name: str = "npz", *, vocab_file: str | None = None
) -> CrossModalDataset:
    """A feature dataset in .npz (or .mat): see data/README.md for the keys (words of
    the text columns: the ``tag_names`` key, or ``vocab_file``)."""
    _require_exists(path, "dataset file")
    arrays: dict[str, Any]
    if path.endswith(".mat"):
        mat = _MatFile(path)
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
        tag_names = tuple(t.strip() for t in _read_lines(vocab_file) if t.strip())
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
    _require_exists(path, "data path")
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "all_labels.txt")):
            return read_text_lists(
                path,
                image_root=image_root,
                vocab_file=vocab_file,
                name=name,
                background=background,
                allow_images_outside_root=allow_images_outside_root,
            )
        if glob.glob(os.path.join(path, "*.mat")):
            return read_matlab(path, name=name)
        raise UserError(f"{path}: folder has neither all_labels.txt (text lists) nor .mat files")
    if path.lower().endswith((".csv", ".jsonl")):
        return read_manifest(
            path,
            image_root=image_root,
            vocab_file=vocab_file,
            name=name,
            background=background,
            allow_images_outside_root=allow_images_outside_root,
        )
    if path.endswith(".npz"):
        return read_feature_file(path, name=name, vocab_file=vocab_file)
    if path.endswith(".mat") or "," in path:
        first = _MatFile(path.split(",")[0])
        if "labels" in first.names and "LAll" not in first.names:
            return read_feature_file(path, name=name, vocab_file=vocab_file)
        return read_matlab(path, name=name)
    raise UserError(
        f"{path}: unknown format; expected a folder (text lists or .mat files), a .csv or "
        ".jsonl manifest, or a .npz/.mat file"
    )
