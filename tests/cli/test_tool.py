"""Running a tool: one-line errors for full disks and bad flag files, script names."""

import errno
import subprocess
import sys

import tensorflow as tf

from ssah_tf.cli.tool import disk_full_message

FULL_DISK_TOOL = """
import errno, tensorflow as tf
from ssah_tf.cli.tool import run_main

def main(argv):
    raise tf.errors.ResourceExhaustedError(
        None, None, "best-105_temp/part-00000; No space left on device [Op:SaveV2]")

run_main(main)
"""


def test_disk_full_is_recognised_from_python_and_tensorflow_errors():
    assert "--resume" in disk_full_message(OSError(errno.ENOSPC, "No space left on device"))
    assert (
        disk_full_message(
            tf.errors.ResourceExhaustedError(
                None, None, "x.tempstate1; No space left on device [Op:SaveV2]"
            )
        )
        is not None
    )
    assert (
        disk_full_message(tf.errors.ResourceExhaustedError(None, None, "OOM when allocating"))
        is None
    )
    assert disk_full_message(OSError(errno.EACCES, "Permission denied")) is None


def test_a_tool_that_hits_a_full_disk_exits_with_one_line():
    result = subprocess.run([sys.executable, "-c", FULL_DISK_TOOL], capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "error: no space left on device" in last and "Traceback" not in result.stderr


def test_a_flag_file_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    from tests.helpers import assert_one_line_error, run_cli

    inner = tmp_path / "inner.flags"
    inner.write_bytes(b"--bits=16\n# caf\xe9\n")
    outer = tmp_path / "outer.flags"
    outer.write_text(f"--flagfile={inner}\n")
    result = run_cli("ssah_tf.cli.train", f"--flagfile={outer}", f"--model_dir={tmp_path / 'r'}")
    assert_one_line_error(result, 2, f"{inner} line 2 column 6: byte 0xe9 is not UTF-8")
    assert not (tmp_path / "r").exists()


def test_script_names_are_the_console_scripts_of_setup_cfg():
    import configparser
    import os

    from ssah_tf.cli.tool import _SCRIPT_NAMES
    from tests.helpers import REPO

    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    scripts = {}
    for line in config["options.entry_points"]["console_scripts"].strip().splitlines():
        name, target = (part.strip() for part in line.split("="))
        scripts[target.split(":")[0].rsplit(".", 1)[1]] = name
    assert scripts == _SCRIPT_NAMES
