"""Starting and resuming runs from settings (ssah-train and ssah_tf.train share this)."""

import json

import pytest

from ssah_tf.errors import UserError
from ssah_tf.training.session import prepare
from tests.helpers import TINY_SETTINGS

TINY = {**TINY_SETTINGS, "min_stage_steps": 0, "epochs": 1}


def test_prepare_validates_and_writes_nothing(tmp_path):
    session = prepare(str(tmp_path / "run"), **TINY)
    assert not (tmp_path / "run").exists()
    config = session.trainer.config
    assert config.run.select_on == "validation" and config.run.val_size == 40
    assert config.schedule.name == "paper" and config.schedule.epochs == 1
    assert config.ssah.network.num_labels == 5 and config.run.backbone == "mlp"
    assert session.record["run"]["val_size"] == 40 and session.changes == {}


def test_the_preset_chooses_schedule_epochs_and_selection(tmp_path):
    release = prepare(str(tmp_path / "r"), preset="release", **{**TINY, "epochs": None})
    config = release.trainer.config
    assert config.schedule.name == "release" and config.schedule.epochs == 500
    assert config.run.select_on == "test" and release.trainer.split.validation is None
    # The release keeps the plain criterion; the paper preset's tolerance is the default.
    assert config.run.selection_tolerance == 0.0
    paper = prepare(str(tmp_path / "p"), **TINY).trainer.config.run
    assert paper.selection_tolerance == 0.005 and paper.selection_criterion == "min"
    chosen = prepare(str(tmp_path / "c"), preset="release", select_on="validation", **TINY)
    assert chosen.trainer.split.validation is not None
    with pytest.raises(UserError, match="`select_on=validation` but the split has no validation"):
        prepare(str(tmp_path / "x"), select_on="validation", val_size=0, **TINY)
    fallback = prepare(str(tmp_path / "y"), val_size=0, **TINY)
    assert fallback.trainer.config.run.select_on == "last"


def test_resume_keeps_stored_settings_and_refuses_method_changes(tmp_path):
    run_dir = str(tmp_path / "run")
    first = prepare(run_dir, **TINY)
    first.record_command("ssah-train --bits=16 --model_dir=run")
    first.run()
    resumed = prepare(run_dir, resume=True, epochs=2, lr_img=1e-4)
    resumed.record_command("ssah-train --model_dir=run --resume --epochs=2")
    config = resumed.trainer.config
    assert config.schedule.epochs == 2 and config.schedule.lr_img == 1e-4
    assert config.ssah.network.hidden_dim == 64 and config.run.val_size == 40
    assert set(resumed.changes) == {"schedule.epochs", "schedule.lr_img"}
    with pytest.raises(
        UserError,
        match=r"`resume` would change the run's method or data: "
        r"`bits` \(run: 16, now: 32\)",
    ):
        prepare(run_dir, resume=True, bits=32)
    with pytest.raises(UserError, match="`resume` and `init_from` exclude each other"):
        prepare(run_dir, resume=True, init_from=run_dir)
    # Selection decides which checkpoint best/ holds: a resume may not change its rule.
    with pytest.raises(UserError, match=r"`selection_tolerance` \(run: 0.005, now: 0.0\)"):
        prepare(run_dir, resume=True, selection_tolerance=0.0)
    resumed.run()
    changes = json.loads((tmp_path / "run" / "config_changes.json").read_text())
    assert changes[0]["changes"]["schedule.lr_img"] == {"was": 3e-4, "now": 1e-4}
    # The run's command stays the one that started it; the resuming one is listed after.
    setup = json.loads((tmp_path / "run" / "results.json").read_text())["setup"]
    assert setup["command"] == "ssah-train --bits=16 --model_dir=run"
    assert setup["resumed_with"] == ["ssah-train --model_dir=run --resume --epochs=2"]
