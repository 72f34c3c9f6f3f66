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
        open(
            os.path.join(self.directory, f"ckpt-{checkpoint_number}_temp", "part-00000"), "w"
        ).close()
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


def _three_checkpoints(tmp_path):
    variable = tf.Variable([1.0, 2.0])
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable), str(tmp_path), 3)
    return [save_checkpoint(manager, step) for step in (1, 2, 3)]


def test_state_file_and_intact_checks(tmp_path):
    from ssah_tf.training.checkpoints import check_folder, is_intact, state_file_readable

    prefixes = _three_checkpoints(tmp_path)
    assert state_file_readable(str(tmp_path)) and all(is_intact(p) for p in prefixes)
    check_folder(str(tmp_path))  # healthy: no error
    check_folder(str(tmp_path / "absent"))  # no checkpoint files at all: nothing to protect
    data = [f for f in os.listdir(tmp_path) if f.startswith("ckpt-3.data")][0]
    with open(tmp_path / data, "r+b") as f:
        f.truncate(2)
    assert not is_intact(prefixes[-1]) and is_intact(prefixes[1])


def test_unreadable_state_file_is_refused_naming_the_newest_intact(tmp_path):
    from ssah_tf.errors import UserError
    from ssah_tf.training.checkpoints import check_folder, damaged_message

    prefixes = _three_checkpoints(tmp_path)
    (tmp_path / "checkpoint").write_bytes(b"\x00\xff garbage")
    with pytest.raises(UserError, match=r"unreadable.*`resume_from=.*ckpt-3`"):
        check_folder(str(tmp_path))
    (tmp_path / "checkpoint").unlink()  # a missing state file with data files
    with pytest.raises(UserError, match=r"checkpoint is missing although"):
        check_folder(str(tmp_path))
    (tmp_path / "ckpt-3.index").write_bytes(b"garbage")
    message = damaged_message(prefixes[-1], ValueError("x"))
    assert "the older ckpt-2 is intact" in message and prefixes[1] in message


def test_a_deleted_index_is_named_and_an_intact_best_is_offered(tmp_path):
    from ssah_tf.errors import UserError
    from ssah_tf.training.checkpoints import check_folder

    folder = tmp_path / "checkpoints"
    prefixes = _three_checkpoints(folder)
    (folder / "ckpt-3.index").unlink()
    # The message names the index that is gone, not the (intact) state file.
    with pytest.raises(UserError) as caught:
        check_folder(str(folder))
    message = str(caught.value)
    assert f"{prefixes[-1]}.index, the latest checkpoint's index" in message
    assert "is missing" in message and "`resume_from=" in message and "ckpt-2" in message
    for prefix in prefixes[:2]:
        os.remove(prefix + ".index")
    best = _three_checkpoints(tmp_path / "best")
    with pytest.raises(UserError, match=f"but {best[-1]} in best/ is: evaluate or export it"):
        check_folder(str(folder))
