"""Every bad start of every tool: exit 2 (bad input) or 1 (I/O), one line, nothing written.

Each case checks the exit status, that stderr holds exactly one line besides
TensorFlow's C++ banner, and that the directories involved hold exactly what they
held before (a listing with sizes and mtimes).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.cli.test_train import TINY, start, wait_for_checkpoints
from tests.helpers import assert_one_line_error, listing, run_cli, run_cli_failing_writes

QUICK = TINY + ["--epochs=1", "--min_stage_steps=0", "--eval_every=0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One finished tiny run (3 epochs, a checkpoint per epoch) to damage in copies."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    result = run_cli(
        "ssah_tf.cli.train",
        *TINY,
        "--epochs=3",
        "--min_stage_steps=0",
        "--checkpoint_interval_seconds=600",
        f"--model_dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def copy_of(trained, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(trained, target)
    return target


# ----------------------------------------------------------------------------- data loss
def test_second_writer_is_refused_and_the_first_run_is_intact(tmp_path):
    run_dir = tmp_path / "run"
    first = start(run_dir, "--epochs=4", "--min_stage_steps=0")
    wait_for_checkpoints(run_dir, 1, first)
    before = listing(run_dir / "eval")
    second = run_cli("ssah_tf.cli.train", *QUICK, f"--model_dir={run_dir}", "--resume")
    line = assert_one_line_error(second, 2, "is in use by another ssah-train")
    assert f"pid {first.pid}" in line and socket.gethostname() in line
    fresh = run_cli("ssah_tf.cli.train", *QUICK, f"--model_dir={run_dir}")
    assert fresh.returncode == 2
    assert first.wait(timeout=600) == 0, first.stderr.read()[-2000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["last_epoch"]["epoch"] == 3 and set(before) <= set(listing(run_dir / "eval"))


def test_corrupt_state_file_stops_and_names_the_intact_checkpoint(trained, tmp_path):
    run_dir = copy_of(trained, tmp_path)
    (run_dir / "checkpoints" / "checkpoint").write_text("garbage \x00\x01 not a state file")
    before = listing(run_dir)
    for extra in (["--resume"], []):
        result = run_cli("ssah_tf.cli.train", *QUICK, f"--model_dir={run_dir}", *extra)
        line = assert_one_line_error(result, 2, "checkpoints/checkpoint is unreadable")
        assert "--resume_from=" in line and "ckpt-" in line
    assert listing(run_dir) == before


def test_truncated_latest_checkpoint_offers_the_older_one(trained, tmp_path):
    run_dir = copy_of(trained, tmp_path)
    folder = run_dir / "checkpoints"
    latest = json.loads(
        "[" + (folder / "checkpoint").read_text().split("\n")[0].split(":", 1)[1] + "]"
    )[0]
    data = [f for f in os.listdir(folder) if f.startswith(latest + ".data")][0]
    with open(folder / data, "r+b") as f:
        f.truncate(10)
    before = listing(run_dir)
    result = run_cli("ssah_tf.cli.train", *TINY, "--epochs=4", f"--model_dir={run_dir}", "--resume")
    line = assert_one_line_error(result, 2, f"checkpoint {folder / latest} is damaged")
    assert "is intact: resume from it with --resume_from=" in line
    assert listing(run_dir) == before
    older = line.split("--resume_from=")[1].strip()
    resumed = run_cli(
        "ssah_tf.cli.train", *TINY, "--epochs=4", f"--model_dir={run_dir}", f"--resume_from={older}"
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]


def test_resume_refuses_method_changes_and_records_schedule_changes(trained, tmp_path):
    run_dir = copy_of(trained, tmp_path)
    before = listing(run_dir)
    result = run_cli(
        "ssah_tf.cli.train",
        f"--model_dir={run_dir}",
        "--resume",
        "--pairwise_form=squared_residual",
        "--bits=32",
        "--epochs=4",
    )
    line = assert_one_line_error(result, 2, "--resume would change the run's method or data")
    assert "--pairwise_form (run: nll, now: squared_residual)" in line and "--bits (run: 16" in line
    assert listing(run_dir) == before
    config = (run_dir / "config.json").read_text()
    # Only --model_dir and --resume: every setting comes from the run itself.
    resumed = run_cli(
        "ssah_tf.cli.train", f"--model_dir={run_dir}", "--resume", "--epochs=4", "--jit_compile"
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (run_dir / "config.json").read_text() == config
    history = json.loads((run_dir / "config_changes.json").read_text())
    assert set(history[0]["changes"]) == {"schedule.epochs", "run.jit_compile"}
    assert json.loads((run_dir / "results.json").read_text())["last_epoch"]["epoch"] == 3


def test_eval_of_a_copied_run_reads_the_copy_and_writes_only_its_output(trained, tmp_path):
    copy = copy_of(trained, tmp_path)
    shutil.rmtree(copy / "best")
    shutil.rmtree(copy / "checkpoints")
    original = listing(trained)
    result = run_cli("ssah_tf.cli.evaluate", f"--model_dir={copy}")
    assert_one_line_error(result, 2, "no best checkpoint found")
    assert listing(trained) == original
    assert not (copy / "eval_best").exists() and not (copy / "tensorboard" / "eval").exists()


# ----------------------------------------------------------------------------- bad starts
@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--lr_img=nan"], "--lr_img=nan must be a positive finite number"),
        (["--hidden_dim=0"], "--hidden_dim=0 must be a positive integer"),
        (["--semantic_dim=-3"], "--semantic_dim=-3 must be a positive integer"),
        (["--discriminator_hidden=16,0"], "--discriminator_hidden=16,0 must be positive integers"),
        (["--multiscale_windows=0,3"], "--multiscale_windows=0,3 must be positive integers"),
        (["--query_size=0"], "--query_size=0 must be a positive integer"),
        (["--val_size=100000"], "--val_size=100000 exceeds the"),
        (["--bogus_flag=1"], "Unknown command line flag 'bogus_flag'"),
        (["--batch_size=x"], "--batch_size=x"),
        (["positional"], "unexpected arguments"),
    ],
)
def test_bad_flags(tmp_path, args, fragment):
    result = run_cli("ssah_tf.cli.train", *QUICK, *args, f"--model_dir={tmp_path / 'run'}")
    assert_one_line_error(result, 2, fragment)
    assert os.listdir(tmp_path) == []


def test_model_dir_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_cli("ssah_tf.cli.train", *QUICK, f"--model_dir={tmp_path / 'file'}")
    assert_one_line_error(result, 2, "is an existing file, not a directory")
    assert listing(tmp_path) == {"file": listing(tmp_path)["file"]}


@pytest.mark.parametrize(
    "error,fragment", [("EROFS", "read-only file system"), ("EACCES", "permission denied")]
)
def test_unwritable_model_dir(tmp_path, error, fragment):
    result = run_cli_failing_writes(
        "ssah_tf.cli.train",
        tmp_path / "ro",
        error,
        *QUICK,
        f"--model_dir={tmp_path / 'ro' / 'run'}",
    )
    assert_one_line_error(result, 1, fragment)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "damage,fragment",
    [
        ("config.json", "config.json is damaged"),
        ("split.npz", "split.npz is not a valid .npz file"),
        ("eval/epoch_0000.json", "epoch_0000.json is damaged"),
    ],
)
def test_damaged_run_files(trained, tmp_path, damage, fragment):
    run_dir = copy_of(trained, tmp_path)
    (run_dir / damage).write_text("{not json" if damage.endswith("json") else "not a zip")
    before = listing(run_dir)
    result = run_cli("ssah_tf.cli.train", f"--model_dir={run_dir}", "--resume", "--epochs=4")
    assert_one_line_error(result, 2, fragment)
    assert listing(run_dir) == before


def test_sigint_checkpoints_and_exits_3(tmp_path):
    process = start(tmp_path / "run", "--epochs=30")
    wait_for_checkpoints(tmp_path / "run", 1, process)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=300) == 3
    stderr = process.stderr.read()
    assert "Traceback" not in stderr and "stopped by SIGINT" in stderr


def _split_file(path, **arrays):
    rng = np.random.default_rng(0).permutation(160)
    base = {"query_index": rng[:40], "train_index": rng[40:104], "database_index": rng[40:]}
    base.update(arrays)
    np.savez(path, **base)
    return path


@pytest.mark.parametrize(
    "change,fragment",
    [
        ({"train_index": np.array([], np.int64)}, "train_index is empty"),
        ({"query_index": np.array([], np.int64)}, "query_index is empty"),
        ({"query_index": np.arange(50, 60)}, "queries are also training or database items"),
        ({"train_index": np.array([50, 50, 51])}, "train_index repeats 1 indices"),
        ({"query_index": np.arange(10, dtype=np.float64)}, "query_index has dtype float64"),
    ],
)
def test_bad_split_files(tmp_path, change, fragment):
    split = _split_file(tmp_path / "split.npz", **change)
    result = run_cli(
        "ssah_tf.cli.train", *QUICK, f"--split_file={split}", f"--model_dir={tmp_path / 'run'}"
    )
    assert_one_line_error(result, 2, fragment)
    assert os.listdir(tmp_path) == ["split.npz"]


def test_validation_held_out_of_training_must_leave_training_items(tmp_path):
    # The database is the training set: validation queries come out of the 120 training
    # items, and asking for all of them leaves nothing to train on.
    order = np.random.default_rng(0).permutation(160)
    split = _split_file(tmp_path / "split.npz", train_index=order[40:], database_index=order[40:])
    result = run_cli(
        "ssah_tf.cli.train",
        *QUICK,
        f"--split_file={split}",
        "--val_size=120",
        f"--model_dir={tmp_path / 'run'}",
    )
    assert_one_line_error(result, 2, "--val_size=120: validation queries are held out of the")
    assert os.listdir(tmp_path) == ["split.npz"]


def test_overlapping_split_runs_when_asked_and_warns(tmp_path):
    split = _split_file(tmp_path / "split.npz", query_index=np.arange(50, 60))
    result = run_cli(
        "ssah_tf.cli.train",
        *QUICK,
        f"--split_file={split}",
        "--allow_query_overlap",
        f"--model_dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "leaks them into the ranking (--allow_query_overlap)" in result.stderr


def test_files_that_are_not_what_they_claim(tmp_path):
    (tmp_path / "data.npz").write_bytes(os.urandom(500))
    result = run_cli(
        "ssah_tf.cli.train",
        "--dataset=npz",
        f"--data_path={tmp_path / 'data.npz'}",
        f"--model_dir={tmp_path / 'run'}",
    )
    line = assert_one_line_error(result, 2, "is not a valid .npz file")
    assert "pickle" not in line and not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- other tools
def test_every_tool_has_help_that_exits_0():
    for module, fragment in (
        ("train", "--min_stage_steps"),
        ("evaluate", "--codes"),
        ("export", "--export_dir"),
        ("encode", "--on_error"),
        ("search", "--top_k"),
        ("baseline", "--l2"),
        ("bench", "--quick"),
        ("prepare", "--manual_dir"),
        ("import_release", "--cnnf"),
    ):
        for flag in ("--help", "--helpfull"):
            result = run_cli(f"ssah_tf.cli.{module}", flag)
            assert result.returncode == 0, (module, flag, result.stderr[-1000:])
            assert fragment in result.stdout and "  ssah-" in result.stdout, (module, flag)


def test_eval_code_files_with_inconsistent_labels(tmp_path):
    import scipy.io

    codes = np.where(np.random.default_rng(0).random((5, 8)) > 0.5, 1, -1)
    labels = np.eye(3)[np.arange(5) % 3]
    scipy.io.savemat(
        tmp_path / "a.mat",
        {"Qi": codes, "Dt": codes, "query_L": labels, "retrieval_L": np.eye(4)[np.arange(5) % 4]},
    )
    result = run_cli(
        "ssah_tf.cli.evaluate", f"--codes={tmp_path / 'a.mat'}", f"--output_dir={tmp_path / 'out'}"
    )
    assert_one_line_error(result, 2, "query_L has 3 classes but retrieval_L 4")
    scipy.io.savemat(
        tmp_path / "b.mat",
        {"Qi": np.zeros((0, 8)), "Dt": codes, "query_L": np.zeros((0, 3)), "retrieval_L": labels},
    )
    result = run_cli(
        "ssah_tf.cli.evaluate", f"--codes={tmp_path / 'b.mat'}", f"--output_dir={tmp_path / 'out'}"
    )
    assert_one_line_error(result, 2, "query_L has no rows")
    assert sorted(os.listdir(tmp_path)) == ["a.mat", "b.mat"]


def test_search_code_files_with_mismatched_ids(tmp_path):
    packed = np.packbits(np.random.default_rng(0).random((6, 16)) > 0.5, axis=1)
    np.savez(tmp_path / "db.npz", codes=packed, ids=np.array(["a", "b"]), bits=np.array(16))
    np.savez(tmp_path / "q.npz", codes=packed[:2], ids=np.array(["x", "y"]), bits=np.array(16))
    result = run_cli(
        "ssah_tf.cli.search",
        f"--database={tmp_path / 'db.npz'}",
        f"--queries={tmp_path / 'q.npz'}",
        "--top_k=2",
    )
    assert_one_line_error(result, 2, "2 ids for 6 codes")
    result = run_cli(
        "ssah_tf.cli.search",
        f"--database={tmp_path / 'q.npz'}",
        f"--queries={tmp_path / 'q.npz'}",
        "--top_k=2",
        f"--output={tmp_path}",
    )
    assert_one_line_error(result, 2, "is an existing directory; give a file name")
    assert sorted(os.listdir(tmp_path)) == ["db.npz", "q.npz"]


def test_bad_init_from_and_zero_width_inputs_leave_nothing(tmp_path):
    result = run_cli(
        "ssah_tf.cli.train",
        *QUICK,
        "--init_from=/nonexistent/run",
        f"--model_dir={tmp_path / 'run'}",
    )
    assert_one_line_error(result, 2, "--init_from=/nonexistent/run: no checkpoint found there")
    labels = np.eye(3)[np.arange(30) % 3]
    np.savez(
        tmp_path / "w.npz",
        labels=labels,
        texts=np.zeros((30, 0), np.float32),
        image_features=np.ones((30, 4), np.float32),
    )
    result = run_cli(
        "ssah_tf.cli.train",
        "--dataset=npz",
        f"--data_path={tmp_path / 'w.npz'}",
        f"--model_dir={tmp_path / 'run'}",
    )
    assert_one_line_error(result, 2, "texts have 0 columns (shape (30, 0))")
    assert os.listdir(tmp_path) == ["w.npz"]


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    export_dir = tmp_path_factory.mktemp("export") / "model"
    result = run_cli("ssah_tf.cli.export", f"--model_dir={trained}", f"--export_dir={export_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    return export_dir


def test_export_to_a_file_or_an_unwritable_place(trained, tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_cli(
        "ssah_tf.cli.export", f"--model_dir={trained}", f"--export_dir={tmp_path / 'file'}"
    )
    assert_one_line_error(result, 2, "is an existing file; choose a folder")
    result = run_cli_failing_writes(
        "ssah_tf.cli.export",
        tmp_path / "ro",
        "EROFS",
        f"--model_dir={trained}",
        f"--export_dir={tmp_path / 'ro' / 'x'}",
    )
    assert_one_line_error(result, 1, "read-only file system")
    assert os.listdir(tmp_path) == ["file"]


def test_encode_refuses_inputs_that_are_not_arrays(exported, tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    (tmp_path / "text.npy").write_text("0 1 0\n")
    for name, fragment in (
        ("objects.npy", "holds Python objects"),
        ("text.npy", "is not a valid .npy file"),
    ):
        result = run_cli(
            "ssah_tf.cli.encode",
            f"--export_dir={exported}",
            f"--labels={tmp_path / name}",
            f"--output={tmp_path / 'codes.npz'}",
        )
        assert_one_line_error(result, 2, fragment)
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={exported}",
        f"--labels={tmp_path / 'text.npy'}",
        f"--output={tmp_path}",
    )
    assert_one_line_error(result, 2, "is an existing directory")
    assert sorted(os.listdir(tmp_path)) == ["objects.npy", "text.npy"]


HOSTILE_EXPORT = r"""
import json, sys, tensorflow as tf
target, export_dir = sys.argv[1], sys.argv[2]

