"""ssah-prepare end to end: a folder of pictures and words -> a TFDS copy -> training."""

import json

from tests.data.test_text_lists import write_text_lists
from tests.helpers import assert_one_line_error, run_cli, small_dataset_arrays


def test_prepare_bad_input(tmp_path):
    result = run_cli(
        "ssah_tf.cli.prepare",
        "--dataset=mirflickr25k",
        f"--data_path={tmp_path / 'missing'}",
        f"--data_dir={tmp_path / 'tfds'}",
    )
    assert_one_line_error(result, 2, "does not exist")
    assert not (tmp_path / "tfds").exists()
    assert_one_line_error(run_cli("ssah_tf.cli.prepare"), 2, "--data_path is required")


def test_collection_prepared_then_trained_from_the_copy(tmp_path):
    images, texts, labels = small_dataset_arrays(n=40, h=12, w=18, d_t=20, c=3)
    write_text_lists(tmp_path / "pics", texts, labels, [f"w{i}" for i in range(20)], images)
    (tmp_path / "pics" / "imgs" / "im7.png").write_bytes(b"broken")
    args = (f"--data_path={tmp_path / 'pics'}", f"--data_dir={tmp_path / 'tfds'}")
    failed = run_cli("ssah_tf.cli.prepare", *args)
    assert_one_line_error(failed, 2, "im7.png")
    assert not (tmp_path / "tfds" / "pics").exists()
    result = run_cli("ssah_tf.cli.prepare", *args, "--on_error=skip")
    assert result.returncode == 0, result.stderr[-2000:]
    copy = tmp_path / "tfds" / "pics"
    assert f"--data_dir={copy}" in result.stdout
    info = json.loads((copy / "ssah_collection.json").read_text())
    assert info["num_items"] == 39 and len(info["skipped"]) == 1
    train = run_cli(
        "ssah_tf.cli.train",
        "--dataset=collection",
        f"--data_dir={copy}",
        "--bits=8",
        "--epochs=1",
        "--batch_size=8",
        "--query_size=5",
        "--hidden_dim=16",
        "--semantic_dim=8",
        "--discriminator_hidden=8,8",
        "--image_size=12",
        f"--model_dir={tmp_path / 'run'}",
    )
    assert train.returncode == 0, train.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert 0.0 <= results["map_i2t"] <= 1.0 and 0.0 <= results["map_t2i"] <= 1.0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["data_dir"] == str(copy) and config["run"]["backbone"] == "mlp"
