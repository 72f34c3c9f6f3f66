"""Query / train / database protocols and seeded, saved, reusable splits (docs/method.md §5)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ssah_tf.atomic import write_atomic
from ssah_tf.errors import UserError


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Default sizes; database None means every item that is not a query."""

    query: int
    train: int
    database: int | None = None


PROTOCOLS = {
    "mirflickr25k": Protocol(query=2000, train=10000),  # 20,015 pairs -> database 18,015
    "nus_wide": Protocol(query=2100, train=10500),  # 195,834 pairs -> database 193,734
    "ms_coco": Protocol(query=5000, train=10000),
    "demo": Protocol(query=200, train=1000),
    "mfeat": Protocol(query=200, train=1000),
}


@dataclasses.dataclass(frozen=True)
class Split:
    """Index arrays into the dataset's rows; train is a subset of database."""

    query: np.ndarray
    train: np.ndarray
    database: np.ndarray
    seed: int | None = None

    def sizes(self) -> str:
        return f"query {len(self.query)}, train {len(self.train)}, database {len(self.database)}"


def checked_split(query, train, database, *, num_items: int, where: str,
                  allow_overlap: bool = False, seed: int | None = None) -> Split:
    """A Split from three index arrays after checking them; UserError naming ``where``.

    Indices must be integers in [0, num_items) without repeats; query and train must
    not be empty; a query that is also a training or database item leaks the answer
    into the ranking, so it is refused unless ``allow_overlap`` (then warned).
    """
    arrays = {}
    for name, index in (("query_index", query), ("train_index", train),
                        ("database_index", database)):
        index = np.asarray(index)
        if index.dtype.kind not in "iu":
            raise UserError(f"{where}: {name} has dtype {index.dtype}; indices must be integers "
                            "(save them as int64)")
        index = index.astype(np.int64).ravel()
        if index.size and (index.min() < 0 or index.max() >= num_items):
            raise UserError(f"{where}: {name} has indices outside [0, {num_items}); was it made "
                            "for another dataset?")
        if len(np.unique(index)) != len(index):
            repeated = int(len(index) - len(np.unique(index)))
            raise UserError(f"{where}: {name} repeats {repeated} indices; each item may appear "
                            "once")
        arrays[name] = index
    for name in ("query_index", "train_index", "database_index"):
        if arrays[name].size == 0:
            raise UserError(f"{where}: {name} is empty; a split needs queries, training items "
                            "and a database")
    leaked = np.intersect1d(arrays["query_index"],
                            np.union1d(arrays["train_index"], arrays["database_index"]))
    if leaked.size:
        message = (f"{where}: {leaked.size} queries are also training or database items "
                   f"(e.g. item {int(leaked[0])}), which leaks them into the ranking")
        if not allow_overlap:
            raise UserError(message + "; fix the split or pass --allow_query_overlap")
        from absl import logging

        logging.warning("%s (--allow_query_overlap)", message)
    return Split(arrays["query_index"], arrays["train_index"], arrays["database_index"],
                 seed=seed)


def default_protocol(name: str, num_items: int) -> Protocol:
    """The dataset's protocol, or 10% queries and up to 10,000 training items."""
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    query = max(1, min(2000, num_items // 10))
    return Protocol(query=query, train=min(10000, num_items - query))


def make_split(num_items: int, *, query_size: int, train_size: int,
               database_size: int | None = None, seed: int = 0) -> Split:
    """Seeded permutation: first ``query_size`` items are queries, the rest the database;
    the training items are the first ``train_size`` database items."""
    if query_size <= 0 or train_size <= 0:
        raise UserError("--query_size and --train_size must be positive")
    if query_size >= num_items:
        raise UserError(f"--query_size {query_size} leaves no database: the split sizes exceed "
                        f"the {num_items} items of the dataset")
    rest = num_items - query_size
    database_size = rest if database_size is None else database_size
    if query_size + database_size > num_items:
        raise UserError(f"split sizes query {query_size} + database {database_size} exceed the "
                        f"{num_items} items of the dataset; lower --query_size/--database_size")
    if train_size > database_size:
        raise UserError(f"--train_size {train_size} is larger than the database "
                        f"({database_size} items); training items are drawn from the database")
    perm = np.random.default_rng(seed).permutation(num_items)
    query = perm[:query_size]
    database = perm[query_size:query_size + database_size]
    return Split(query=query, train=database[:train_size], database=database, seed=seed)


def save_split(split: Split, path: str) -> None:
    """Write the split as .npz (query_index, train_index, database_index), atomically."""
    write_atomic(path, lambda f: np.savez(
        f, query_index=split.query, train_index=split.train, database_index=split.database,
        seed=np.array(-1 if split.seed is None else split.seed)), binary=True)


def load_split(path: str, num_items: int, *, allow_overlap: bool = False) -> Split:
    """Read a split written by :func:`save_split` (or by another implementation)."""
    from ssah_tf.data.files import load_npz

    if not os.path.isfile(path):
        raise UserError(f"split file {path} does not exist; check --split_file")
    arrays = load_npz(path, "split file")
    missing = [k for k in ("query_index", "train_index", "database_index") if k not in arrays]
    if missing:
        raise UserError(f"split file {path} lacks {', '.join(missing)} "
                        f"(keys: {', '.join(sorted(arrays)) or 'none'})")
    seed = int(arrays["seed"]) if "seed" in arrays and np.asarray(arrays["seed"]).size == 1 else None
    return checked_split(arrays["query_index"], arrays["train_index"], arrays["database_index"],
                         num_items=num_items, where=f"split file {path}",
                         allow_overlap=allow_overlap, seed=None if seed == -1 else seed)
