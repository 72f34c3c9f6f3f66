"""Fixtures shared by the CLI tests."""

import pytest

from ssah_tf.training.runs import open_run
from tests.cli.test_train import TINY
from tests.helpers import run_cli


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """A tiny demo run and its export: (folder, the loaded run)."""
    tmp = tmp_path_factory.mktemp("enc")
    assert (
        run_cli("ssah_tf.cli.train", *TINY, "--epochs=1", f"--model_dir={tmp / 'run'}").returncode
        == 0
    )
    result = run_cli(
        "ssah_tf.cli.export", f"--model_dir={tmp / 'run'}", f"--export_dir={tmp / 'export'}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp, open_run(str(tmp / "run"), "best")
