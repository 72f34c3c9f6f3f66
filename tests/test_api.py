"""The Python API: ssah_tf.train gives the run ssah-train gives; Run encodes as the
run's evaluation does."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import ssah_tf
from ssah_tf.errors import UserError
from tests.helpers import REPO, TINY, TINY_SETTINGS, run_cli

SETTINGS = TINY_SETTINGS
TIMINGS = {"eval_seconds", "epoch_seconds"}


def tensors(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def without_timings(record):
    if isinstance(record, dict):
        return {
            k: without_timings(v) for k, v in record.items() if k not in TIMINGS and k != "command"
        }
    return record


def test_train_gives_the_same_run_as_the_cli(tmp_path):
    cli_dir, api_dir = tmp_path / "cli", tmp_path / "api"
    result = run_cli(
        "ssah_tf.cli.train", *TINY, "--epochs=2", "--deterministic", f"--model_dir={cli_dir}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    script = (
        f"import ssah_tf; ssah_tf.train({str(api_dir)!r}, epochs=2, deterministic=True, "
        f"**{SETTINGS!r})"
    )
    api = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={
            "PYTHONPATH": REPO,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert api.returncode == 0, api.stderr[-2000:]
    for folder in ("checkpoints", "best"):
        a = tensors(tf.train.latest_checkpoint(str(cli_dir / folder)))
        b = tensors(tf.train.latest_checkpoint(str(api_dir / folder)))
        assert a.keys() == b.keys() and len(a) > 50
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    for name in ("results.json", "eval/epoch_0000.json", "eval/epoch_0001.json"):
        a = without_timings(json.loads((cli_dir / name).read_text()))
        b = without_timings(json.loads((api_dir / name).read_text()))
        assert a == b, name
    config_cli = json.loads((cli_dir / "config.json").read_text())
    config_api = json.loads((api_dir / "config.json").read_text())
    config_cli["run"].pop("model_dir"), config_api["run"].pop("model_dir")
    assert config_cli == config_api
    assert json.loads((api_dir / "results.json").read_text())["setup"]["command"].startswith(
        "ssah_tf.train("
    )


def test_run_encodes_what_its_evaluation_encodes(tmp_path):
    run = ssah_tf.train(str(tmp_path / "run"), epochs=1, min_stage_steps=0, **SETTINGS)
    assert run.results["selected_on"] == "validation" and run.directory == str(tmp_path / "run")
    rows = np.arange(12)
    evaluator = run._loaded.evaluator
    for kind, modality, inputs in (
        ("labels", "label", run.data.labels[rows]),
        ("texts", "text", run.data.texts[rows]),
    ):
        codes = run.encode(**{kind: inputs})
        np.testing.assert_array_equal(codes, evaluator.codes(rows, modality))
        assert codes.dtype == np.int8
        np.testing.assert_array_equal(
            run.encode(**{kind: inputs}, packed=True), np.packbits(codes > 0, axis=1)
        )
    # The demo's mlp reads 32 x 32 pictures (standardised inside): the same codes.
    pixels = run.data.images.read(rows, 32)
    np.testing.assert_array_equal(run.encode(images=pixels), evaluator.codes(rows, "image"))
    with pytest.raises(UserError, match="exactly one of"):
        run.encode(labels=run.data.labels[:2], texts=run.data.texts[:2])
    with pytest.raises(UserError, match="uint8 RGB"):
        run.encode(images=np.zeros((2, 8, 8), np.float32))
    with pytest.raises(UserError, match="reads pictures"):
        run.encode(image_features=np.zeros((2, 5), np.float32))
    results = run.evaluate(str(tmp_path / "eval"), map_variant="first_k_relevant", top_k=5)
    assert "map_i2t@5" in results and results["protocol"]["map_variant"] == "first_k_relevant"
    latest = ssah_tf.load_run(run.directory, "latest")
    assert latest.checkpoint == tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    # The API checks like the CLI: one UserError naming the argument, before TensorFlow.
    labels, texts = run.data.labels[:3], run.data.texts[:3]
    bad_inputs = [
        ({"labels": labels[:, :2]}, "`labels` must be a 2-D array [items, 5]"),
        ({"labels": labels[0]}, "`labels` must be a 2-D array"),
        ({"labels": labels * 7.0}, "`labels` must be 0/1 multi-hot vectors; row 0"),
        ({"labels": "1 0 1 0 0"}, "`labels` must be an array, not the string"),
        ({"labels": labels.astype(np.complex64)}, "must hold real numbers, not complex64"),
        ({"texts": np.where(texts > 0, np.nan, texts)}, "`texts` row 0 has NaN or inf"),
        ({"texts": [["a"] * texts.shape[1]]}, "must hold real numbers"),
        ({"texts": texts, "batch_size": 0}, "`batch_size` must be a positive integer"),
    ]
    for arguments, fragment in bad_inputs:
        with pytest.raises(UserError) as caught:
            run.encode(**arguments)
        assert fragment in str(caught.value), str(caught.value)
    for arguments, fragment in (
        ({"output_dir": 5}, "`output_dir` must be a path"),
        ({"output_dir": run.directory}, "is a run directory"),
        ({"report": "yes"}, "`report` must be True or False"),
        ({"projector_items": -1}, "`projector_items` must be >= 0"),
    ):
        with pytest.raises(UserError, match=fragment.replace("[", r"\[")):
            run.evaluate(**arguments)
    for call, fragment in (
        (lambda: ssah_tf.load_run(None), "`path` must be a path"),
        (lambda: ssah_tf.load_run(run.directory, jit=True), "unknown argument `jit`"),
        (
            lambda: ssah_tf.train(str(tmp_path / "x"), modalities="audio"),
            "`modalities=audio` is not valid",
        ),
        (lambda: ssah_tf.train(str(tmp_path / "x"), data_path=5), "`data_path` must be a string"),
        (lambda: ssah_tf.train(5), "`model_dir` must be a path"),
        (lambda: ssah_tf.train(str(tmp_path / "x"), bits="16"), "`bits`"),
        (lambda: ssah_tf.train(str(tmp_path / "nothing"), resume=True), "nothing does not exist"),
        (lambda: ssah_tf.train(str(tmp_path), resume=True), "holds no run"),
    ):
        with pytest.raises(UserError, match=fragment):
            call()
    assert not (tmp_path / "x").exists() and not (tmp_path / "nothing").exists()
