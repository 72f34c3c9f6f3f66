"""A fork server for the tests' CLI runs: TensorFlow is imported once, each run is a fork.

Every ``python -m ssah_tf.cli.<tool>`` the tests start would spend most of its CPU on
importing TensorFlow before doing a few steps of work. This server (one per pytest
worker, started on first use by ``tests.helpers.run_cli``) imports TensorFlow, Keras and
the library once, runs no TensorFlow op (so TensorFlow has started no thread and a fork
is safe), then forks one child per request. A child is a process of its own in all that
a test checks: exit status (a signal as a negative status, as ``subprocess`` reports it),
stdout and stderr, working directory, environment, files written, atexit handlers. Only
the imported modules are inherited. The CLI module itself is not imported here: the
child runs it as ``__main__`` exactly as ``python -m`` does (importing it twice would
define its flags twice).

Protocol, one JSON object a line: the client sends ``{"args": [...], "env": {...},
"cwd": ..., "stdout": path, "stderr": path}`` where ``args`` are what follows
``python`` (``["-m", module, ...]`` or ``["-c", code, ...]``); the server answers
``{"pid": N}`` at once and ``{"status": S}`` when the child has ended.

``SSAH_TEST_SUBPROCESS=1`` makes ``run_cli`` start plain subprocesses instead.
"""

from __future__ import annotations

import json
import os
import runpy
import sys

# What every CLI needs; a fork inherits these imported. No TensorFlow op runs here.
import h5py  # noqa: F401
import numpy  # noqa: F401
import scipy.io  # noqa: F401
import tensorflow  # noqa: F401

import ssah_tf.api  # noqa: F401
import ssah_tf.cli.common  # noqa: F401 (defines no flags: each tool defines its own)
import ssah_tf.evaluation.evaluator  # noqa: F401
import ssah_tf.training.runs  # noqa: F401

# Shared modules that define no flags; every other ssah_tf.cli module is a tool.
SHARED = ("ssah_tf.cli.common", "ssah_tf.cli.tool", "ssah_tf.cli.quiet_start")
PRE_IMPORTED_TOOLS = [
    name for name in sys.modules if name.startswith("ssah_tf.cli.") and name not in SHARED
]
# A tool imported here would be run a second time as __main__ and define its flags twice.
assert not PRE_IMPORTED_TOOLS, PRE_IMPORTED_TOOLS


def run_child(request: dict) -> None:
    """In the forked child: become ``python <args>`` with the request's streams,
    directory and environment. Its exit (SystemExit, or an exception's traceback and
    status 1) is the interpreter's, as in a fresh process."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    stdin = os.open(os.devnull, os.O_RDONLY)
    stdout = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    stderr = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for source, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(source, target)
        os.close(source)
    args = request["args"]
    sys.path[0] = os.getcwd()  # python -m and -c put the working directory first
    if args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        raise ValueError(f"the fork server runs -m or -c, not {args[0]!r}")
    sys.exit(0)


def serve() -> None:
    """Answer requests from stdin until it closes."""
    channel_in = os.fdopen(os.dup(0), "r")
    channel_out = os.fdopen(os.dup(1), "w")
    for line in channel_in:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            channel_in.close()
            channel_out.close()
            run_child(request)  # never returns: the child exits through the interpreter
        channel_out.write(json.dumps({"pid": pid}) + "\n")
        channel_out.flush()
        _, wait_status = os.waitpid(pid, 0)
        channel_out.write(json.dumps({"status": os.waitstatus_to_exitcode(wait_status)}) + "\n")
        channel_out.flush()


if __name__ == "__main__":
    serve()
