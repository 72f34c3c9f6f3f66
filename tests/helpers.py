"""Helpers shared by tests: writing files in the real layouts, running CLIs."""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading

import h5py
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small demo (seconds per epoch): as ssah_tf.train settings and as ssah-train flags.
TINY_SETTINGS = dict(
    demo_items=160,
    demo_labels=5,
    demo_image_size=12,
    demo_vocab=60,
    query_size=40,
    train_size=64,
    hidden_dim=64,
    semantic_dim=32,
    discriminator_hidden=(32, 16),
    batch_size=16,
    bits=16,
)
TINY = [
    f"--{name}=" + (",".join(map(str, value)) if isinstance(value, tuple) else str(value))
    for name, value in TINY_SETTINGS.items()
]


def write_matlab_v73(path: str, variables: dict[str, np.ndarray]) -> None:
    """Write ``variables`` (MATLAB orientation) as MATLAB v7.3 does: HDF5 with a
    512-byte MATLAB header, column-major, i.e. every array's dims reversed."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            f.create_dataset(name, data=np.ascontiguousarray(np.asarray(value).transpose()))
    header = (
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Fri Nov 27 00:00:00 2026 "
        b"HDF5 schema 1.00 ."
    )
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")


def cli_environment(env: dict | None = None) -> dict:
    """The environment of a CLI run: this one, quiet TensorFlow, the repository on the
    path, no GPU, plus ``env``."""
    environment = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES=""
    )
    environment.update(env or {})
    return environment


# Read when TensorFlow or Python starts: a run that sets them differently from the fork
# server's own environment cannot be a fork of it.
START_UP_VARIABLES = (
    "TF_CPP_MIN_LOG_LEVEL",
    "CUDA_VISIBLE_DEVICES",
    "PYTHONPATH",
    "TF_ENABLE_ONEDNN_OPTS",
    "PYTHONHASHSEED",
)


class ForkServer:
    """The client of tests/forkserver.py (see there): ``python <args>`` as a fork of a
    process that has TensorFlow imported. One per pytest worker, started on first use."""

    def __init__(self):
        self.environment = cli_environment()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self.environment,
            cwd=REPO,
        )
        self.lock = threading.Lock()
        atexit.register(self.close)

    def accepts(self, environment: dict) -> bool:
        return self.process.poll() is None and all(
            environment.get(name) == self.environment.get(name) for name in START_UP_VARIABLES
        )

    def run(self, args: list[str], environment: dict, cwd: str, timeout: float):
        """subprocess.run(capture_output=True, text=True) of ``python args``."""
        with self.lock, tempfile.TemporaryDirectory() as folder:
            out, err = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
            request = dict(args=args, env=environment, cwd=cwd, stdout=out, stderr=err)
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            pid = json.loads(self.process.stdout.readline())["pid"]
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
            status = json.loads(self.process.stdout.readline())["status"]
            with open(out) as stdout, open(err) as stderr:
                result = subprocess.CompletedProcess(
                    [sys.executable, *args], status, stdout.read(), stderr.read()
                )
        if not ready:
            raise subprocess.TimeoutExpired(result.args, timeout, result.stdout, result.stderr)
        return result

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


_fork_server: ForkServer | None = None


def run_python(*args: str, timeout: float = 600, env: dict | None = None):
    """``python args`` from the repository (CompletedProcess, output captured as text):
    a fork of the fork server where it can be, else a plain subprocess (always with
    SSAH_TEST_SUBPROCESS=1)."""
    global _fork_server
    environment = cli_environment(env)
    if os.environ.get("SSAH_TEST_SUBPROCESS") != "1":
        if _fork_server is None:
            _fork_server = ForkServer()
        if _fork_server.accepts(environment):
            return _fork_server.run(list(args), environment, REPO, timeout)
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=REPO,
    )


def run_cli(module: str, *args: str, timeout: int = 600, env: dict | None = None):
    """Run ``python -m module args`` from the repository; returns CompletedProcess."""
    return run_python("-m", module, *args, timeout=timeout, env=env)


def small_dataset_arrays(n=12, h=8, w=6, d_t=7, c=4, seed=0):
    """Random images (N x H x W x 3 uint8), 0/1 texts and labels with >= 1 label per row."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    texts = (rng.random((n, d_t)) < 0.4).astype(np.float32)
    texts[:, 0] = 1.0
    labels = (rng.random((n, c)) < 0.4).astype(np.float32)
    labels[np.arange(n), rng.integers(0, c, n)] = 1.0
    return images, texts, labels


