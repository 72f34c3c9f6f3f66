"""One entry point from (dataset name, path) to a validated dataset and its split."""

from __future__ import annotations

import dataclasses
import os

from absl import logging

from ssah_tf.data.dataset import (
    CrossModalDataset,
    FileImages,
    check_pictures,
    drop_items,
    validate,
)
from ssah_tf.data.mfeat import read_mfeat
from ssah_tf.data.pictures import background_colour
from ssah_tf.data.protocols import Split, checked_split, default_protocol, load_split, make_split
from ssah_tf.data.readers import detect_and_read, read_feature_file
from ssah_tf.data.synthetic import make_demo_dataset
from ssah_tf.errors import UserError
from ssah_tf.fields import check_fields, setting
from ssah_tf.vocabulary import DATASETS


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data is and how to split it."""

    dataset: str = setting(
        "demo",
        "Dataset: the embedded demo, a protocol dataset, mfeat digits, npz (your own "
        "feature file) or collection (your own pictures and words: text lists, a .csv / "
        ".jsonl manifest, an .npz, or a copy prepared by ssah-prepare; data/README.md).",
        choices=DATASETS,
    )
    data_path: str | None = setting(None, "Dataset file or folder (.mat, .npz, text-list folder).")
    data_dir: str | None = setting(
        None,
        "A copy prepared by ssah-prepare (the folder it printed; pictures streamed from disk).",
    )
    image_root: str | None = setting(
        None,
        "Folder the picture paths of all_imgs.txt or a manifest are relative to "
        "(default: the list's own folder).",
    )
    allow_images_outside_root: bool = setting(
        False,
        "Accept picture paths that lead outside the image folder (../ or absolute paths); "
        "refused by default so a list cannot reach files elsewhere.",
    )
    image_background: str = setting(
        "white",
        "Colour transparent pictures are composited on: white, black, gray or #rrggbb.",
    )
    on_error: str = setting(
        "fail",
        "An unreadable picture: fail (one line naming the file and its list line) or "
        "skip its item (counted in a warning).",
        choices=("fail", "skip"),
    )
    vocab_file: str | None = setting(
        None, "Tag vocabulary for text lists (default: found in the folder)."
    )
    split_seed: int = setting(
        0,
        "Seed of the query/train/database permutation and of the validation queries.",
        rule="non_negative_int",
    )
    split_file: str | None = setting(
        None,
        "Reuse a saved split (.npz with query_index, "
        "train_index, database_index, optional validation_index), "
        "e.g. another run's split.npz.",
    )
    query_size: int | None = setting(
        None, "Queries (default: the dataset's protocol).", rule="positive_int"
    )
    train_size: int | None = setting(
        None, "Training items, drawn from the database.", rule="positive_int"
    )
    database_size: int | None = setting(
        None, "Database items (default: all non-queries).", rule="positive_int"
    )
    demo_items: int = setting(2000, "Demo: number of items.", rule="positive_int")
    demo_labels: int = setting(8, "Demo: number of labels.", rule="positive_int")
    demo_image_size: int = setting(32, "Demo: image side in pixels.", rule="positive_int")
    demo_vocab: int = setting(
        200, "Demo: tag vocabulary size (text dimension).", rule="positive_int"
    )
    demo_seed: int = setting(0, "Demo: generator seed.", rule="non_negative_int")
    allow_query_overlap: bool = setting(
        False,
        "Accept a split whose queries are also training "
        "or database items (a leak: refused unless this is "
        "set).",
    )

    def __post_init__(self):
        check_fields(self)


def data_label(dataset: str, data_path: str | None) -> str:
    """A data set's name in tables: its name, and for ``npz`` (whose file is the data set)
    the file's name too (npz:kar_zer.npz)."""
    if dataset in ("npz", "collection") and data_path:
        return f"{dataset}:{os.path.basename(os.path.normpath(data_path))}"
    return dataset


def load_dataset(config: DataConfig) -> CrossModalDataset:
    """Read (or generate) the dataset named by ``config``; pictures read from files are
    each decoded once here (unreadable ones fail or are skipped, ``on_error``)."""
    if config.dataset not in DATASETS:
        raise UserError(f"unknown `dataset={config.dataset}`; use one of {', '.join(DATASETS)}")
    background = background_colour(config.image_background)
    if config.dataset == "demo":
        return make_demo_dataset(
            num_items=config.demo_items,
            num_labels=config.demo_labels,
            image_size=config.demo_image_size,
            vocab_size=config.demo_vocab,
            seed=config.demo_seed,
        )
    if config.data_dir:
        from ssah_tf.data.tfds_builders import load_prepared  # TFDS: only for prepared copies

        return load_prepared(config)
    if not config.data_path:
        raise UserError(
            f"`dataset={config.dataset}` needs `data_path` or `data_dir` (see data/README.md)"
        )
    if config.dataset == "npz":
        return read_feature_file(config.data_path, name="npz", vocab_file=config.vocab_file)
    if config.dataset == "mfeat":
        return read_mfeat(config.data_path)
    data = detect_and_read(
        config.data_path,
        name=collection_name(config) if config.dataset == "collection" else config.dataset,
        image_root=config.image_root,
        allow_images_outside_root=config.allow_images_outside_root,
        vocab_file=config.vocab_file,
        background=background,
    )
    if isinstance(data.images, FileImages):
        bad = check_pictures(data.images, config.on_error)
        if bad:
            data = validate(drop_items(data, bad), data.source)
    return data


def collection_name(config: DataConfig) -> str:
    """A collection's name: its folder's or file's (emoji for .../emoji/)."""
    return path_name(config.data_path or config.data_dir or "collection")


def path_name(path: str) -> str:
    """A folder's or file's name without extension (emoji for .../emoji/)."""
    stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
    return stem if stem not in ("", ".") else "collection"


def resolve_split(data: CrossModalDataset, config: DataConfig) -> Split:
    """The split to use: --split_file, else the dataset's own indices, else a seeded protocol."""
    if config.split_file:
        split = load_split(
            config.split_file, data.num_items, allow_overlap=config.allow_query_overlap
        )
        logging.debug("split from %s: %s", config.split_file, split.sizes())
        return split
    if data.predefined_split is not None and config.query_size is None:
        query, train, database = data.predefined_split
        return checked_split(
            query,
            train,
            database,
            num_items=data.num_items,
            where=f"{data.source or data.name} (its own split)",
            allow_overlap=config.allow_query_overlap,
        )
    protocol = default_protocol(data.name, data.num_items)

    def chosen(value, default):
        return default if value is None else value

    query_size = chosen(config.query_size, protocol.query)
    return make_split(
        data.num_items,
        query_size=query_size,
        # A default never exceeds what the queries leave (a --query_size of one's own).
        train_size=chosen(config.train_size, min(protocol.train, data.num_items - query_size)),
        database_size=chosen(config.database_size, protocol.database),
        seed=config.split_seed,
    )


def split_path(run_dir: str) -> str:
    return os.path.join(run_dir, "split.npz")
