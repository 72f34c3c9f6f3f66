"""TFDS builders for MIRFLICKR-25K, NUS-WIDE (21 concepts) and MS-COCO.

These data cannot be downloaded automatically: the builders read the user's
files from ``manual_dir`` (any format :func:`detect_and_read` understands) and
write TFRecords with images resized to 224 x 224, so training streams images
from disk. One builder config per protocol split seed; splits 'query',
'train' and 'database' follow :func:`ssah_tf.data.protocols.make_split`, and
every example keeps its row ``index`` in the source files.

Build with ``ssah-prepare --dataset=mirflickr25k --manual_dir=DIR --data_dir=workspace/tfds``;
train with ``ssah-train --dataset=mirflickr25k --data_dir=workspace/tfds``: texts and
labels are loaded into memory, images are read by index from the array_record files.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from ssah_tf.data.dataset import CrossModalDataset, resize_uint8, validate
from ssah_tf.data.protocols import PROTOCOLS, make_split
from ssah_tf.data.readers import detect_and_read
from ssah_tf.errors import UserError

IMAGE_SIZE = 224


class SplitConfig(tfds.core.BuilderConfig):
    """A protocol split seed (the sizes are the dataset's protocol)."""

    def __init__(self, *, split_seed: int = 0, **kwargs):
        super().__init__(
            name=f"seed{split_seed}",
            version=tfds.core.Version("1.0.0"),
            description=f"protocol split with seed {split_seed}",
            **kwargs,
        )
        self.split_seed = split_seed


class _SSAHBuilder(tfds.core.GeneratorBasedBuilder):
    """Shared logic; subclasses set the protocol key, dims and instructions."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [SplitConfig(split_seed=0)]
    PROTOCOL = ""
    TEXT_DIM = 0
    NUM_LABELS = 0
    HOMEPAGE = ""

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "index": tf.int64,
                    "image": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 3)),
                    "text": tfds.features.Tensor(shape=(self.TEXT_DIM,), dtype=tf.float32),
                    "labels": tfds.features.Tensor(shape=(self.NUM_LABELS,), dtype=tf.float32),
                }
            ),
            homepage=self.HOMEPAGE,
        )

    def _read(self, dl_manager):
        data = detect_and_read(
            str(dl_manager.manual_dir), name=self.PROTOCOL, image_root=str(dl_manager.manual_dir)
        )
        if data.images is None:
            raise UserError(f"{dl_manager.manual_dir}: no images found; see the instructions")
        if data.text_dim != self.TEXT_DIM or data.num_labels != self.NUM_LABELS:
            raise UserError(
                f"{dl_manager.manual_dir}: expected {self.TEXT_DIM}-d texts and "
                f"{self.NUM_LABELS} labels, found {data.text_dim} and {data.num_labels}"
            )
        return data

    def _split_generators(self, dl_manager):
        data = self._read(dl_manager)
        protocol = PROTOCOLS[self.PROTOCOL]
        split = make_split(
            data.num_items,
            query_size=protocol.query,
            train_size=protocol.train,
            database_size=protocol.database,
            seed=self.builder_config.split_seed,
        )
        return {
            "query": self._generate_examples(data, split.query),
            "train": self._generate_examples(data, split.train),
            "database": self._generate_examples(data, split.database),
        }

    def _generate_examples(self, data, indices):
        # Read images a few hundred at a time: never the whole set in memory.
        for start in range(0, len(indices), 256):
            chunk = np.asarray(indices[start : start + 256])
            images = data.images.read(chunk, IMAGE_SIZE)
            for row, index in enumerate(chunk):
                yield (
                    int(index),
                    {
                        "index": int(index),
                        "image": images[row],
                        "text": data.texts[index],
                        "labels": data.labels[index],
                    },
                )


class SsahMirflickr25k(_SSAHBuilder):
    """MIRFLICKR-25K, the 20,015 pairs of the DCMH selection (1,386 tags, 24 labels)."""

    PROTOCOL = "mirflickr25k"
    TEXT_DIM = 1386
    NUM_LABELS = 24
    HOMEPAGE = "https://press.liacs.nl/mirflickr/"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Place in manual_dir either the DCMH file FLICKR-25K.mat (variables images,
    YAll, LAll; MATLAB v7.3), or the per-variable .mat files (IAll, YAll, LAll),
    or the text lists all_imgs.txt, all_tags.txt, all_labels.txt and TagList.txt
    together with the mirflickr/ image folder they reference.
    """


class SsahNusWide(_SSAHBuilder):
    """NUS-WIDE, 195,834 pairs of the 21 most frequent concepts (1,000 tags)."""

    PROTOCOL = "nus_wide"
    TEXT_DIM = 1000
    NUM_LABELS = 21
    HOMEPAGE = "https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/nuswide/NUS-WIDE.html"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Place in manual_dir the DCMH-style files for the 21-concept subset
    (one combined .mat with IAll/YAll/LAll, or one .mat per variable), or the
    text lists (all_imgs.txt, all_tags.txt, all_labels.txt, a 1,000-tag
    vocabulary file) with the image folder they reference. Images are read in
    chunks: the ~29 GB of pixels never sit in memory at once.
    """


class SsahMsCoco(_SSAHBuilder):
    """MS-COCO 2014 train+val images with a category (2,000-d caption words, 80 labels)."""

    PROTOCOL = "ms_coco"
    TEXT_DIM = 2000
    NUM_LABELS = 80
    HOMEPAGE = "https://cocodataset.org/"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Place in manual_dir the prepared pairs: one .mat (IAll/YAll/LAll, v7.3) or
    the text lists (all_imgs.txt, all_tags.txt with caption words, all_labels.txt
    with 80 0/1 values, a 2,000-word vocabulary) and the train2014/val2014 image
    folders they reference.
    """


BUILDERS = {"mirflickr25k": SsahMirflickr25k, "nus_wide": SsahNusWide, "ms_coco": SsahMsCoco}


class TFDSImages:
    """Random access to a prepared builder's images by dataset row (array_record files)."""

    def __init__(self, builder: tfds.core.DatasetBuilder, locations: dict[int, tuple[str, int]]):
        self.builder = builder
        self.locations = locations  # dataset row -> (split, position in that split)
        self.sources: dict[str, object] = {}
        self.num_items = max(locations) + 1 if locations else 0

    def _source(self, split: str):
        if split not in self.sources:
            self.sources[split] = self.builder.as_data_source(split)
        return self.sources[split]

    def read(self, indices: np.ndarray, size: int) -> np.ndarray:

        rows = []
        for index in np.asarray(indices):
            split, position = self.locations[int(index)]
            rows.append(self._source(split)[position]["image"])
        return resize_uint8(np.stack(rows).astype(np.uint8), size)

    def describe(self) -> str:
        return f"TFDS {self.builder.name} images ({self.num_items} rows, read by index from disk)"


def builder_for(dataset: str, data_dir: str, split_seed: int = 0) -> tfds.core.DatasetBuilder:
    """The builder of ``dataset`` with the protocol split of ``split_seed``."""
    if dataset not in BUILDERS:
        raise UserError(f"no TFDS builder for {dataset!r}; use one of {', '.join(BUILDERS)}")
    builder_cls = BUILDERS[dataset]
    # Seed 0 is the registered config (pass it by name); other seeds are custom configs.
    config = "seed0" if split_seed == 0 else SplitConfig(split_seed=split_seed)
    return builder_cls(config=config, data_dir=data_dir, file_format="array_record")


def prepare(dataset: str, *, manual_dir: str, data_dir: str, split_seed: int = 0) -> str:
    """Build the TFDS copy (TFDS writes to a temporary folder and renames it when done)."""

    if not os.path.isdir(manual_dir):
        raise UserError(f"`manual_dir` {manual_dir} does not exist")
    builder = builder_for(dataset, data_dir, split_seed)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
    )
    return str(builder.data_path)


