"""A checkpoint save that fails (a full disk) leaves the earlier checkpoints and no temporaries."""

import os

import pytest
import tensorflow as tf

from ssah_tf.training.checkpoints import save_checkpoint


class _FailingManager:
    """Writes TF's temporaries for checkpoint 7 the way SaveV2 does, then fails."""

    def __init__(self, directory):
        self.directory = directory

    def save(self, checkpoint_number):
        os.makedirs(os.path.join(self.directory, f"ckpt-{checkpoint_number}_temp"))
        open(os.path.join(self.directory, f"ckpt-{checkpoint_number}_temp", "part-00000"), "w").close()
        open(os.path.join(self.directory, "ckpt-7.index.tempstate123"), "w").close()
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device [Op:SaveV2]")


def test_failed_save_removes_its_temporaries_and_keeps_earlier_checkpoints(tmp_path):
    variable = tf.Variable(3.0)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable), str(tmp_path), 3)
    first = save_checkpoint(manager, 1)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(tf.errors.ResourceExhaustedError):
        save_checkpoint(_FailingManager(str(tmp_path)), 7)
    assert sorted(os.listdir(tmp_path)) == before
    variable.assign(0.0)
    tf.train.Checkpoint(v=variable).read(first).assert_existing_objects_matched()
    assert variable.numpy() == 3.0
