"""Reopening a finished (or running) training run from its directory."""

from __future__ import annotations

import json
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
    if not os.path.isfile(path):
        raise UserError(f"{model_dir} has no config.json; is it a ssah-train run directory?")
    with open(path) as f:
        saved = json.load(f)
    data = load_dataset(DataConfig(**saved["data"]))
    split = load_split(split_path(model_dir), data.num_items)
    run = dict(saved["run"], modalities=tuple(saved["run"]["modalities"]), **run_overrides)
    config = TrainConfig(ssah=from_dict(saved["ssah"]), schedule=schedule_from_dict(saved["schedule"]),
                         run=RunConfig(**run))
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
