"""ssah-export: the SavedModel reloads without ssah_tf and gives identical codes."""

import json
import subprocess
import sys

import numpy as np

from ssah_tf.training.runs import open_run
from tests.cli.test_train import TINY
from tests.helpers import run_cli

RELOAD = r"""
import sys, json, numpy as np
sys.modules["ssah_tf"] = None  # importing ssah_tf would fail: the export must not need it
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
inputs = np.load(sys.argv[2])
out = {}
for name, arg in (("encode_label", "labels"), ("encode_text", "texts"), ("encode_image", "images")):
    result = model.signatures[name](**{arg: tf.constant(inputs[arg])})
    out[name] = result["code"].numpy().tolist()
    out[name + "_hash"] = result["hash"].numpy().tolist()
print(json.dumps(out))
"""


def test_export_reloads_without_ssah_tf_and_matches(tmp_path):
    run_dir = tmp_path / "run"
    assert (
        run_cli("ssah_tf.cli.train", *TINY, "--epochs=1", f"--model_dir={run_dir}").returncode == 0
    )
    export_dir = tmp_path / "export"
    result = run_cli("ssah_tf.cli.export", f"--model_dir={run_dir}", f"--export_dir={export_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    trainer = open_run(str(run_dir), "best")
    rows = np.asarray(trainer.split.query)[:7]
    inputs = {
        "labels": trainer.data.labels[rows],
        "texts": trainer.data.texts[rows],
        "images": trainer.data.images.read(rows, trainer.config.run.picture_size),  # uint8
    }
    np.savez(tmp_path / "inputs.npz", **inputs)
    reloaded = subprocess.run(
        [sys.executable, "-c", RELOAD, str(export_dir), str(tmp_path / "inputs.npz")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert reloaded.returncode == 0, reloaded.stderr[-2000:]
    out = json.loads(reloaded.stdout.strip().splitlines()[-1])
    for name, modality in (
        ("encode_label", "label"),
        ("encode_text", "text"),
        ("encode_image", "image"),
    ):
        hashes = trainer.evaluator.encode(rows, modality)
        np.testing.assert_allclose(np.array(out[name + "_hash"]), hashes, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(np.array(out[name]), np.where(hashes >= 0, 1, -1))
    again = run_cli("ssah_tf.cli.export", f"--model_dir={run_dir}", f"--export_dir={export_dir}")
    assert again.returncode == 2 and "not empty" in again.stderr
