"""A run bound to its data and split: swapped splits, regenerated data, old runs."""

import json
import shutil

import numpy as np
import pytest

from ssah_tf.data.dataset import CrossModalDataset
from ssah_tf.data.fingerprint import data_fingerprint, fingerprint_changes
from tests.helpers import assert_one_line_error, listing, run_cli

NPZ_FLAGS = [
    "--dataset=npz",
    "--epochs=1",
    "--hidden_dim=32",
    "--semantic_dim=16",
    "--discriminator_hidden=16,8",
    "--multiscale_windows=1,2",
    "--batch_size=16",
    "--bits=8",
    "--min_stage_steps=0",
    "--eval_every=0",
]


def write_data(path, seed=0, n=120):
    rng = np.random.default_rng(seed)
    labels = np.eye(4, dtype=np.float32)[rng.integers(0, 4, n)]
    np.savez(
        path,
        image_features=labels @ rng.normal(size=(4, 6)) + rng.normal(size=(n, 6)),
        texts=labels @ rng.normal(size=(4, 5)) + rng.normal(size=(n, 5)),
        labels=labels,
    )


@pytest.fixture(scope="module")
def run_on_npz(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bound")
    write_data(tmp / "d.npz")
    result = run_cli(
        "ssah_tf.cli.train",
        *NPZ_FLAGS,
        f"--data_path={tmp / 'd.npz'}",
        f"--model_dir={tmp / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp


def copy_run(source, tmp_path):
    shutil.copy(source / "d.npz", tmp_path / "d.npz")
    shutil.copytree(source / "run", tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    config["data"]["data_path"] = str(tmp_path / "d.npz")
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    return tmp_path / "run"


def test_the_run_records_its_data_and_split(run_on_npz):
    config = json.loads((run_on_npz / "run" / "config.json").read_text())
    results = json.loads((run_on_npz / "run" / "results.json").read_text())
    binding = config["binding"]
    assert binding["data"]["items"] == 120 and len(binding["split_sha256"]) == 64
    assert results["setup"]["binding"] == binding
    assert results["protocol"]["split_sha256"] == binding["split_sha256"]


def test_a_swapped_split_is_refused_by_eval_export_and_resume(run_on_npz, tmp_path):
    run = copy_run(run_on_npz, tmp_path)
    with np.load(run / "split.npz") as split:
        arrays = dict(split)
    # Another run's split of the same sizes and structure: every index moved by one.
    for name in ("query_index", "train_index", "database_index", "validation_index"):
        if name in arrays:
            arrays[name] = (arrays[name] + 1) % 120
    np.savez(run / "split.npz", **arrays)
    before = listing(run)
    result = run_cli("ssah_tf.cli.evaluate", f"--model_dir={run}")
    line = assert_one_line_error(result, 2, "is not the split recorded in config.json")
    assert "was trained on another split" in line and "--allow_data_change" in line
    result = run_cli("ssah_tf.cli.export", f"--model_dir={run}", f"--export_dir={tmp_path / 'e'}")
    assert_one_line_error(result, 2, "is not the split recorded")
    result = run_cli(
        "ssah_tf.cli.train",
        *NPZ_FLAGS,
        f"--data_path={tmp_path / 'd.npz'}",
        f"--model_dir={run}",
        "--resume",
        "--epochs=2",
    )
    line = assert_one_line_error(result, 2, "resumes only on its own split")
    assert "damaged" not in line
    assert listing(run) == before and not (tmp_path / "e").exists()
    # Deliberately: evaluated, and the results say so.
    result = run_cli("ssah_tf.cli.evaluate", f"--model_dir={run}", "--allow_data_change")
    assert result.returncode == 0, result.stderr[-2000:]
    evaluated = json.loads((run / "eval_best" / "results.json").read_text())
    assert any("split" in change for change in evaluated["data_changed"])


def test_data_regenerated_in_place_is_refused_unless_allowed(run_on_npz, tmp_path):
    run = copy_run(run_on_npz, tmp_path)
    write_data(tmp_path / "d.npz", seed=1)  # same shapes, other labels
    result = run_cli("ssah_tf.cli.evaluate", f"--model_dir={run}")
    assert_one_line_error(result, 2, "the data differs from what the run was trained on (labels")
    resume = [
        "ssah_tf.cli.train",
        *NPZ_FLAGS,
        f"--data_path={tmp_path / 'd.npz'}",
        f"--model_dir={run}",
        "--resume",
        "--epochs=2",
    ]
    assert_one_line_error(run_cli(*resume), 2, "labels changed")
    result = run_cli(*resume, "--allow_data_change")
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((run / "results.json").read_text())
    assert "labels changed" in results["setup"]["data_changed"][0]
    changes = json.loads((run / "config_changes.json").read_text())
    assert "binding" in json.dumps(changes)
    # The run is now bound to the new data: evaluating it needs no flag.
    assert run_cli("ssah_tf.cli.evaluate", f"--model_dir={run}").returncode == 0


def test_a_run_without_a_binding_still_evaluates_with_a_note(run_on_npz, tmp_path):
    run = copy_run(run_on_npz, tmp_path)
    config = json.loads((run / "config.json").read_text())
    del config["binding"]
    (run / "config.json").write_text(json.dumps(config))
    result = run_cli("ssah_tf.cli.evaluate", f"--model_dir={run}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "cannot be checked" in result.stderr


def test_fingerprints_see_labels_ids_and_sizes_change():
    labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    data = CrossModalDataset(name="x", labels=labels, texts=np.ones((4, 2), np.float32))
    same = data_fingerprint(data)
    assert fingerprint_changes(same, data_fingerprint(data)) == []
    flipped = CrossModalDataset(name="x", labels=labels[::-1], texts=data.texts)
    assert fingerprint_changes(same, data_fingerprint(flipped)) == ["labels changed"]
    named = CrossModalDataset(name="x", labels=labels, texts=data.texts, item_ids=tuple("abcd"))
    assert fingerprint_changes(same, data_fingerprint(named)) == [
        "item ids or picture paths changed"
    ]
    wider = CrossModalDataset(name="x", labels=labels, texts=np.ones((4, 3), np.float32))
    assert fingerprint_changes(same, data_fingerprint(wider)) == [
        "text matrix shape [4, 2] -> [4, 3]"
    ]
