"""Query / train / database protocols and seeded, saved, reusable splits (SPEC 5)."""

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


def load_split(path: str, num_items: int) -> Split:
    """Read a split written by :func:`save_split` (or by another implementation)."""
    if not os.path.isfile(path):
        raise UserError(f"split file {path} does not exist; check --split_file")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("query_index", "train_index", "database_index") if k not in f.files]
            if missing:
                raise UserError(f"split file {path} lacks {', '.join(missing)} (keys: {', '.join(f.files)})")
            arrays = [np.asarray(f[k]).astype(np.int64).ravel()
                      for k in ("query_index", "train_index", "database_index")]
            seed = int(f["seed"]) if "seed" in f.files else None
    except (OSError, ValueError) as error:
        raise UserError(f"split file {path} is not a readable .npz ({error})") from None
    for name, index in zip(("query_index", "train_index", "database_index"), arrays):
        if index.size and (index.min() < 0 or index.max() >= num_items):
            raise UserError(f"split file {path}: {name} has indices outside [0, {num_items}); "
                            "was it made for another dataset?")
    return Split(*arrays, seed=None if seed == -1 else seed)
