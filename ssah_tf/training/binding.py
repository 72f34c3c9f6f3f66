"""A run bound to its data and split.

config.json (and results.json's ``setup``) carry ``binding``: the data's fingerprint
and the split's SHA-256; every checkpoint holds the split's index arrays. A resume,
an evaluation, an export or ``load_run`` compares all three with what it loads and
refuses a mismatch in one line, unless ``allow_data_change`` says the change is
deliberate (then it is logged and recorded with the results). Runs made before the
binding existed keep working, with a note.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from absl import logging

from ssah_tf.data.fingerprint import data_fingerprint, fingerprint_changes
from ssah_tf.errors import UserError
from ssah_tf.evaluation.protocol import split_sha256

BINDING = "binding"
# The split's index arrays in every training checkpoint (training.state.TrainingState).
CHECKPOINT_SPLIT = {
    "train": "split_train",
    "query": "split_query",
    "database": "split_database",
}


def binding_record(data, split) -> dict[str, Any]:
    """config.json's ``binding``: what the run was trained on."""
    return {"data": data_fingerprint(data), "split_sha256": split_sha256(split)}


def checkpoint_split(path: str) -> dict[str, np.ndarray] | None:
    """The split index arrays a training checkpoint holds (None: it holds none, e.g. a
    checkpoint imported from the release)."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(path)
    except (tf.errors.OpError, ValueError):
        return None  # unreadable: the restore that follows says so
    names = set(reader.get_variable_to_shape_map())
    arrays = {}
    for part, name in CHECKPOINT_SPLIT.items():
        key = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
        if key not in names:
            return None
        try:
            arrays[part] = reader.get_tensor(key)
        except (tf.errors.OpError, ValueError, IndexError):
            return None  # damaged: the restore that follows names an intact checkpoint
    return arrays


def split_matches(stored: dict[str, np.ndarray], split) -> bool:
    return all(
        np.array_equal(np.asarray(stored[part]), np.asarray(getattr(split, part), np.int64))
        for part in CHECKPOINT_SPLIT
    )


def binding_problems(
    model_dir: str, record: dict, data, split, checkpoint: str | None
) -> list[tuple[str, str]]:
    """(kind, what) for each way the run's records disagree with the data, split and
    checkpoint given (empty: all agree). A run without a binding record gets a logged note."""
    problems: list[tuple[str, str]] = []
    binding = record.get(BINDING)
    split_file = os.path.join(model_dir, "split.npz")
    if isinstance(binding, dict):
        changes = fingerprint_changes(binding.get("data") or {}, data_fingerprint(data))
        if changes:
            changed = ", ".join(changes)
            problems.append(
                ("data", f"the data differs from what the run was trained on ({changed})")
            )
        if binding.get("split_sha256") not in (None, split_sha256(split)):
            problems.append(("split", f"{split_file} is not the split recorded in config.json"))
    else:
        logging.warning(
            "%s was made before runs recorded their data and split: they cannot be "
            "checked against it",
            model_dir,
        )
    if checkpoint is not None:
        stored = checkpoint_split(checkpoint)
        if stored is not None and not split_matches(stored, split):
            problems.append(
                ("split", f"checkpoint {checkpoint} was trained on another split than {split_file}")
            )
    return problems


def check_binding(
    model_dir: str,
    record: dict,
    data,
    split,
    checkpoint: str | None,
    *,
    allow_data_change: bool,
    resuming: bool = False,
) -> list[str]:
    """Refuse (UserError, one line) what :func:`binding_problems` finds, unless
    ``allow_data_change``; returns the problems allowed, for the results. A resume can
    never continue on another split: the checkpoint's memory banks are the old one's."""
    found = binding_problems(model_dir, record, data, split, checkpoint)
    if not found:
        return []
    problems = [text for _, text in found]
    split_changed = any(kind == "split" for kind, _ in found)
    if resuming and split_changed:
        raise UserError(
            f"{model_dir}: {'; '.join(problems)}; a run resumes only on its own split: "
            "put its split.npz back, or start a new `model_dir`"
        )
    if not allow_data_change:
        raise UserError(
            f"{model_dir}: {'; '.join(problems)}; restore the run's own data and split.npz, "
            "or pass `allow_data_change` if the change is deliberate (it is recorded)"
        )
    for problem in problems:
        logging.warning("allow_data_change: %s", problem)
    return problems
