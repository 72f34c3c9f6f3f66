from tests.helpers import run_cli


def test_prepare_bad_input(tmp_path):
    result = run_cli(
        "ssah_tf.cli.prepare",
        "--dataset=mirflickr25k",
        f"--manual_dir={tmp_path / 'missing'}",
        f"--data_dir={tmp_path / 'tfds'}",
    )
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "tfds").exists()
    result = run_cli("ssah_tf.cli.prepare", "--dataset=mirflickr25k")
    assert result.returncode == 2 and "--manual_dir" in result.stderr