def write_fake_cnnf(
    path: str,
    *,
    layout: str = "old",
    widths=(6, 6, 6, 6, 6),
    fc6: int = 10,
    fc7: int = 20,
    seed: int = 0,
    mean_shape=(224, 224, 3),
) -> None:
    """A MatConvNet CNN-F file with the real layer list (21 layers) and small widths."""
    from ssah_tf.bench.random_cnnf import write_random_cnnf

    write_random_cnnf(
        path,
        conv_widths=widths,
        fc_widths=(fc6, fc7, 3),
        layout=layout,
        seed=seed,
        mean_shape=mean_shape,
        stddev=0.05,
    )


FAILING_WRITES = r"""
import builtins, errno, os, runpy, sys
root = os.path.abspath(os.environ["SSAH_TEST_FAIL_UNDER"])
code = getattr(errno, os.environ["SSAH_TEST_ERRNO"])


def _denied(path):
    try:
        path = os.path.abspath(os.fsdecode(path))
    except TypeError:
        return False
    return path == root or path.startswith(root + os.sep)


def _deny(path):
    raise OSError(code, os.strerror(code), os.fsdecode(path))


_mkdir, _open, _builtin_open = os.mkdir, os.open, builtins.open


def mkdir(path, *args, **kwargs):
    if _denied(path):
        _deny(path)
    return _mkdir(path, *args, **kwargs)


def open_fd(path, flags, *args, **kwargs):
    if _denied(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        _deny(path)
    return _open(path, flags, *args, **kwargs)


def open_file(file, mode="r", *args, **kwargs):
    if isinstance(file, (str, bytes, os.PathLike)) and _denied(file) and set(mode) & set("wax+"):
        _deny(file)
    return _builtin_open(file, mode, *args, **kwargs)


os.mkdir, os.open, builtins.open = mkdir, open_fd, open_file
module = sys.argv[1]
sys.argv = [module.rsplit(".", 1)[-1] + ".py"] + sys.argv[2:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def run_cli_failing_writes(module: str, under: str, error: str, *args: str, timeout: int = 600):
    """Run a CLI whose writes (os.mkdir, os.open, open for writing) below ``under``
    fail with ``error`` (an errno name: EACCES, EROFS): as root, permissions do not bite."""
    return run_python(
        "-c",
        FAILING_WRITES,
        module,
        *args,
        timeout=timeout,
        env=dict(SSAH_TEST_FAIL_UNDER=str(under), SSAH_TEST_ERRNO=error),
    )


def listing(root) -> dict:
    """{relative path: (size, mtime_ns)} of everything below ``root`` ({} if absent)."""
    out = {}
    root = str(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.stat(path)
            out[os.path.relpath(path, root)] = (
                info.st_size if name in files else 0,
                info.st_mtime_ns,
            )
    return out


TF_BANNER = ("WARNING: All log messages before absl::InitializeLog()", "I0000", "W0000", "E0000")


def error_lines(stderr: str) -> list[str]:
    """stderr without TensorFlow's C++ start-up banner."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(TF_BANNER)]


def assert_one_line_error(result, status: int, fragment: str) -> str:
    """The tool failed with ``status`` and said exactly one line containing ``fragment``."""
    lines = error_lines(result.stderr)
    assert result.returncode == status, result.stderr[-3000:]
    assert len(lines) == 1, "\n".join(lines)[-3000:]
    assert ": error: " in lines[0] and fragment in lines[0], lines[0]
    return lines[0]


def expect_error(fn, *fragments):
    """``fn()`` raises a one-line UserError containing every fragment; its message."""
    import pytest

    from ssah_tf.errors import UserError

    with pytest.raises(UserError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message