def load_prepared(dataset: str, data_dir: str, split_seed: int = 0):
    """A :class:`CrossModalDataset` over a prepared copy: texts and labels in memory,
    images read from disk by index; its split is the builder's."""

    builder = builder_for(dataset, data_dir, split_seed)
    if not builder.is_prepared():
        raise UserError(
            f"{dataset} (split seed {split_seed}) is not prepared under {data_dir}; "
            f"run ssah-prepare --dataset={dataset} --manual_dir=... --data_dir={data_dir}"
        )
    rows: dict[int, dict] = {}
    locations: dict[int, tuple[str, int]] = {}
    split_index = {}
    for split in ("query", "database", "train"):
        # Texts and labels only: the image bytes are skipped, not decoded.
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
    texts = np.zeros((n, builder.TEXT_DIM), np.float32)
    labels = np.zeros((n, builder.NUM_LABELS), np.float32)
    for index, row in rows.items():
        texts[index], labels[index] = row["text"], row["labels"]
    # array_record keeps write order, so positions above index the data source directly.
    data = CrossModalDataset(
        name=dataset,
        labels=labels,
        texts=texts,
        images=TFDSImages(builder, locations),
        predefined_split=(split_index["query"], split_index["train"], split_index["database"]),
        source=str(builder.data_path),
    )
    return validate(data, str(builder.data_path))
