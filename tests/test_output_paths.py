"""Where a command may write: never over its inputs, never into a run's records."""

import json
import os

import pytest

from ssah_tf.errors import UserError
from ssah_tf.output_paths import (
    check_evaluation_folder,
    is_run_directory,
    refuse_output_over_inputs,
)


def test_an_output_that_is_an_input_is_refused_however_spelled(tmp_path, monkeypatch):
    data = tmp_path / "tags.txt"
    data.write_text("a,b\n")
    (tmp_path / "link.txt").symlink_to(data)
    monkeypatch.chdir(tmp_path)
    for spelling in (str(data), "tags.txt", "./sub/../tags.txt", "link.txt"):
        with pytest.raises(UserError, match="is the same path as --texts=") as caught:
            refuse_output_over_inputs(
                spelling, output_name="--output", inputs={"--texts": str(data)}
            )
        assert "\n" not in str(caught.value)
    refuse_output_over_inputs(
        "codes.npz", output_name="--output", inputs={"--texts": str(data), "--x": None}
    )
    assert data.read_text() == "a,b\n"


def make_run(folder, *, baseline=False):
    os.makedirs(folder / "checkpoints")
    if baseline:
        (folder / "results.json").write_text(json.dumps({"setup": {"method": "ssah-baseline"}}))
    else:
        (folder / "config.json").write_text("{}")
        (folder / "results.json").write_text(json.dumps({"setup": {}, "selected_epoch": {}}))
    return folder


def test_a_run_directory_and_its_record_folders_are_not_evaluation_outputs(tmp_path):
    run = make_run(tmp_path / "run")
    other = make_run(tmp_path / "other")
    baseline = make_run(tmp_path / "baseline", baseline=True)
    assert is_run_directory(str(run)) and is_run_directory(str(baseline))
    assert not is_run_directory(str(tmp_path))
    cases = {
        str(run): "is a run directory",
        str(other): "is a run directory",
        str(baseline): "is a run directory",
        str(run / "checkpoints"): "part of the run",
        str(run / "checkpoints" / "deeper"): "part of the run",
    }
    for output, fragment in cases.items():
        with pytest.raises(UserError, match=fragment):
            check_evaluation_folder(output, output_name="--output_dir", run_dir=str(run))
    # The run's own eval_* folders (and new folders) are the evaluation's.
    check_evaluation_folder(str(run / "eval_best"), output_name="--output_dir", run_dir=str(run))
    check_evaluation_folder(str(run / "mine"), output_name="--output_dir", run_dir=str(run))


def test_another_evaluations_results_are_not_replaced(tmp_path):
    run = make_run(tmp_path / "run")
    folder = run / "eval_best"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"source": str(run / "best" / "ckpt-1")}))
    # Re-evaluating the same run replaces its own eval_best, whatever the checkpoint.
    check_evaluation_folder(str(folder), output_name="--output_dir", run_dir=str(run))
    # From another run or a code file: refused.
    with pytest.raises(UserError, match="already holds the results of"):
        check_evaluation_folder(
            str(folder), output_name="--output_dir", run_dir=str(tmp_path / "elsewhere")
        )
    outside = tmp_path / "out"
    outside.mkdir()
    (outside / "results.json").write_text(json.dumps({"source": "/data/a.mat"}))
    with pytest.raises(UserError, match="already holds the results of /data/a.mat"):
        check_evaluation_folder(str(outside), output_name="--output_dir", source="/data/b.mat")
    check_evaluation_folder(str(outside), output_name="--output_dir", source="/data/a.mat")
