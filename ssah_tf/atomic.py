"""Atomic writes: a temporary file (or folder) beside the target, renamed when complete.

A failure leaves the target untouched and removes the temporary and any parent
folders the call created. What is written gets the permissions the user's umask
gives any new file or folder (``mkstemp`` / ``mkdtemp`` would leave 0600 / 0700).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_parents(directory: str) -> list[str]:
    """Create ``directory`` and missing parents; return those created (deepest last)."""
    created = []
    path = os.path.abspath(directory)
    while not os.path.exists(path):
        created.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(created):
        os.mkdir(folder)
    return list(reversed(created))


def _remove_created(created: list[str]) -> None:
    for folder in reversed(created):
        try:
            os.rmdir(folder)
        except OSError:
            pass


def write_atomic(path: str, write: Callable[[IO], None], *, binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file and rename it to ``path`` on success;
    on any failure the temporary file is removed and ``path`` is untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    created = _make_parents(directory)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    except BaseException:
        _remove_created(created)
        raise
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        _remove_created(created)
        raise


@contextlib.contextmanager
def staged_directory(final_path: str, prefix: str) -> Iterator[str]:
    """Yield a fresh temporary folder beside ``final_path``; rename it to ``final_path``
    when the block completes (an existing empty ``final_path`` is replaced), remove it
    (and any parent folders made for it) when the block fails."""
    parent = os.path.dirname(os.path.abspath(final_path))
    created = _make_parents(parent)
    try:
        staging = tempfile.mkdtemp(dir=parent, prefix=prefix)
    except BaseException:
        _remove_created(created)
        raise
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        if os.path.isdir(final_path):
            os.rmdir(final_path)
        os.replace(staging, final_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_created(created)
        raise


@contextlib.contextmanager
def staged_output(directory: str) -> Iterator[str]:
    """Yield a temporary folder; when the block completes, move everything in it into
    ``directory`` (created if needed, same-named entries replaced); when it fails,
    remove it and leave ``directory`` as it was."""
    if not os.path.isdir(directory):
        with staged_directory(directory, ".output-") as staging:
            yield staging
        return
    staging = tempfile.mkdtemp(dir=directory, prefix=".output-")
    try:
        yield staging
        for name in os.listdir(staging):
            target = os.path.join(directory, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            os.replace(os.path.join(staging, name), target)
        os.rmdir(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
