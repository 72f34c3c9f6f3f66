"""The tests' fork server reports a run as a fresh ``python`` subprocess would."""

import subprocess

import pytest

from tests import helpers

PROGRAMS = {
    "exit status and both streams": (
        "import os, sys; print(os.getcwd()); print(sys.argv[1:]); "
        "sys.stderr.write('to stderr\\n'); sys.exit(3)"
    ),
    "an exception": "import sys; print(sys.argv[1:]); raise ValueError('bad value')",
    "killed by a signal": "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
    "the environment": "import os; print(os.environ['SSAH_TEST_VALUE'], os.environ['PYTHONPATH'])",
    "an atexit handler": "import atexit; atexit.register(print, 'at exit'); print('main')",
}


def as_subprocess(monkeypatch, *args, **kwargs):
    with monkeypatch.context() as patch:
        patch.setenv("SSAH_TEST_SUBPROCESS", "1")
        return helpers.run_python(*args, **kwargs)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_fork_reports_what_a_subprocess_reports(name, monkeypatch):
    monkeypatch.delenv("SSAH_TEST_SUBPROCESS", raising=False)
    args = ("-c", PROGRAMS[name], "first", "--second")
    env = {"SSAH_TEST_VALUE": "forty-two"}
    forked = helpers.run_python(*args, env=env)
    assert helpers._fork_server is not None and helpers._fork_server.accepts(
        helpers.cli_environment(env)
    )
    plain = as_subprocess(monkeypatch, *args, env=env)
    assert forked.returncode == plain.returncode
    assert forked.stdout == plain.stdout
    # A traceback names the frames it passed through; its last line is the error.
    assert forked.stderr.splitlines()[-1:] == plain.stderr.splitlines()[-1:]


def test_a_run_past_its_timeout_is_killed(monkeypatch):
    monkeypatch.delenv("SSAH_TEST_SUBPROCESS", raising=False)
    with pytest.raises(subprocess.TimeoutExpired):
        helpers.run_python(
            "-c", "import time; print('started', flush=True); time.sleep(60)", timeout=2
        )
    # The server goes on serving.
    assert helpers.run_python("-c", "print('next')").stdout == "next\n"


def test_a_start_up_variable_that_differs_runs_a_plain_subprocess(monkeypatch):
    monkeypatch.delenv("SSAH_TEST_SUBPROCESS", raising=False)
    helpers.run_python("-c", "pass")
    different = helpers.cli_environment({"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert not helpers._fork_server.accepts(different)
    result = helpers.run_python(
        "-c",
        "import os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])",
        env={"TF_CPP_MIN_LOG_LEVEL": "0"},
    )
    assert result.stdout == "0\n"
