"""Training state outside the networks: memory banks, cursors, the pass's batch table,
the RNG and the best metric, in one ``tf.Module``; the run's checkpoint built from it.

Resuming from any checkpoint continues exactly: a pass's batch table is drawn from
the checkpointed ``tf.random.Generator`` and stored, so even a mid-pass checkpoint
(written on SIGTERM) replays the same batches.
"""

from __future__ import annotations

import math
import os

import numpy as np
import tensorflow as tf

from ssah_tf.errors import UserError
from ssah_tf.training import checkpoints
from ssah_tf.training.banks import MemoryBanks
from ssah_tf.vocabulary import HASH_NETWORKS


class TrainingState(tf.Module):
    """Banks of the networks present, counters, pass table, RNG, best metric and split."""

    def __init__(
        self,
        *,
        strategy: tf.distribute.Strategy,
        networks: tuple[str, ...],
        num_train: int,
        steps_per_pass: int,
        batch_size: int,
        semantic_dim: int,
        bits: int,
        num_labels: int,
        bank_init: str,
        seed: int,
        split,
    ):
        super().__init__(name="training_state")
        # The RNG lives outside the strategy scope: only the eager outer loop uses it.
        self.rng = tf.random.Generator.from_seed(seed)
        with strategy.scope():
            self.banks = {}
            for network in HASH_NETWORKS:
                if network in networks:
                    self.banks[network] = MemoryBanks(
                        network,
                        num_items=num_train,
                        semantic_dim=semantic_dim,
                        bits=bits,
                        num_labels=num_labels,
                        generator=self.rng,
                        init=bank_init,
                    )
            counter = dict(dtype=tf.int64, trainable=False)
            self.epoch = tf.Variable(0, name="epoch", **counter)
            self.stage_cursor = tf.Variable(0, name="stage", **counter)
            self.pass_cursor = tf.Variable(0, name="pass", **counter)
            self.step_in_pass = tf.Variable(0, name="step_in_pass", **counter)
            self.global_step = tf.Variable(0, name="global_step", **counter)
            # The release's early-break log: the last two monitored values.
            self.monitor_log = tf.Variable([math.inf, math.inf], dtype=tf.float64, trainable=False)
            self.best_metric = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
            self.pass_table = tf.Variable(
                tf.zeros([steps_per_pass, batch_size], tf.int64), trainable=False
            )
        self.split_train = tf.Variable(np.asarray(split.train, np.int64), trainable=False)
        self.split_query = tf.Variable(np.asarray(split.query, np.int64), trainable=False)
        self.split_database = tf.Variable(np.asarray(split.database, np.int64), trainable=False)

    def checkpoint(self, networks, optimizers: dict) -> tf.train.Checkpoint:
        """The run's checkpoint: networks, each optimizer once (named after its first
        stage), banks and every counter, under the names runs have always used."""
        optimizer_items = {}
        for stage, optimizer in optimizers.items():
            optimizer_items.setdefault(id(optimizer), (f"optimizer_{stage}", optimizer))
        return tf.train.Checkpoint(
            **networks.checkpoint_items(),
            **dict(optimizer_items.values()),
            **{f"banks_{k}": v for k, v in self.banks.items()},
            epoch=self.epoch,
            stage_cursor=self.stage_cursor,
            pass_cursor=self.pass_cursor,
            step_in_pass=self.step_in_pass,
            global_step=self.global_step,
            monitor_log=self.monitor_log,
            best_metric=self.best_metric,
            pass_table=self.pass_table,
            rng=self.rng,
            split_train=self.split_train,
            split_query=self.split_query,
            split_database=self.split_database,
        )

    def position(self) -> str:
        return (
            f"epoch {int(self.epoch.numpy())}, stage {int(self.stage_cursor.numpy())}, "
            f"pass {int(self.pass_cursor.numpy())}, step {int(self.step_in_pass.numpy())}"
        )


def restore_or_initialize(
    checkpoint: tf.train.Checkpoint,
    manager: tf.train.CheckpointManager,
    networks,
    *,
    resume: bool,
    init_from: str | None,
    resume_from: str | None,
    model_dir: str,
) -> tuple[bool, str]:
    """(resumed?, what happened) after restoring ``checkpoint`` as the flags ask.

    ``resume``: the run's latest checkpoint (``resume_from``: that one of the run);
    ``init_from``: network weights only, from another checkpoint (a run's, or one
    imported from the release). A damaged checkpoint stops with one line naming an
    intact one; a run with checkpoints is never started over without ``resume``.
    """
    latest = manager.latest_checkpoint
    if resume_from:
        if not tf.io.gfile.exists(resume_from + ".index"):
            raise UserError(
                f"`resume_from={resume_from}`: no checkpoint there (give a prefix "
                "such as RUN/checkpoints/ckpt-40)"
            )
        resume, latest = True, resume_from
    if resume and latest:
        try:
            checkpoint.restore(latest).assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError) as error:
            raise UserError(checkpoints.damaged_message(latest, error)) from None
        return True, f"resumed from {latest}"
    if latest and not resume:
        raise UserError(
            f"{model_dir} already has checkpoints; pass `resume` to continue it or "
            "choose a new `model_dir`"
        )
    message = f"`resume`: no checkpoint in {model_dir} yet, starting fresh" if resume else "new run"
    if init_from:
        path = tf.train.latest_checkpoint(init_from) if os.path.isdir(init_from) else init_from
        if not path or not tf.io.gfile.exists(path + ".index"):
            raise UserError(f"`init_from={init_from}`: no checkpoint found there")
        tf.train.Checkpoint(**networks.checkpoint_items()).read(path).expect_partial()
        message = f"network weights initialised from {path}"
    return False, message
