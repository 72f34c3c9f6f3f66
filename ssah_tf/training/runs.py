"""Reopening a finished (or running) training run from its directory."""

from __future__ import annotations

import os

from ssah_tf.errors import UserError


def trainer_from_run(model_dir: str, **run_overrides):
    """Rebuild the Trainer of a run directory from its config.json and split.npz
    (``run_overrides``: RunConfig fields to change, e.g. ``mixed_precision``)."""
    import tensorflow as tf

    from ssah_tf.config import from_dict
    from ssah_tf.data.protocols import load_split
    from ssah_tf.data.registry import DataConfig, load_dataset, split_path
    from ssah_tf.training.schedules import schedule_from_dict
    from ssah_tf.training.trainer import RunConfig, TrainConfig, Trainer

    path = os.path.join(model_dir, "config.json")
    if not os.path.isdir(model_dir):
        raise UserError(f"--model_dir={model_dir} is not a directory")
    if not os.path.isfile(path):
        raise UserError(f"{model_dir} has no config.json; is it a ssah-train run directory?")
    saved = read_json(path)
    missing = [k for k in ("ssah", "schedule", "run", "data")
               if not isinstance(saved, dict) or not isinstance(saved.get(k), dict)]
    if missing:
        raise UserError(f"{path} is damaged (no {', '.join(missing)} record); restore it from a "
                        "backup")
    try:
        data_config = DataConfig(**saved["data"])
    except (KeyError, TypeError) as error:
        raise UserError(f"{path} is damaged (no valid 'data' record: {error})") from None
    data = load_dataset(data_config)
    split = load_split(split_path(model_dir), data.num_items,
                       allow_overlap=data_config.allow_query_overlap)
    # Everything of a run is found relative to the directory given, so a copied or
    # moved run reads its own checkpoints (not those at the path it was trained in).
    try:
        run = dict(saved["run"], modalities=tuple(saved["run"]["modalities"]), model_dir=model_dir,
                   **run_overrides)
        config = TrainConfig(ssah=from_dict(saved["ssah"]),
                             schedule=schedule_from_dict(saved["schedule"]), run=RunConfig(**run))
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path} is damaged or from an unknown version ({type(error).__name__}: "
                        f"{error})") from None
    return Trainer(config, data, split, tf.distribute.OneDeviceStrategy("/cpu:0")
                   if not tf.config.list_logical_devices("GPU")
                   else tf.distribute.OneDeviceStrategy("/gpu:0"))


def restore_networks(trainer, which: str) -> str:
    """Load network weights from the run's best or latest checkpoint, or a path."""
    import tensorflow as tf

    if which in ("best", "latest"):
        folder = os.path.join(trainer.config.run.model_dir,
                              "best" if which == "best" else "checkpoints")
        path = tf.train.latest_checkpoint(folder)
    else:
        path = which
    if not path or not tf.io.gfile.exists(path + ".index"):
        raise UserError(f"no {which} checkpoint found for {trainer.config.run.model_dir}")
    tf.train.Checkpoint(**trainer.networks.checkpoint_items()).read(path).expect_partial()
    return path


# ----------------------------------------------------------------------------- the lock
class RunLock:
    """An exclusive lock on a run directory for the life of the process.

    ``fcntl.flock`` on ``<dir>/.lock``: the OS drops it when the process ends in any
    way (exit, crash, SIGKILL), so it is never left stale; the file only records who
    holds it, for the message a second writer gets.
    """

    FILENAME = ".lock"

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, self.FILENAME)
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        import fcntl
        import socket
        import time

        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 400).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"{self.directory} is in use by another ssah-train ({holder}); wait "
                            "for it to finish or choose another --model_dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"host {socket.gethostname()}, pid {os.getpid()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


# ----------------------------------------------------------------------------- records
CHANGES_FILE = "config_changes.json"


def config_differences(stored: dict, new: dict, prefix: str = "") -> dict[str, tuple]:
    """{dotted field: (stored, new)} for every leaf that differs (lists as tuples)."""
    out = {}
    for key in sorted(set(stored) | set(new)):
        a, b = stored.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(config_differences(a, b, name + "."))
        elif _plain(a) != _plain(b):
            out[name] = (a, b)
    return out


def _plain(value):
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def record_config_changes(model_dir: str, changes: dict[str, tuple], *, step: int) -> None:
    """Append a dated record of the settings a resumed run changed (config.json, the
    run's original settings, is never rewritten)."""
    import json
    import time

    from ssah_tf.atomic import write_atomic

    path = os.path.join(model_dir, CHANGES_FILE)
    history = []
    if os.path.isfile(path):
        history = read_json(path)
    history.append({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "global_step": step,
                    "changes": {k: {"was": a, "now": b} for k, (a, b) in changes.items()}})
    write_atomic(path, lambda f: json.dump(history, f, indent=1, sort_keys=True))


def read_json(path: str):
    """A run file's JSON; UserError naming the file when it does not parse."""
    import json

    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as error:
        raise UserError(f"{path} is damaged (not valid JSON: {error}); restore it from a backup "
                        "or remove it") from None
