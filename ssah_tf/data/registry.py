"""One entry point from (dataset name, path) to a validated dataset and its split."""

from __future__ import annotations

import dataclasses
import os

from absl import logging

from ssah_tf.data.dataset import CrossModalDataset
from ssah_tf.data.protocols import Split, checked_split, default_protocol, load_split, make_split
from ssah_tf.data.readers import detect_and_read, read_feature_file
from ssah_tf.data.synthetic import make_demo_dataset
from ssah_tf.errors import UserError

DATASETS = ("demo", "mirflickr25k", "nus_wide", "ms_coco", "mfeat", "npz")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data is and how to split it (from CLI flags)."""

    dataset: str = "demo"
    data_path: str | None = None
    data_dir: str | None = None  # prepared TFDS copies (ssah-prepare)
    image_root: str | None = None
    vocab_file: str | None = None
    split_seed: int = 0
    split_file: str | None = None
    query_size: int | None = None
    train_size: int | None = None
    database_size: int | None = None
    demo_items: int = 2000
    demo_labels: int = 8
    demo_image_size: int = 32
    demo_vocab: int = 200
    demo_seed: int = 0
    allow_query_overlap: bool = False


def load_dataset(config: DataConfig) -> CrossModalDataset:
    """Read (or generate) the dataset named by ``config``."""
    if config.dataset not in DATASETS:
        raise UserError(f"unknown --dataset={config.dataset}; use one of {', '.join(DATASETS)}")
    if config.dataset == "demo":
        return make_demo_dataset(num_items=config.demo_items, num_labels=config.demo_labels,
                                 image_size=config.demo_image_size, vocab_size=config.demo_vocab,
                                 seed=config.demo_seed)
    if config.data_dir:
        from ssah_tf.data.tfds_builders import load_prepared
        return load_prepared(config.dataset, config.data_dir, config.split_seed)
    if not config.data_path:
        raise UserError(f"--dataset={config.dataset} needs --data_path or --data_dir "
                        "(see data/README.md)")
    if config.dataset == "npz":
        return read_feature_file(config.data_path, name="npz")
    if config.dataset == "mfeat":
        from ssah_tf.data.mfeat import read_mfeat
        return read_mfeat(config.data_path)
    return detect_and_read(config.data_path, name=config.dataset, image_root=config.image_root,
                           vocab_file=config.vocab_file)


def resolve_split(data: CrossModalDataset, config: DataConfig) -> Split:
    """The split to use: --split_file, else the dataset's own indices, else a seeded protocol."""
    if config.split_file:
        split = load_split(config.split_file, data.num_items,
                           allow_overlap=config.allow_query_overlap)
        logging.debug("split from %s: %s", config.split_file, split.sizes())
        return split
    if data.predefined_split is not None and config.query_size is None:
        query, train, database = data.predefined_split
        return checked_split(query, train, database, num_items=data.num_items,
                             where=f"{data.source or data.name} (its own split)",
                             allow_overlap=config.allow_query_overlap)
    protocol = default_protocol(data.name, data.num_items)

    def chosen(value, default):
        return default if value is None else value

    return make_split(data.num_items,
                      query_size=chosen(config.query_size, protocol.query),
                      train_size=chosen(config.train_size, protocol.train),
                      database_size=chosen(config.database_size, protocol.database),
                      seed=config.split_seed)


def split_path(run_dir: str) -> str:
    return os.path.join(run_dir, "split.npz")
