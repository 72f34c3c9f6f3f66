"""Training state: one checkpoint under the names runs have always used; restore rules."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.errors import UserError
from tests.conftest import get_strategy
from tests.training.tiny import tiny_trainer

# The top-level names of a checkpoint written before the redesign (read off one of its
# files; TxtNet's variables are stored under the first path that reaches them, its
# optimizer's): runs written then must keep loading.
CHECKPOINT_NAMES = {
    "labnet",
    "imgnet",
    "discriminator_IL",
    "discriminator_TL",
    "optimizer_lab",
    "optimizer_img",
    "optimizer_txt",
    "optimizer_dis",
    "banks_lab",
    "banks_img",
    "banks_txt",
    "epoch",
    "stage_cursor",
    "pass_cursor",
    "step_in_pass",
    "global_step",
    "monitor_log",
    "best_metric",
    "pass_table",
    "rng",
    "split_train",
    "split_query",
    "split_database",
}


def test_checkpoint_names_are_stable(tmp_path):
    trainer = tiny_trainer(tmp_path, get_strategy(1), eval_every=0)
    path = trainer.saves.latest_manager.save()
    names = {n.split("/")[0] for n in tf.train.load_checkpoint(path).get_variable_to_shape_map()}
    assert names - {"_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter"} == CHECKPOINT_NAMES


def test_restore_rules(tmp_path):
    first = tiny_trainer(tmp_path / "a", get_strategy(1), eval_every=0)
    first.train()
    again = tiny_trainer(tmp_path / "a", get_strategy(1), eval_every=0)
    with pytest.raises(UserError, match="already has checkpoints"):
        again.restore_or_initialize(resume=False, init_from=None)
    again.restore_or_initialize(resume=True, init_from=None)
    assert again.start_message.startswith("resumed from") and "epoch 1" in again.start_message
    assert int(again.parts.state.epoch.numpy()) == 1
    fresh = tiny_trainer(tmp_path / "b", get_strategy(1), eval_every=0)
    with pytest.raises(UserError, match="`resume_from=.*`: no checkpoint there"):
        fresh.restore_or_initialize(resume=False, init_from=None, resume_from=str(tmp_path / "x"))
    fresh.restore_or_initialize(resume=True, init_from=None)
    assert "starting fresh" in fresh.start_message


def test_banks_start_as_configured(tmp_path):
    zeros = tiny_trainer(tmp_path / "z", get_strategy(1), eval_every=0)
    assert not np.any(tf.convert_to_tensor(zeros.parts.state.banks["lab"].hash).numpy())
    noise = tiny_trainer(tmp_path / "n", get_strategy(1), preset="release", eval_every=0)
    values = tf.convert_to_tensor(noise.parts.state.banks["lab"].hash).numpy()
    assert 0.5 < values.std() < 1.5  # the release's N(0, 1) noise
