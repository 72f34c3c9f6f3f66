"""Run directories: the exclusive lock, config records and damaged run files."""

import json
import os

import pytest

from ssah_tf.errors import UserError
from ssah_tf.training.runs import (CHANGES_FILE, RunLock, config_differences, read_json,
                                   record_config_changes)


def test_a_second_lock_is_refused_with_the_holder_and_released_on_release(tmp_path):
    first = RunLock(str(tmp_path / "run")).acquire()
    with pytest.raises(UserError, match=rf"in use by another ssah-train \(host .*, pid {os.getpid()}"):
        RunLock(str(tmp_path / "run")).acquire()
    first.release()
    RunLock(str(tmp_path / "run")).acquire().release()


def test_differences_are_listed_by_dotted_field():
    stored = {"ssah": {"loss": {"pairwise_form": "nll", "weights": [1, 2]}}, "run": {"seed": 0}}
    new = {"ssah": {"loss": {"pairwise_form": "squared_residual", "weights": (1, 2)}},
           "run": {"seed": 0, "extra": True}}
    assert config_differences(stored, new) == {
        "ssah.loss.pairwise_form": ("nll", "squared_residual"), "run.extra": (None, True)}


def test_changes_are_appended_never_overwritten(tmp_path):
    record_config_changes(str(tmp_path), {"schedule.epochs": (2, 5)}, step=10)
    record_config_changes(str(tmp_path), {"run.jit_compile": (False, True)}, step=20)
    history = json.loads((tmp_path / CHANGES_FILE).read_text())
    assert [h["global_step"] for h in history] == [10, 20]
    assert history[0]["changes"] == {"schedule.epochs": {"was": 2, "now": 5}}


def test_damaged_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"ssah": ')
    with pytest.raises(UserError, match=r"config.json is damaged \(not valid JSON"):
        read_json(str(path))
