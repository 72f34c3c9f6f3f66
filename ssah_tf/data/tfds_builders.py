"""A TFDS copy of any collection (``ssah-prepare``), from which pictures stream.

``prepare`` reads a data set in any documented form (text lists with pictures, a
.csv / .jsonl manifest, an .npz, the DCMH .mat files) and writes one TFDS dataset
(array_record files, random access by row) whose split ``all`` holds every item in
the source's row order: its ``index``, the picture's bytes (``image``, as
``data.pictures.picture_bytes`` gives them: the original file when TensorFlow reads
it as it is, else an upright RGB PNG on the stated background), ``image_features``,
its words (``words``: vocabulary ids, for 0/1 texts) or dense ``text``, its
``labels`` (label ids) and ``id`` (the picture's path). Beside the TFDS files:
``ssah_collection.json`` (names, vocabulary, label names, background, what was
skipped) and ``tables.npz`` (labels, texts and features as arrays, so loading reads
no picture). The copy is written to a temporary folder and renamed when complete:
a failed or interrupted prepare leaves nothing.

Training reads ``--data_dir=<the copy>``: labels, texts and features in memory,
pictures by row from disk, decoded and resized in the tf.data pipeline. The split is
made at training time (``--split_seed``), as for any other form of the data.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from ssah_tf.atomic import write_atomic
from ssah_tf.data.dataset import CrossModalDataset, FileImages, ImageSource, validate
from ssah_tf.data.files import load_json, load_npz
from ssah_tf.data.pictures import PictureError, encode_png
from ssah_tf.errors import UserError

FORMAT = 1
INFO_FILE = "ssah_collection.json"
TABLES_FILE = "tables.npz"
SPLIT = "items"  # TFDS reserves "all"


class _CollectionBuilder(tfds.core.GeneratorBasedBuilder):
    """One collection: features follow the data (vocabulary, labels, picture sizes)."""

    VERSION = tfds.core.Version("1.0.0")
    # Records in the source's row order: row i of tables.npz is record i.
    disable_shuffling = True

    def __init__(self, *, collection: CrossModalDataset, picture_bytes: list, **kwargs):
        self._collection = collection
        self._picture_bytes = picture_bytes  # item -> bytes, or None for a skipped item
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        data = self._collection
        features = {
            "index": tf.int64,
            "labels": tfds.features.Sequence(tf.int32),
            "id": tfds.features.Text(),
        }
        if data.images is not None:
            features["image"] = tfds.features.Image(shape=(None, None, 3))
        if data.image_features is not None:
            features["image_features"] = tfds.features.Tensor(
                shape=(data.image_features.shape[1],), dtype=tf.float32
            )
        if data.texts is not None:
            if _binary(data.texts):
                features["words"] = tfds.features.Sequence(tf.int32)
            else:
                features["text"] = tfds.features.Tensor(shape=(data.text_dim,), dtype=tf.float32)
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"ssah_tf copy of {data.name} ({data.source})",
            features=tfds.features.FeaturesDict(features),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        return {SPLIT: self._generate_examples()}

    def _generate_examples(self):
        data = self._collection
        for index in range(data.num_items):
            if data.images is not None and self._picture_bytes[index] is None:
                continue
            example = {
                "index": index,
                "labels": np.flatnonzero(data.labels[index]).astype(np.int32),
                "id": (data.item_ids or ())[index] if data.item_ids else str(index),
            }
            if data.images is not None:
                example["image"] = self._picture_bytes[index]
            if data.image_features is not None:
                example["image_features"] = data.image_features[index]
            if data.texts is not None:
                if _binary(data.texts):
                    example["words"] = np.flatnonzero(data.texts[index]).astype(np.int32)
                else:
                    example["text"] = data.texts[index]
            yield index, example


def _binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


def _picture_bytes(images: ImageSource, on_error: str) -> tuple[list, list[str]]:
    """Every picture's bytes (parallel, in order, progress every 10 s); unreadable ones
    fail the prepare or, with ``on_error='skip'``, become None (and are listed)."""
    skipped: list[str] = []

    def read(index):
        if isinstance(images, FileImages):
            try:
                return images.picture(index)
            except PictureError as error:
                if on_error != "skip":
                    raise UserError(
                        f"{error}; fix or remove it (or pass `on_error=skip`)"
                    ) from None
                skipped.append(str(error))
                return None
        return encode_png(images.read(np.array([index]), images.native_size)[0])

    out, started, reported = [], time.time(), time.time()
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        for done, data in enumerate(pool.map(read, range(images.num_items)), 1):
            out.append(data)
            if time.time() - reported > 10:
                reported = time.time()
                rate = done / (time.time() - started)
                logging.info("read %d/%d pictures (%.0f/s)", done, images.num_items, rate)
    return out, skipped


def _record_positions(copy: str, count: int) -> np.ndarray:
    """Record position of each kept item (in kept order): read back from the records'
    ``index`` feature, so rows stay right whatever order TFDS wrote them in."""
    source = tfds.builder_from_directory(copy).as_data_source(
        SPLIT, decoders={"image": tfds.decode.SkipDecoding()}
    )
    indices = np.fromiter((int(source[i]["index"]) for i in range(len(source))), np.int64)
    if len(indices) != count:
        raise UserError(f"the copy holds {len(indices)} records for {count} items; prepare again")
    order = np.argsort(indices, kind="stable")  # kept items are in increasing index order
    return order.astype(np.int64)


def write_prepared_copy(
    data: CrossModalDataset,
    *,
    destination: str,
    dataset: str,
    background: str,
    on_error: str = "fail",
) -> dict:
    """Write the TFDS copy of ``data`` to ``destination`` (all or nothing); returns its
    ssah_collection.json record."""
    if os.path.exists(destination):
        raise UserError(
            f"{destination} exists; choose another `name` or `data_dir`, or delete it first"
        )
    parent = os.path.dirname(os.path.abspath(destination))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".prepare-")
    try:
        pictures, skipped = (
            _picture_bytes(data.images, on_error) if data.images is not None else ([], [])
        )
        if skipped:
            logging.warning(
                "skipped %d items whose picture cannot be read (`on_error=skip`), e.g. %s",
                len(skipped),
                skipped[0],
            )
        kept = [i for i in range(data.num_items) if data.images is None or pictures[i] is not None]
        if not kept:
            raise UserError("no picture could be read; nothing written")
        tfds.disable_progress_bar()
        builder = _CollectionBuilder(
            collection=data,
            picture_bytes=pictures,
            data_dir=os.path.join(staging, "tfds"),
            file_format="array_record",
        )
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                manual_dir=staging, download_mode=tfds.GenerateMode.REUSE_DATASET_IF_EXISTS
            )
        )
        copy = os.path.join(staging, "copy")
        os.replace(str(builder.data_path), copy)
        positions = (
            _record_positions(copy, len(kept))
            if data.images is not None
            else np.arange(len(kept), dtype=np.int64)
        )
        info = {
            "format": FORMAT,
            "name": data.name,
            "dataset": dataset,
            "source": os.path.abspath(data.source) if data.source else "",
            "image_background": background,
            "num_items": len(kept),
            "skipped": skipped,
            "text": None if data.texts is None else ("words" if _binary(data.texts) else "dense"),
            "pictures": data.images is not None,
            "label_names": list(data.label_names) if data.label_names else None,
            "tag_names": list(data.tag_names) if data.tag_names else None,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        rows = np.asarray(kept, np.int64)
        tables = {
            "index": rows,
            "positions": positions[np.searchsorted(np.asarray(kept), rows)],
            "labels": data.labels[rows].astype(np.uint8),
        }
        if data.texts is not None:
            tables["texts"] = data.texts[rows].astype(
                np.uint8 if info["text"] == "words" else np.float32
            )
        if data.image_features is not None:
            tables["image_features"] = data.image_features[rows]
        if data.item_ids:
            tables["ids"] = np.asarray([data.item_ids[i] for i in kept])
        write_atomic(
            os.path.join(copy, TABLES_FILE),
            lambda f: np.savez(f, **tables),
            binary=True,
        )
        write_atomic(os.path.join(copy, INFO_FILE), lambda f: json.dump(info, f, indent=1))
        os.replace(copy, destination)
        return info
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class TFDSImages(ImageSource):
    """A prepared copy's pictures by row: their stored bytes, read from the array_record
    files (decoded in the pipeline)."""

    encoded = True

    def __init__(self, path: str, positions: np.ndarray, split: str = SPLIT):
        self.path = path
        self.split = split
        self.positions = np.asarray(positions, np.int64)  # dataset row -> record position
        self.num_items = len(self.positions)
        self._source = None

    def _data_source(self):
        if self._source is None:
            builder = tfds.builder_from_directory(self.path)
            self._source = builder.as_data_source(
                self.split, decoders={"image": tfds.decode.SkipDecoding()}
            )
        return self._source

    def read_bytes(self, index: int) -> bytes:
        return self._data_source()[int(self.positions[index])]["image"]

    def describe(self) -> str:
        return f"{self.num_items} pictures streamed from the prepared copy {self.path}"

    def __getstate__(self):  # the data source holds open files: rebuilt on use
        return {**self.__dict__, "_source": None}


def load_prepared(config) -> CrossModalDataset:
    """A :class:`CrossModalDataset` over the prepared copy ``config.data_dir``: labels,
    texts and features in memory, pictures read by row from disk."""
    path = os.path.abspath(config.data_dir)
    info_path = os.path.join(path, INFO_FILE)
    if not os.path.isfile(info_path):
        return _load_legacy(config)
    info = load_json(info_path)
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise UserError(f"{info_path} is damaged or from a newer ssah_tf; prepare the copy again")
    if config.dataset != info.get("dataset") and config.dataset != "collection":
        raise UserError(
            f"`data_dir={config.data_dir}` is a prepared copy of {info.get('dataset')}, "
            f"not {config.dataset}; pass `dataset={info.get('dataset')}`"
        )
    given = config.image_background
    if given != "white" and given != info.get("image_background"):
        raise UserError(
            f"the copy's pictures were composited on {info.get('image_background')} when "
            "it was prepared; drop `image_background` or prepare it again"
        )
    tables = load_npz(os.path.join(path, TABLES_FILE), "prepared copy table")
    n = len(tables["index"])
    positions = tables["positions"] if "positions" in tables else np.arange(n)
    images = TFDSImages(path, positions) if info.get("pictures") else None
    data = CrossModalDataset(
        name=info.get("name") or os.path.basename(path),
        labels=tables["labels"].astype(np.float32),
        texts=tables["texts"].astype(np.float32) if "texts" in tables else None,
        images=images,
        image_features=tables.get("image_features"),
        label_names=tuple(info["label_names"]) if info.get("label_names") else None,
        tag_names=tuple(info["tag_names"]) if info.get("tag_names") else None,
        item_ids=tuple(str(i) for i in tables["ids"]) if "ids" in tables else None,
        source=path,
    )
    return validate(data, path)


def _load_legacy(config) -> CrossModalDataset:
    """A copy written by ssah_tf before ssah_collection.json existed (one TFDS builder
    per protocol dataset under a TFDS root, ``ssah_<dataset>/seed<k>/1.0.0``): texts and
    labels read from its examples, its split its query/train/database splits."""
    root = os.path.join(
        os.path.abspath(config.data_dir), f"ssah_{config.dataset}", f"seed{config.split_seed}"
    )
    versions = sorted(os.listdir(root)) if os.path.isdir(root) else []
    if not versions:
        raise UserError(
            f"`data_dir={config.data_dir}` is not a prepared copy (no {INFO_FILE}); prepare "
            "one with ssah-prepare and pass the folder it prints"
        )
    path = os.path.join(root, versions[-1])
    builder = tfds.builder_from_directory(path)
    rows: dict[int, dict] = {}
    locations: dict[int, tuple[str, int]] = {}
    split_index = {}
    for split in ("query", "database", "train"):
        source = builder.as_data_source(split, decoders={"image": tfds.decode.SkipDecoding()})
        order = []
        for position in range(len(source)):
            example = source[position]
            index = int(example["index"])
            order.append(index)
            if index not in rows:
                rows[index] = {"text": example["text"], "labels": example["labels"]}
                locations[index] = (split, position)
        split_index[split] = np.array(order, np.int64)
    n = max(rows) + 1
    first = rows[min(rows)]
    texts = np.zeros((n, len(first["text"])), np.float32)
    labels = np.zeros((n, len(first["labels"])), np.float32)
    for index, row in rows.items():
        texts[index], labels[index] = row["text"], row["labels"]
    return validate(
        CrossModalDataset(
            name=config.dataset,
            labels=labels,
            texts=texts,
            images=_LegacyImages(path, locations),
            predefined_split=(split_index["query"], split_index["train"], split_index["database"]),
            source=path,
        ),
        path,
    )


class _LegacyImages(TFDSImages):
    """An older copy's pictures: each row lives in one of three splits."""

    def __init__(self, path: str, locations: dict[int, tuple[str, int]]):
        super().__init__(path, np.zeros(0, np.int64))
        self.locations = locations
        self.num_items = max(locations) + 1 if locations else 0
        self._sources: dict[str, object] = {}

    def read_bytes(self, index: int) -> bytes:
        split, position = self.locations[int(index)]
        if split not in self._sources:
            builder = tfds.builder_from_directory(self.path)
            self._sources[split] = builder.as_data_source(
                split, decoders={"image": tfds.decode.SkipDecoding()}
            )
        return self._sources[split][position]["image"]

    def __getstate__(self):
        return {**self.__dict__, "_source": None, "_sources": {}}


def summary(info: dict, destination: str) -> str:
    """The one line ssah-prepare prints."""
    parts = [f"{info['num_items']} items"]
    if info.get("tag_names"):
        parts.append(f"{len(info['tag_names'])} words")
    if info.get("label_names"):
        parts.append(f"{len(info['label_names'])} labels")
    if info.get("skipped"):
        parts.append(f"{len(info['skipped'])} skipped")
    size = sum(
        os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(destination)
        for f in files
    )  # fmt: skip
    return f"{info['name']} ({', '.join(parts)}, {size / 1e6:.1f} MB)"