class Hostile(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32, name="labels")])
    def encode_label(self, labels):
        tf.io.write_file(target, "pwned")
        hashes = tf.tanh(labels[:, :4])
        return {"hash": hashes, "code": tf.cast(tf.sign(hashes), tf.int8)}

module = Hostile()
tf.saved_model.save(module, export_dir, signatures={"encode_label": module.encode_label})
json.dump({"bits": 4, "num_labels": 5, "text_dim": None, "image_shape": None,
           "image_input": "features", "source": "", "signatures": ["encode_label"],
           "vocabulary": None}, open(export_dir + "/ssah_export.json", "w"))
"""


def test_a_hostile_export_is_refused_before_it_runs(tmp_path):
    target = tmp_path / "written_by_the_export"
    made = subprocess.run(
        [sys.executable, "-c", HOSTILE_EXPORT, str(target), str(tmp_path / "ex")],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert made.returncode == 0, made.stderr[-2000:]
    np.save(tmp_path / "labels.npy", np.eye(5, dtype=np.float32))
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp_path / 'ex'}",
        f"--labels={tmp_path / 'labels.npy'}",
        f"--output={tmp_path / 'c.npz'}",
    )
    line = assert_one_line_error(result, 2, "is not a plain ssah-export")
    assert "WriteFile" in line and "trusted sources" in line
    assert not target.exists() and not (tmp_path / "c.npz").exists()


def test_eval_of_a_damaged_run_config(trained, tmp_path):
    run_dir = copy_of(trained, tmp_path)
    (run_dir / "config.json").write_text('{"ssah": {}, "data": {"dataset": "demo"}}')
    before = listing(run_dir)
    result = run_cli("ssah_tf.cli.evaluate", f"--model_dir={run_dir}")
    assert_one_line_error(result, 2, "config.json is damaged")
    assert listing(run_dir) == before


def test_other_tools_name_their_bad_inputs(tmp_path):
    (tmp_path / "garbage.mat").write_text("garbage")
    cases = [
        (
            "ssah_tf.cli.import_release",
            [
                "--checkpoint=/nonexistent/SSAH-0",
                "--cnnf=/x.mat",
                "--bits=16",
                "--num_labels=24",
                "--text_dim=1386",
                f"--output_dir={tmp_path / 'imported'}",
            ],
            "no release checkpoint at /nonexistent/SSAH-0",
        ),
        (
            "ssah_tf.cli.prepare",
            ["--dataset=mirflickr25k", "--manual_dir=/nonexistent"],
            "--manual_dir=/nonexistent does not exist",
        ),
        ("ssah_tf.cli.bench", ["--quick", f"--output={tmp_path}"], "is an existing directory"),
        (
            "ssah_tf.cli.baseline",
            [
                "--dataset=npz",
                f"--data_path={tmp_path / 'garbage.mat'}",
                f"--model_dir={tmp_path / 'b'}",
            ],
            "is not a MATLAB file",
        ),
        ("ssah_tf.cli.baseline", ["--bits=0"], "--bits=0: must be a positive integer"),
    ]
    for module, args, fragment in cases:
        assert_one_line_error(run_cli(module, *args), 2, fragment)
    assert os.listdir(tmp_path) == ["garbage.mat"]
