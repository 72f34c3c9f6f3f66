"""Checkpoint files of a run: saving without leftovers, and refusing damaged ones.

A damaged checkpoint folder must never look empty: TensorFlow ignores an
unreadable ``checkpoint`` state file (it logs "Checkpoint ignored" and reports
no checkpoint), and a run that then "starts fresh" overwrites the real ones.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import time

import tensorflow as tf
from absl import logging

from ssah_tf.errors import UserError

STATE_FILE = "checkpoint"
_STATE_LINE = re.compile(
    r'^(model_checkpoint_path|all_model_checkpoint_paths): "[^"]*"$'
    r"|^(all_model_checkpoint_timestamps|last_preserved_timestamp): "
    r"[-+0-9.eE]+$"
)


def save_checkpoint(manager: tf.train.CheckpointManager, step: tf.Variable) -> str:
    """``manager.save`` that leaves no partial files when it fails (a full disk, say).

    TF writes a checkpoint's shards into ``<prefix>_temp`` folders (and ``*.tempstate*``
    files) and renames them when complete, so the previous checkpoints are never
    touched; a failed save only leaves those temporaries behind, and they go here.
    """
    try:
        return manager.save(checkpoint_number=step)
    except BaseException:
        folder = glob.escape(manager.directory)
        for leftover in glob.glob(os.path.join(folder, "*_temp")):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in glob.glob(os.path.join(folder, "*.tempstate*")):
            os.remove(leftover)
        raise


def checkpoint_bytes(prefix: str) -> int:
    """Bytes on disk of the checkpoint at ``prefix`` (its index and data shards)."""
    return sum(
        os.path.getsize(path)
        for path in glob.glob(glob.escape(prefix) + ".*")
        if os.path.isfile(path)
    )


def disk_use_line(prefix: str, keep: int) -> str:
    """What a run's checkpoints take: one, and at most (keep recent ones and best/)."""
    size = checkpoint_bytes(prefix)
    return (
        f"a checkpoint of this run takes {size / 1e9:.2f} GB (weights, Adam moments, memory "
        f"banks); it keeps at most {keep} in checkpoints/ (`keep_checkpoints`) and 1 in "
        f"best/: about {(keep + 1) * size / 1e9:.1f} GB"
    )


def checkpoint_prefixes(directory: str) -> list[str]:
    """Prefixes of the checkpoints in ``directory`` (having an .index), oldest first."""
    found = []
    for index in glob.glob(os.path.join(glob.escape(directory), "*.index")):
        prefix = index[: -len(".index")]
        number = re.search(r"-(\d+)$", prefix)
        found.append((int(number.group(1)) if number else -1, prefix))
    return [prefix for _, prefix in sorted(found)]


def state_file_problem(directory: str) -> str | None:
    """What is wrong with ``directory/checkpoint`` (None: a well-formed state file
    naming a checkpoint whose files exist), naming the file that is actually missing."""
    path = os.path.join(directory, STATE_FILE)
    if not os.path.exists(path):
        return f"{path} is missing"
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError):
        return f"{path} is unreadable"
    if not lines or not all(_STATE_LINE.match(line) for line in lines):
        return f"{path} is unreadable"
    latest = lines[0].split('"')[1] if lines[0].startswith("model_checkpoint_path") else None
    if latest is None:
        return f"{path} is unreadable"
    latest = latest if os.path.isabs(latest) else os.path.join(directory, latest)
    if not os.path.exists(latest + ".index"):
        return f"{latest}.index, the latest checkpoint's index that {path} names, is missing"
    return None


def state_file_readable(directory: str) -> bool:
    """Whether ``directory/checkpoint`` is a well-formed state file naming files that exist."""
    return state_file_problem(directory) is None


def check_folder(directory: str) -> None:
    """Refuse a checkpoint folder that holds checkpoint files but no readable state file."""
    has_data = bool(
        glob.glob(os.path.join(glob.escape(directory), "*.index"))
        or glob.glob(os.path.join(glob.escape(directory), "*.data-*"))
    )
    problem = state_file_problem(directory) if has_data else None
    if problem is None:
        return
    prefixes = checkpoint_prefixes(directory)
    intact = [p for p in reversed(prefixes) if is_intact(p)]
    best_dir = os.path.join(os.path.dirname(os.path.normpath(directory)), "best")
    best = [p for p in reversed(checkpoint_prefixes(best_dir)) if is_intact(p)]
    if intact:
        hint = f"resume from the newest intact one with `resume_from={intact[0]}`"
    elif best:
        hint = (
            f"no checkpoint there is intact, but {best[0]} in best/ is: evaluate or export "
            f"it, or start a new `model_dir` with `init_from={best[0]}`"
        )
    else:
        hint = "no checkpoint there is intact: start a new `model_dir` (or `init_from` another run)"
    raise UserError(
        f"{problem} although {directory} holds checkpoint files; nothing was changed: {hint}"
    )


def is_intact(prefix: str) -> bool:
    """Whether every tensor of the checkpoint at ``prefix`` can be read."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception:  # TF raises OpError, IndexError, ValueError ... here
        return False
    return True


def damaged_message(prefix: str, error: BaseException) -> str:
    """One line for a checkpoint that failed to restore, offering an intact older one."""
    directory = os.path.dirname(prefix)
    older = [p for p in reversed(checkpoint_prefixes(directory)) if p != prefix and is_intact(p)]
    hint = (
        f"the older {os.path.basename(older[0])} is intact: resume from it with "
        f"`resume_from={older[0]}`"
        if older
        else "no other checkpoint there is intact: start a new `model_dir`"
    )
    kind = type(error).__name__
    return (
        f"checkpoint {prefix} is damaged and cannot be restored ({kind}); nothing was changed: "
        f"{hint}"
    )


class RunCheckpoints:
    """A run's latest checkpoints (``checkpoints/``, the newest ``keep``) and its best
    one (``best/``), both of one ``tf.train.Checkpoint``. ``before_save`` runs before
    every save (the divergence check: nothing non-finite is written); the first save
    logs how much disk the run's checkpoints take."""

    def __init__(self, checkpoint, base: str, *, keep: int, global_step, before_save):
        for folder in ("checkpoints", "best"):
            check_folder(os.path.join(base, folder))
        self.latest_manager = tf.train.CheckpointManager(
            checkpoint, os.path.join(base, "checkpoints"), max_to_keep=keep, checkpoint_name="ckpt"
        )
        self.best_manager = tf.train.CheckpointManager(
            checkpoint, os.path.join(base, "best"), max_to_keep=1, checkpoint_name="best"
        )
        self.keep, self.global_step, self.before_save = keep, global_step, before_save
        self.last_save = time.time()
        self._disk_use_said = False

    @property
    def latest(self) -> str | None:
        return self.latest_manager.latest_checkpoint

    def save(self, reason: str) -> str:
        """A new latest checkpoint (``reason``: for the debug log)."""
        self.before_save()
        path = save_checkpoint(self.latest_manager, self.global_step)
        self.last_save = time.time()
        logging.debug("checkpoint %s (%s)", path, reason)
        if not self._disk_use_said:
            self._disk_use_said = True
            logging.info("%s", disk_use_line(path, self.keep))
        return path

    def save_best(self) -> str:
        """Keep the current state as best/."""
        self.before_save()
        return save_checkpoint(self.best_manager, self.global_step)
