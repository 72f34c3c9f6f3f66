"""Query / train / database protocols and seeded, saved, reusable splits (docs/method.md §5)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from absl import logging

from ssah_tf.atomic import write_atomic
from ssah_tf.data.files import load_npz
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
    """Index arrays into the dataset's rows; train is a subset of database.

    ``validation`` (or None): database items that are not training items, the queries
    model selection uses instead of the test queries (:func:`with_validation`); they
    are searched against the rest of the database.
    """

    query: np.ndarray
    train: np.ndarray
    database: np.ndarray
    seed: int | None = None
    validation: np.ndarray | None = None
    # Where the validation queries came from: 'database' (items outside the training
    # set), 'train' (held out of the training items), or 'file' (a split file said so).
    validation_from: str | None = None

    def sizes(self) -> str:
        sizes = f"query {len(self.query)}, train {len(self.train)}, database {len(self.database)}"
        if self.validation is not None:
            sizes += f", validation {len(self.validation)}"
        return sizes

    @property
    def validation_database(self) -> np.ndarray:
        """The database the validation queries search: the database without them."""
        if self.validation is None:
            raise ValueError("this split has no validation queries")
        return self.database[~np.isin(self.database, self.validation)]


def checked_split(
    query,
    train,
    database,
    *,
    num_items: int,
    where: str,
    allow_overlap: bool = False,
    seed: int | None = None,
    validation=None,
    validation_from: str | None = None,
) -> Split:
    """A Split from three index arrays (four with ``validation``) after checking them;
    UserError naming ``where``.

    Indices must be integers in [0, num_items) without repeats; query and train must
    not be empty; a query that is also a training or database item leaks the answer
    into the ranking, so it is refused unless ``allow_overlap`` (then warned).
    Validation items must be database items that are neither queries nor training items.
    """
    arrays = {}
    named = [("query_index", query), ("train_index", train), ("database_index", database)]
    if validation is not None:
        named.append(("validation_index", validation))
    for name, index in named:
        index = np.asarray(index)
        if index.dtype.kind not in "iu":
            raise UserError(
                f"{where}: {name} has dtype {index.dtype}; indices must be integers "
                "(save them as int64)"
            )
        index = index.astype(np.int64).ravel()
        if index.size and (index.min() < 0 or index.max() >= num_items):
            raise UserError(
                f"{where}: {name} has indices outside [0, {num_items}); was it made "
                "for another dataset?"
            )
        if len(np.unique(index)) != len(index):
            repeated = int(len(index) - len(np.unique(index)))
            raise UserError(
                f"{where}: {name} repeats {repeated} indices; each item may appear once"
            )
        arrays[name] = index
    for name in ("query_index", "train_index", "database_index"):
        if arrays[name].size == 0:
            raise UserError(
                f"{where}: {name} is empty; a split needs queries, training items and a database"
            )
    leaked = np.intersect1d(
        arrays["query_index"], np.union1d(arrays["train_index"], arrays["database_index"])
    )
    if leaked.size:
        message = (
            f"{where}: {leaked.size} queries are also training or database items "
            f"(e.g. item {int(leaked[0])}), which leaks them into the ranking"
        )
        if not allow_overlap:
            raise UserError(message + "; fix the split or pass `allow_query_overlap`")

        logging.warning("%s (`allow_query_overlap`)", message)
    held_out = arrays.get("validation_index")
    if held_out is not None:
        if held_out.size == 0:
            held_out = None
        elif not np.all(np.isin(held_out, arrays["database_index"])) or np.any(
            np.isin(held_out, np.union1d(arrays["train_index"], arrays["query_index"]))
        ):
            raise UserError(
                f"{where}: validation_index must hold database items that are "
                "neither queries nor training items; fix the split file or "
                "remove its validation_index"
            )
    return Split(
        arrays["query_index"],
        arrays["train_index"],
        arrays["database_index"],
        seed=seed,
        validation=held_out,
        validation_from=None if held_out is None else (validation_from or "file"),
    )


def default_protocol(name: str, num_items: int) -> Protocol:
    """The dataset's protocol, or 10% queries and up to 10,000 training items."""
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    query = max(1, min(2000, num_items // 10))
    return Protocol(query=query, train=min(10000, num_items - query))


def make_split(
    num_items: int,
    *,
    query_size: int,
    train_size: int,
    database_size: int | None = None,
    seed: int = 0,
) -> Split:
    """Seeded permutation: first ``query_size`` items are queries, the rest the database;
    the training items are the first ``train_size`` database items."""
    if num_items < 2:
        raise UserError(
            f"the data set has {num_items} item{'s' * (num_items != 1)}; a split needs at "
            "least 2 (a query and a database item to train on)"
        )
    if query_size <= 0 or train_size <= 0:
        raise UserError(
            f"`query_size` ({query_size}) and `train_size` ({train_size}) must be positive "
            f"(the data set has {num_items} items)"
        )
    if query_size >= num_items:
        raise UserError(
            f"`query_size` {query_size} leaves no database: the split sizes exceed "
            f"the {num_items} items of the dataset"
        )
    rest = num_items - query_size
    database_size = rest if database_size is None else database_size
    if query_size + database_size > num_items:
        raise UserError(
            f"split sizes query {query_size} + database {database_size} exceed the "
            f"{num_items} items of the dataset; lower `query_size`/`database_size`"
        )
    if train_size > database_size:
        raise UserError(
            f"`train_size` {train_size} is larger than the database "
            f"({database_size} items); training items are drawn from the database"
        )
    perm = np.random.default_rng(seed).permutation(num_items)
    query = perm[:query_size]
    database = perm[query_size : query_size + database_size]
    return Split(query=query, train=database[:train_size], database=database, seed=seed)


def automatic_validation(split: Split) -> tuple[int, str]:
    """How many validation queries a run holds out when not told, and from where
    ('database' or 'train'; docs/training.md "Model selection").

    As many as there are test queries, drawn from the database items outside the
    training set, when at least min(queries, train // 10) of those exist; otherwise
    (a database that is its training set) train // 10 training items, at most as many
    as there are test queries, are held out of training. Size 0 when the split is too
    small.
    """
    queries, train = len(split.query), len(split.train)
    outside = len(np.setdiff1d(split.database, split.train))
    smallest = min(queries, train // 10)
    if outside and outside >= smallest:
        return min(queries, outside), "database"
    return smallest, "train"


def automatic_validation_size(split: Split) -> int:
    """The size of :func:`automatic_validation`."""
    return automatic_validation(split)[0]


def with_validation(split: Split, size: int, *, seed: int, source: str | None = None) -> Split:
    """``split`` with ``size`` validation queries drawn (seeded by ``seed``) from
    ``source``: 'database', the database items outside the training set (the test
    protocol's queries, training set and database stay as they are), or 'train', the
    training items, which then leave the training set (the database keeps them). By
    default the database items outside training when there are any, else the training
    items. ``size`` 0: no validation.
    """
    if size <= 0:
        return dataclasses.replace(split, validation=None, validation_from=None)
    outside = np.setdiff1d(split.database, split.train)
    source = source or ("database" if len(outside) else "train")
    rng = np.random.default_rng(seed)
    if source == "database":
        if size > len(outside):
            raise UserError(
                f"`val_size={size}` exceeds the {len(outside)} database items "
                "outside the training set, where validation queries come from; "
                "lower it"
            )
        return dataclasses.replace(
            split,
            validation=np.sort(rng.choice(outside, size, replace=False)),
            validation_from="database",
        )
    if size >= len(split.train):
        raise UserError(
            f"`val_size={size}`: validation queries are held out of the "
            f"{len(split.train)} training items here, and that leaves none to "
            "train on; lower it"
        )
    held_out = np.sort(rng.choice(split.train, size, replace=False))
    return dataclasses.replace(
        split,
        train=split.train[~np.isin(split.train, held_out)],
        validation=held_out,
        validation_from="train",
    )


def resolve_validation(
    split: Split, requested: int | None, *, seed: int, automatic: bool = True
) -> Split:
    """The split's validation queries as a new run (or ssah-baseline) uses them: a split
    file's own; else ``requested`` of them, or with None the automatic size (when
    ``automatic``, else none), drawn by :func:`with_validation` with ``seed``."""
    if split.validation is not None:
        if requested is not None and requested != len(split.validation):
            raise UserError(
                f"`val_size={requested}` disagrees with the {len(split.validation)} "
                "validation queries of `split_file`; drop `val_size` (the file's "
                "stand) or use a split file without them"
            )
        return split
    if requested is None:
        if not automatic:
            return split
        size, source = automatic_validation(split)
        return with_validation(split, size, seed=seed, source=source)
    return with_validation(split, requested, seed=seed)


def legacy_validation(split: Split, size: int) -> Split:
    """The validation queries of a run recorded before split.npz kept them: the last
    ``size`` database items outside the training set, in database order."""
    if split.validation is not None or not size:
        return split
    outside = split.database[~np.isin(split.database, split.train)]
    return dataclasses.replace(split, validation=outside[-size:], validation_from="database")


def save_split(split: Split, path: str) -> None:
    """Write the split as .npz (query_index, train_index, database_index and, when
    there are validation queries, validation_index), atomically."""
    arrays = dict(
        query_index=split.query,
        train_index=split.train,
        database_index=split.database,
        seed=np.array(-1 if split.seed is None else split.seed),
    )
    if split.validation is not None:
        arrays["validation_index"] = split.validation
        arrays["validation_from"] = np.array(split.validation_from or "file")
    write_atomic(path, lambda f: np.savez(f, **arrays), binary=True)


def load_split(path: str, num_items: int, *, allow_overlap: bool = False) -> Split:
    """Read a split written by :func:`save_split` (or by another implementation)."""

    if not os.path.isfile(path):
        raise UserError(f"split file {path} does not exist; check `split_file`")
    arrays = load_npz(path, "split file")
    missing = [k for k in ("query_index", "train_index", "database_index") if k not in arrays]
    if missing:
        raise UserError(
            f"split file {path} lacks {', '.join(missing)} "
            f"(keys: {', '.join(sorted(arrays)) or 'none'})"
        )
    seed = (
        int(arrays["seed"]) if "seed" in arrays and np.asarray(arrays["seed"]).size == 1 else None
    )
    return checked_split(
        arrays["query_index"],
        arrays["train_index"],
        arrays["database_index"],
        num_items=num_items,
        where=f"split file {path}",
        allow_overlap=allow_overlap,
        seed=None if seed == -1 else seed,
        validation=arrays.get("validation_index"),
        validation_from=str(arrays.get("validation_from", "file")),
    )
