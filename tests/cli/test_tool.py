"""Running a tool: one-line errors for full disks and bad flag files, script names."""

import errno
import subprocess
import sys

import pytest
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


HELP_COVERS_FLAGS = r"""
import importlib, sys
from absl import flags
name = sys.argv[1]
module = importlib.import_module("ssah_tf.cli." + name)
from ssah_tf.cli import tool
FLAGS = flags.FLAGS
modules = (module.__name__, "ssah_tf.cli.common")
read = {f.name for m in modules for f in FLAGS.get_flags_for_module(m)}
text = tool._help_text(module)
missing = sorted(n for n in read if f"  --{n}:" not in text)
print(",".join(missing))
print("tensorflow" in sys.modules)
"""


def test_help_lists_every_flag_a_tool_reads_without_starting_tensorflow():
    import subprocess
    import sys

    from ssah_tf.cli.tool import _SCRIPT_NAMES
    from tests.helpers import cli_environment

    for name in _SCRIPT_NAMES:
        result = subprocess.run(
            [sys.executable, "-c", HELP_COVERS_FLAGS, name],
            capture_output=True,
            text=True,
            env=cli_environment(),
        )
        assert result.returncode == 0, result.stderr[-2000:]
        missing, tensorflow = result.stdout.split("\n")[:2]
        assert missing == "", f"ssah-{name} --help omits {missing}"
        assert tensorflow == "False", f"ssah-{name} imports TensorFlow to define its flags"


NEVER_STARTS_TENSORFLOW = r"""
import atexit, runpy, sys
name = sys.argv[1]
sys.argv = [name] + sys.argv[2:]
atexit.register(lambda: print("tensorflow imported:", "tensorflow" in sys.modules))
runpy.run_module("ssah_tf.cli." + name, run_name="__main__")
"""


@pytest.mark.parametrize(
    "tool_args, fragment",
    [
        (["evaluate", "--codes=c.mat", "--map_variant=first_k_relevant"], "needs --map_top_k"),
        (["train", "--resume", "--init_from=x"], "exclude each other"),
        (["train", "--map_variant=all", "--map_top_k=5"], "is given with --map_variant='all'"),
        (["baseline", "--map_variant=top_k"], "needs --map_top_k"),
        (["encode", "--texts=a.txt", "--labels=b.npy"], "give exactly one of"),
        (["search", "--database=d.npz"], "give --top_k and/or --radius"),
        (["export"], "--model_dir is required"),
        (["table"], "--runs is required"),
        (["prepare"], "--data_path is required"),
        (["import_release"], "missing required flags"),
    ],
)
def test_bad_flag_combinations_answer_in_one_line_before_tensorflow(tool_args, fragment):
    import subprocess
    import sys

    from tests.helpers import cli_environment, error_lines

    result = subprocess.run(
        [sys.executable, "-c", NEVER_STARTS_TENSORFLOW, *tool_args],
        capture_output=True,
        text=True,
        env=cli_environment(),
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stdout.strip() == "tensorflow imported: False"
    (line,) = error_lines(result.stderr)
    assert ": error: " in line and fragment in line


def test_tensorflows_start_up_lines_show_only_with_verbosity(tmp_path):
    # A plain process (the test fork server has TensorFlow imported already): the tool
    # starts TensorFlow, then refuses the run directory; its stderr is the one line.
    import subprocess
    import sys

    from tests.helpers import cli_environment

    args = [sys.executable, "-m", "ssah_tf.cli.evaluate", f"--model_dir={tmp_path / 'none'}"]
    quiet = subprocess.run(args, capture_output=True, text=True, env=cli_environment())
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines() == [
        f"ssah-eval: error: --model_dir={tmp_path / 'none'} is not a directory"
    ]
    loud = subprocess.run(
        [*args, "--verbosity=1"], capture_output=True, text=True, env=cli_environment()
    )
    assert "absl::InitializeLog" in loud.stderr or "oneDNN" in loud.stderr
