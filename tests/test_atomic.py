"""Atomic writes: all or nothing, no leftover folders, the umask's permissions."""

import os
import stat

import pytest

from ssah_tf.atomic import staged_directory, staged_output, write_atomic


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_and_folders_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(str(tmp_path / "a.json"), lambda f: f.write("{}"))
        with staged_directory(str(tmp_path / "export"), ".x-") as staging:
            open(os.path.join(staging, "f"), "w").close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.json") == 0o644  # mkstemp alone gives 0o600
    assert _mode(tmp_path / "export") == 0o755  # mkdtemp alone gives 0o700


def test_a_failed_write_leaves_nothing_not_even_new_parents(tmp_path):
    def boom(f):
        f.write("partial")
        raise RuntimeError("disk")

    with pytest.raises(RuntimeError):
        write_atomic(str(tmp_path / "new" / "deeper" / "x.json"), boom)
    assert os.listdir(tmp_path) == []
    with pytest.raises(RuntimeError):
        with staged_directory(str(tmp_path / "a" / "export"), ".x-"):
            raise RuntimeError("fail")
    assert os.listdir(tmp_path) == []


def test_staged_output_replaces_entries_only_when_complete(tmp_path):
    (tmp_path / "results.json").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_output(str(tmp_path)) as staging:
            open(os.path.join(staging, "results.json"), "w").write("new")
            raise RuntimeError("fail")
    assert (tmp_path / "results.json").read_text() == "old" and os.listdir(tmp_path) == [
        "results.json"
    ]
    with staged_output(str(tmp_path)) as staging:
        open(os.path.join(staging, "results.json"), "w").write("new")
    assert (tmp_path / "results.json").read_text() == "new" and os.listdir(tmp_path) == [
        "results.json"
    ]
