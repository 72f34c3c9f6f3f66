"""An evaluation's folder: results with their protocol, projector files, the report."""

import json

import numpy as np
import pytest

from ssah_tf.errors import UserError
from ssah_tf.evaluation.outputs import OutputOptions, evaluate_loaded_run, run_codes
from ssah_tf.evaluation.protocol import split_sha256
from ssah_tf.training import runs
from ssah_tf.training.runs import open_run
from tests.conftest import get_strategy
from tests.training.tiny import tiny_trainer


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outputs")
    trainer = tiny_trainer(folder / "run", get_strategy(1), epochs=1)
    trainer.train()
    trainer.write_results()
    import dataclasses
    import os

    from ssah_tf.data.protocols import save_split
    from ssah_tf.training.summaries import write_json_atomic

    # A run directory as ssah-train leaves it (the tiny trainer skips the CLI's records).
    config = trainer.config
    save_split(trainer.split, os.path.join(folder / "run", "split.npz"))
    write_json_atomic(
        os.path.join(folder / "run", "config.json"),
        {
            "ssah": dataclasses.asdict(config.ssah),
            "schedule": dataclasses.asdict(config.schedule),
            "run": dataclasses.asdict(config.run),
            "data": {"dataset": "demo"},
            "replicas": 1,
        },
    )
    return folder, trainer


def test_results_protocol_and_projector_of_a_run(loaded, tmp_path, monkeypatch):
    folder, trainer = loaded
    # open_run's own name for the loader: the run's data are the tiny trainer's.
    monkeypatch.setattr(runs, "load_dataset", lambda config: trainer.data)
    run = open_run(str(folder / "run"))
    codes = run_codes(run)
    assert codes["Qi"].shape == (12, 8) and codes["Di"].shape == (48, 8)
    out = tmp_path / "eval"
    results = evaluate_loaded_run(run, str(out), OutputOptions(projector_items=5, report=True))
    assert results["protocol"]["selected_on"] == "validation"
    assert results["protocol"]["split_sha256"] == split_sha256(run.split)
    assert json.loads((out / "results.json").read_text())["map_i2t"] == results["map_i2t"]
    metadata = (out / "tensorboard" / "codes_image_metadata.tsv").read_text().splitlines()
    assert metadata[0] == "id\tsplit\tlabels\tfirst_label" and len(metadata) == 6
    assert (out / "report" / "index.html").exists()
    latest = evaluate_loaded_run(
        run, str(tmp_path / "latest"), OutputOptions(projector_items=0), checkpoint_name="latest"
    )
    assert latest["protocol"]["selected_on"] is None  # no selection of ours
    assert not (tmp_path / "latest" / "tensorboard" / "projector_config.pbtxt").exists()


def test_a_baseline_on_another_split_is_refused(loaded, tmp_path, monkeypatch):
    folder, trainer = loaded
    # open_run's own name for the loader: the run's data are the tiny trainer's.
    monkeypatch.setattr(runs, "load_dataset", lambda config: trainer.data)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "results.json").write_text(
        json.dumps({"map_i2t": 0.5, "protocol": {"split_sha256": "0" * 64}})
    )
    run = open_run(str(folder / "run"))
    with pytest.raises(UserError, match="measured on another split"):
        evaluate_loaded_run(
            run,
            str(tmp_path / "x"),
            OutputOptions(baseline_dir=str(tmp_path / "base"), report=True),
        )
    assert not (tmp_path / "x").exists()
    assert np.isfinite(run_codes(run)["Ql"]).all()
