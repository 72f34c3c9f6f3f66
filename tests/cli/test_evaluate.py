"""ssah-eval on a release-layout code file and on a trained run."""

import json
import shutil

import numpy as np
import scipy.io

from ssah_tf.evaluation.codes import read_code_file, write_code_file
from ssah_tf.evaluation.metrics import mean_average_precision
from tests.cli.test_train import TINY
from tests.helpers import assert_one_line_error, listing, run_cli


def release_codes(seed=0, nq=20, nd=60, bits=16):
    rng = np.random.default_rng(seed)
    pm1 = lambda n: rng.choice([-1, 1], size=(n, bits))
    return {
        "Qi": pm1(nq),
        "Qt": pm1(nq),
        "Di": pm1(nd),
        "Dt": pm1(nd),
        "query_L": (rng.random((nq, 4)) < 0.4).astype(float),
        "retrieval_L": (rng.random((nd, 4)) < 0.4).astype(float),
    }


def test_code_file_round_trip_and_cli(tmp_path):
    codes = release_codes()
    path = str(tmp_path / "release_codes.mat")
    scipy.io.savemat(path, codes)  # as the release's scipy.io.savemat writes it
    loaded = read_code_file(path)
    np.testing.assert_array_equal(loaded["Qi"], codes["Qi"])
    result = run_cli(
        "ssah_tf.cli.evaluate",
        f"--codes={path}",
        f"--output_dir={tmp_path / 'out'}",
        "--map_top_k=10",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    expected = mean_average_precision(
        query_codes=codes["Qi"],
        database_codes=codes["Dt"],
        query_labels=codes["query_L"],
        database_labels=codes["retrieval_L"],
    )
    assert results["map_i2t"] == expected and "map_t2t@10" in results
    assert results["protocol"]["map_variant"] == "top_k" and results["protocol"]["queries"] == 20
    assert 0 < results["map_tie_aware_i2t"] <= 1
    assert (tmp_path / "out" / "pr_i2t.csv").exists()
    # Another codebase's definition by name: torchcmh's calc_map_k.
    result = run_cli(
        "ssah_tf.cli.evaluate",
        f"--codes={path}",
        f"--output_dir={tmp_path / 'k'}",
        "--map_variant=first_k_relevant",
        "--map_top_k=5",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "k" / "results.json").read_text())
    assert results["map_i2t@5"] == mean_average_precision(
        query_codes=codes["Qi"],
        database_codes=codes["Dt"],
        query_labels=codes["query_L"],
        database_labels=codes["retrieval_L"],
        map_variant="first_k_relevant",
        top_k=5,
    )
    assert results["protocol"]["map_variant"] == "first_k_relevant"
    ours = str(tmp_path / "ours.mat")
    write_code_file(ours, codes)
    np.testing.assert_array_equal(read_code_file(ours)["Dt"], codes["Dt"])


def test_bad_code_files(tmp_path):
    codes = release_codes()
    codes["Dt"] = codes["Dt"][:, :8]
    path = str(tmp_path / "bad.mat")
    scipy.io.savemat(path, codes)
    result = run_cli("ssah_tf.cli.evaluate", f"--codes={path}", f"--output_dir={tmp_path / 'o'}")
    assert result.returncode == 2 and "code lengths differ" in result.stderr
    codes = release_codes()
    codes["query_L"] = codes["query_L"][:5]
    scipy.io.savemat(path, codes)
    result = run_cli("ssah_tf.cli.evaluate", f"--codes={path}", f"--output_dir={tmp_path / 'o'}")
    assert result.returncode == 2 and "expected 5 rows" in result.stderr
    result = run_cli(
        "ssah_tf.cli.evaluate", f"--codes={tmp_path / 'none.mat'}", f"--output_dir={tmp_path / 'o'}"
    )
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_evaluate_a_trained_run_matches_training_results(tmp_path):
    run_dir = tmp_path / "run"
    assert (
        run_cli("ssah_tf.cli.train", *TINY, "--epochs=1", f"--model_dir={run_dir}").returncode == 0
    )
    result = run_cli("ssah_tf.cli.evaluate", f"--model_dir={run_dir}", "--write_codes")
    assert result.returncode == 0, result.stderr[-2000:]
    evaluated = json.loads((run_dir / "eval_best" / "results.json").read_text())
    trained = json.loads((run_dir / "results.json").read_text())
    for key in ("map_i2t", "map_t2i", "map_l2t"):
        assert abs(evaluated[key] - trained[key]) < 1e-9, key
    codes = read_code_file(str(run_dir / "eval_best" / "codes.mat"))
    assert codes["Qi"].shape[1] == 16
    # Never into a run's own records, its or another run's.
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    before, other_before = listing(run_dir), listing(other)
    for output, fragment in (
        (run_dir, "is a run directory"),
        (other, "is a run directory"),
        (run_dir / "checkpoints", "part of the run"),
        (other / "eval_best", "already holds the results of"),
    ):
        result = run_cli("ssah_tf.cli.evaluate", f"--model_dir={run_dir}", f"--output_dir={output}")
        assert_one_line_error(result, 2, fragment)
    assert listing(run_dir) == before and listing(other) == other_before
    # Its own eval_best is replaced by a re-evaluation.
    result = run_cli("ssah_tf.cli.evaluate", f"--model_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]


def test_code_file_report_and_projector_need_no_data(tmp_path):
    codes = release_codes()
    path = str(tmp_path / "codes.mat")
    scipy.io.savemat(path, codes)
    out = tmp_path / "out"
    result = run_cli(
        "ssah_tf.cli.evaluate",
        f"--codes={path}",
        f"--output_dir={out}",
        "--report",
        "--projector_items=7",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    page = (out / "report" / "index.html").read_text()
    assert "query 0" in page and "<img" not in page  # ids and label indices only
    metadata = (out / "tensorboard" / "codes_Di_metadata.tsv").read_text().splitlines()
    assert len(metadata) == 1 + 7
    assert (out / "tensorboard" / "projector_config.pbtxt").exists()
