"""ssah-baseline end to end: the same split as ssah-train, validation mAPs, the protocol."""

import json

import numpy as np

from tests.cli.test_train import TINY
from tests.helpers import assert_one_line_error, listing, run_cli

DEMO = [
    flag
    for flag in TINY
    if flag.split("=")[0]
    in (
        "--demo_items",
        "--demo_labels",
        "--demo_image_size",
        "--demo_vocab",
        "--query_size",
        "--train_size",
        "--bits",
    )
]


def test_baseline_draws_the_runs_validation_queries_and_hashes_alike(tmp_path):
    result = run_cli("ssah_tf.cli.baseline", *DEMO, f"--model_dir={tmp_path / 'base'}")
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "base" / "results.json").read_text())
    assert results["setup"]["method"] == "ssah-baseline"
    assert set(results["validation"]) == {
        "map_i2t",
        "map_t2i",
        "map_i2i",
        "map_t2t",
        "map_l2i",
        "map_l2t",
    }
    assert results["protocol"]["validation"] == 40 and results["protocol"]["selected_on"] is None
    train = run_cli("ssah_tf.cli.train", *TINY, "--epochs=1", f"--model_dir={tmp_path / 'run'}")
    assert train.returncode == 0, train.stderr[-2000:]
    trained = json.loads((tmp_path / "run" / "results.json").read_text())
    assert trained["protocol"]["split_sha256"] == results["protocol"]["split_sha256"]
    with (
        np.load(tmp_path / "base" / "split.npz") as a,
        np.load(tmp_path / "run" / "split.npz") as b,
    ):
        np.testing.assert_array_equal(a["validation_index"], b["validation_index"])
    # Neither tool writes into the other's run directory.
    before, run_before = listing(tmp_path / "base"), listing(tmp_path / "run")
    result = run_cli("ssah_tf.cli.baseline", *DEMO, f"--model_dir={tmp_path / 'run'}")
    assert_one_line_error(result, 2, "is an ssah-train run")
    result = run_cli("ssah_tf.cli.train", *TINY, "--epochs=1", f"--model_dir={tmp_path / 'base'}")
    assert_one_line_error(result, 2, "holds another tool's results.json")
    assert listing(tmp_path / "base") == before and listing(tmp_path / "run") == run_before
    none = run_cli(
        "ssah_tf.cli.baseline", *DEMO, "--val_size=0", f"--model_dir={tmp_path / 'base0'}"
    )
    assert none.returncode == 0
    assert "validation" not in json.loads((tmp_path / "base0" / "results.json").read_text())
