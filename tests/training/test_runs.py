"""Run directories: the exclusive lock, config records and damaged run files."""

import json
import os

import numpy as np
import pytest

from ssah_tf.errors import UserError
from ssah_tf.training.runs import RunLock
from tests.conftest import get_strategy
from tests.training.tiny import tiny_trainer


def test_a_second_lock_is_refused_with_the_holder_and_released_on_release(tmp_path):
    first = RunLock(str(tmp_path / "run")).acquire()
    with pytest.raises(
        UserError, match=rf"in use by another ssah-train \(host .*, pid {os.getpid()}"
    ):
        RunLock(str(tmp_path / "run")).acquire()
    first.release()
    RunLock(str(tmp_path / "run")).acquire().release()


def one_device():
    return get_strategy(1)


def test_input_statistics_come_from_training_items_only(tmp_path):
    from tests.training.tiny import tiny_data

    data = tiny_data()
    data.texts = data.texts * 3.0 + 0.5  # dense texts: standardised too
    trainer = tiny_trainer(tmp_path, one_device(), data=data, eval_every=0)
    split_rows = trainer.parts.inputs.train_index
    others = np.setdiff1d(np.arange(data.num_items), split_rows)
    data.image_features[others] += 1000.0  # queries / database only: must not matter
    again = tiny_trainer(tmp_path / "b", one_device(), data=data, eval_every=0)
    for net in (trainer, again):
        scaling = net.parts.networks.imgnet.backbone.input_scaling
        feats = data.image_features[split_rows]
        np.testing.assert_allclose(scaling.mean.numpy(), feats.mean(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(scaling.scale.numpy(), feats.std(0), rtol=1e-5)
    text_scaling = again.parts.networks.txtnet.input_scaling
    np.testing.assert_allclose(text_scaling.mean.numpy(), data.texts[split_rows].mean(0), atol=1e-5)
    # 0/1 tags keep their form (auto): the default tiny data has binary texts.
    plain = tiny_trainer(tmp_path / "c", one_device(), eval_every=0)
    assert plain.parts.networks.txtnet.input_scaling is None
    assert plain.parts.networks.imgnet.backbone.input_scaling is not None


# ----------------------------------------------------------------------------- old runs
OLD_RUN = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "run_12e0d0f")


def old_run_copy(tmp_path, val_size=None):
    """A copy of a run directory written by an earlier version (tests/fixtures/README.md);
    ``val_size`` 0 makes it the run that version made without validation queries."""
    import shutil

    copy = tmp_path / "old_run"
    shutil.copytree(OLD_RUN, copy)
    if val_size is not None:
        config = json.loads((copy / "config.json").read_text())
        config["run"]["val_size"] = val_size
        (copy / "config.json").write_text(json.dumps(config))
    return copy


def test_old_run_loads_with_its_validation_queries_and_legacy_selection(tmp_path):
    from ssah_tf.training.runs import open_run

    run = open_run(str(old_run_copy(tmp_path)))
    config = run.config.run
    assert (
        config.select_on,
        config.selection_criterion,
        config.selection_tolerance,
        config.early_stopping_patience,
    ) == ("validation", "mean", 0.0, 0)
    split = run.split
    outside = [i for i in split.database if i not in set(split.train)]
    np.testing.assert_array_equal(split.validation, outside[-10:])  # what that version used
    plain = open_run(str(old_run_copy(tmp_path / "b", val_size=0)))
    assert plain.config.run.select_on == "test" and plain.split.validation is None


def test_a_run_from_before_the_selection_tolerance_keeps_its_plain_criterion(tmp_path):
    # A run written with `min` but before selection_tolerance existed selected by the
    # plain min: it resumes and evaluates with that, not with today's default.
    from ssah_tf.training.runs import open_run

    copy = old_run_copy(tmp_path)
    config = json.loads((copy / "config.json").read_text())
    config["run"]["selection_criterion"] = "min"
    config["run"].pop("selection_tolerance", None)
    (copy / "config.json").write_text(json.dumps(config))
    run = open_run(str(copy)).config.run
    assert (run.selection_criterion, run.selection_tolerance) == ("min", 0.0)


@pytest.mark.parametrize("val_size,selected_on", [(None, "validation"), (0, "test")])
def test_old_run_evaluates_exports_and_resumes(tmp_path, val_size, selected_on):
    from tests.helpers import run_cli

    run_dir = old_run_copy(tmp_path, val_size)
    evaluated = run_cli("ssah_tf.cli.evaluate", f"--model_dir={run_dir}")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "map_i2t" in json.loads((run_dir / "eval_best" / "results.json").read_text())
    exported = run_cli(
        "ssah_tf.cli.export", f"--model_dir={run_dir}", f"--export_dir={tmp_path / 'export'}"
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    resumed = run_cli("ssah_tf.cli.train", f"--model_dir={run_dir}", "--resume", "--epochs=3")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["selected_on"] == selected_on and results["last_epoch"]["epoch"] == 2
    assert results["evaluations"] == 3  # the two old evaluations and the new one
