"""TensorFlow's C++ start-up lines, kept off a tool's stderr unless ``--verbosity`` asks.

Importing TensorFlow and initialising its devices print several lines straight to file
descriptor 2 from C++ ("oneDNN custom operations are on", "Could not find cuda
drivers", "failed call to cuInit", ...), before and regardless of Python logging and
``TF_CPP_MIN_LOG_LEVEL``. A tool installs :class:`QuietTensorFlowStart` before its
``main``; the first ``import tensorflow`` (wherever it happens, only when the tool needs
TensorFlow) then runs with descriptor 2 pointed at a temporary file, and so does the
device initialisation. If the import fails, what was captured is written out, so an
error is never hidden.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def _descriptor_2_captured() -> Iterator[list[bytes]]:
    captured: list[bytes] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read())


class _AlreadyLoaded(importlib.abc.Loader):
    """Hands the import system the module the finder already imported."""

    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        return None


class QuietTensorFlowStart(importlib.abc.MetaPathFinder):
    """Imports TensorFlow (and initialises its devices) with its C++ start-up lines
    captured, the first time anything imports it."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or "tensorflow" in sys.modules:
            return None
        sys.meta_path.remove(self)  # once: the import below finds the real package
        with _descriptor_2_captured() as captured:
            try:
                import tensorflow

                tensorflow.config.list_physical_devices()  # cuInit's line, captured too
            except BaseException:
                failed = True
            else:
                failed = False
        if failed:
            sys.stderr.buffer.write(b"".join(captured))
            sys.stderr.flush()
            import tensorflow  # noqa: F401 (raise the import error as it is)
        module = sys.modules["tensorflow"]
        return importlib.machinery.ModuleSpec(
            "tensorflow", _AlreadyLoaded(module), origin=getattr(module, "__file__", None)
        )


def install() -> None:
    """Capture TensorFlow's start-up lines from now on (unless it is already imported)."""
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, QuietTensorFlowStart) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, QuietTensorFlowStart())
