"""ssah-train end to end: the demo at reduced size, bad input, kill-and-resume, SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import REPO, TINY, run_cli  # noqa: F401 (TINY: other tests import it here)


def test_demo_trains_and_evaluates(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("ssah_tf.cli.train", *TINY, "--epochs=2", f"--model_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "final evaluation" in result.stdout
    results = json.loads((run_dir / "results.json").read_text())
    for key in ("map_i2t", "map_t2i", "map_i2i", "map_t2t", "map_l2i", "map_l2t"):
        assert 0.0 < results[key] <= 1.0
        assert 0.0 < results["last_epoch"][key] <= 1.0
    # The paper preset selects best/ on validation queries drawn from the database items
    # outside the training set (as many as the test queries), kept in split.npz.
    assert results["selected_on"] == "validation" and results["selected_epoch"] in (0, 1)
    assert "best/ (epoch" in result.stdout and "last (epoch 1)" in result.stdout
    with np.load(run_dir / "split.npz") as split:
        validation = split["validation_index"]
        assert len(validation) == 40 and str(split["validation_from"]) == "database"
        assert not set(validation) & (set(split["train_index"]) | set(split["query_index"]))
    assert json.loads((run_dir / "config.json").read_text())["run"]["val_size"] == 40
    assert (run_dir / "split.npz").exists() and (run_dir / "config.json").exists()
    assert tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    assert tf.train.latest_checkpoint(str(run_dir / "best"))
    assert any(name.startswith("events") for name in os.listdir(run_dir / "tensorboard"))
    # Another run reuses the split file and gets the same query set.
    with np.load(run_dir / "split.npz") as split:
        assert len(split["query_index"]) == 40 and len(split["train_index"]) == 64


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--dataset=npz", "--data_path=/nonexistent/x.npz"], "does not exist"),
        (["--dataset=mirflickr25k"], "needs --data_path"),
        (TINY + ["--batch_size=0"], "batch"),
        (TINY + ["--query_size=500"], "exceed"),
        (TINY + ["--preset=release", "--demo_vocab=40"], "largest multi-scale pooling window"),
        (TINY + ["--pairwise_form=bogus"], "pairwise_form"),
    ],
)
def test_bad_input_one_line_and_no_run_directory(tmp_path, args, fragment):
    run_dir = tmp_path / "run"
    result = run_cli("ssah_tf.cli.train", *args, f"--model_dir={run_dir}")
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert fragment in lines[-1], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not run_dir.exists()


def test_divergence_is_one_line_exit_4_and_leaves_nothing(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "ssah_tf.cli.train",
        *TINY,
        "--epochs=2",
        f"--model_dir={run_dir}",
        "--lr_lab=1e4",
        "--lr_img=1e4",
        "--lr_txt=1e4",
    )
    assert result.returncode == 4, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0]
    line = errors[0]
    assert (
        "training diverged" in line
        and "non-finite" in line
        and "global step" in line
        and "lower --lr_" in line
    )
    assert not run_dir.exists()  # no checkpoint had been written: nothing worth keeping


def test_release_preset_selects_on_test_queries_and_says_so(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "ssah_tf.cli.train", *TINY, "--preset=release", "--epochs=1", f"--model_dir={run_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["selected_on"] == "test" and "optimistic" in result.stdout
    with np.load(run_dir / "split.npz") as split:
        assert "validation_index" not in split.files


def test_npz_whose_database_is_its_training_set_holds_out_training_items(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 120)]
    path = tmp_path / "d.npz"
    np.savez(
        path,
        image_features=labels @ rng.normal(size=(4, 6)) + rng.normal(size=(120, 6)),
        texts=labels @ rng.normal(size=(4, 5)) + rng.normal(size=(120, 5)),
        labels=labels,
        query_index=np.arange(20),
        train_index=np.arange(20, 120),
        database_index=np.arange(20, 120),
    )
    run_dir = tmp_path / "run"
    result = run_cli(
        "ssah_tf.cli.train",
        "--dataset=npz",
        f"--data_path={path}",
        "--epochs=1",
        "--hidden_dim=32",
        "--semantic_dim=16",
        "--discriminator_hidden=16,8",
        "--multiscale_windows=1,2",
        "--batch_size=16",
        "--bits=8",
        "--min_stage_steps=0",
        f"--model_dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "10 queries held out of the training items, not trained on" in result.stderr
    with np.load(run_dir / "split.npz") as split:
        held, train = split["validation_index"], split["train_index"]
        assert str(split["validation_from"]) == "train" and len(held) == 10
        assert len(train) == 90 and not set(held) & set(train)
        assert set(held) <= set(split["database_index"])
    selection = json.loads((run_dir / "results.json").read_text())["selection"]
    assert selection["validation_from"] == "train" and selection["validation_queries"] == 10


def test_text_only_dataset_rejects_image_modality(tmp_path, shared_data_dir):
    result = run_cli(
        "ssah_tf.cli.train",
        "--dataset=mirflickr25k",
        f"--data_path={shared_data_dir / 'mirflickr25k'}",
        "--modalities=image",
        f"--model_dir={tmp_path / 'r'}",
    )
    assert result.returncode == 2 and "has no image" in result.stderr


def final_state(run_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(run_dir / "checkpoints")))
    names = [
        n
        for n in reader.get_variable_to_shape_map()
        if n.startswith(("labnet", "imgnet", "txtnet", "discriminator", "banks", "optimizer"))
    ]
    assert len(names) > 20
    return {n: reader.get_tensor(n) for n in names}


def start(run_dir, *extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ssah_tf.cli.train",
            *TINY,
            "--epochs=2",
            "--deterministic",
            "--checkpoint_interval_seconds=0",
            f"--model_dir={run_dir}",
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_checkpoints(run_dir, count, process, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = run_dir / "checkpoints" / "checkpoint"
        if state.exists() and state.read_text().count("all_model_checkpoint_paths") >= count:
            return
        if process.poll() is not None:
            pytest.fail(
                "training ended before the checkpoints appeared: " + process.stderr.read()[-2000:]
            )
        time.sleep(0.2)
    pytest.fail("no checkpoints appeared")


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    straight = start(tmp_path / "straight")
    killed = start(tmp_path / "killed")
    wait_for_checkpoints(tmp_path / "killed", 2, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert straight.wait(timeout=600) == 0, straight.stderr.read()[-2000:]
    resumed = run_cli(
        "ssah_tf.cli.train",
        *TINY,
        "--epochs=2",
        "--deterministic",
        "--resume",
        "--checkpoint_interval_seconds=0",
        f"--model_dir={tmp_path / 'killed'}",
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    a, b = final_state(tmp_path / "straight"), final_state(tmp_path / "killed")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("steps_per_loop", ["1", "100"])
def test_sigterm_checkpoints_and_exits(tmp_path, steps_per_loop):
    """Mid-pass (one step per loop call) and at a pass boundary (a whole pass per call)."""
    process = start(tmp_path / "run", "--epochs=30", f"--steps_per_loop={steps_per_loop}")
    wait_for_checkpoints(tmp_path / "run", 1, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=300) == 3
    assert "rerun with --resume" in process.stderr.read()


def test_existing_run_needs_resume(tmp_path):
    run_dir = tmp_path / "run"
    assert (
        run_cli("ssah_tf.cli.train", *TINY, "--epochs=1", f"--model_dir={run_dir}").returncode == 0
    )
    again = run_cli("ssah_tf.cli.train", *TINY, "--epochs=1", f"--model_dir={run_dir}")
    assert again.returncode == 2 and "--resume" in again.stderr


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_matches_single_process(tmp_path):
    """Two worker processes on 127.0.0.1 train to the same weights as one process."""
    common = TINY + ["--epochs=1", "--deterministic", "--eval_every=0"]
    single = run_cli("ssah_tf.cli.train", *common, f"--model_dir={tmp_path / 'single'}")
    assert single.returncode == 0, single.stderr[-2000:]
    ports = [free_port(), free_port()]
    workers = []
    for index in range(2):
        tf_config = json.dumps(
            {
                "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                "task": {"type": "worker", "index": index},
            }
        )
        env = dict(
            os.environ,
            TF_CPP_MIN_LOG_LEVEL="3",
            PYTHONPATH=REPO,
            CUDA_VISIBLE_DEVICES="",
            TF_CONFIG=tf_config,
        )
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ssah_tf.cli.train",
                    *common,
                    "--strategy=multi_worker",
                    f"--model_dir={tmp_path / 'multi'}",
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for worker in workers:
        try:
            assert worker.wait(timeout=600) == 0, worker.stderr.read()[-3000:]
        finally:
            worker.kill()
    a, b = final_state(tmp_path / "single"), final_state(tmp_path / "multi")
    assert [n for n in os.listdir(tmp_path / "multi") if n.startswith(".worker")] == []
    for name in a:
        if name.startswith("optimizer"):
            continue  # moments are compared through the weights they produced
        # Two processes sum the half-batch gradients through gRPC collectives, in another
        # order than one process's float32 sums, and the rounding grows over the epoch's
        # steps: on one machine most tensors differ by ~1e-7 of their scale and ImgNet's
        # semantic layer and bank by up to 2.6e-5 (oneDNN kernels vary with the CPU),
        # hence 1e-4 of each tensor's scale here.
        scale = max(np.abs(a[name]).max(), 1e-3)
        np.testing.assert_allclose(b[name], a[name], atol=1e-4 * scale, err_msg=name)
