""".npz / .npy files read safely: never pickle, and one clear line for a file that
is not what its name says.

NumPy's own message for a file that is not an .npy ("contains pickled data ...
load it unsafely") is the wrong diagnosis and a dangerous suggestion, so the
format is checked by its magic bytes first.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ssah_tf.errors import UserError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _head(path: str, what: str) -> bytes:
    if not os.path.isfile(path):
        raise UserError(f"{what} {path} does not exist")
    with open(path, "rb") as f:
        return f.read(8)


def _plain(array: np.ndarray, path: str, key: str | None) -> np.ndarray:
    where = f"{path}:{key}" if key else path
    if array.dtype.hasobject:
        raise UserError(
            f"{where} holds Python objects (an object array); save plain numeric "
            "arrays (e.g. np.asarray(x, np.float32))"
        )
    if np.iscomplexobj(array):
        raise UserError(
            f"{where} holds complex numbers; save real arrays (e.g. np.real(x) if the "
            "imaginary parts are zero)"
        )
    return array


def load_npz(path: str, what: str = "file") -> dict[str, np.ndarray]:
    """Every array of an .npz file (no pickle); UserError if it is not one."""
    head = _head(path, what)
    if not head.startswith(ZIP_MAGICS):
        raise UserError(f"{what} {path} is not a valid .npz file (not a NumPy zip archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {}
            for key in f.files:
                try:
                    out[key] = _plain(f[key], path, key)
                except ValueError as error:
                    if "pickle" in str(error):
                        raise UserError(
                            f"{path}:{key} holds Python objects (an object array); "
                            "save plain numeric arrays"
                        ) from None
                    raise
            return out
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as error:
        raise UserError(
            f"{what} {path} is not a valid .npz file ({type(error).__name__}: {error})"
        ) from None


def load_npy(path: str, what: str = "file") -> np.ndarray:
    """The array of an .npy file (no pickle); UserError if it is not one."""
    head = _head(path, what)
    if not head.startswith(NPY_MAGIC):
        raise UserError(f"{what} {path} is not a valid .npy file (no NumPy header)")
    try:
        return _plain(np.load(path, allow_pickle=False), path, None)
    except ValueError as error:
        if "pickle" in str(error) or "object" in str(error):
            raise UserError(
                f"{path} holds Python objects (an object array); save plain numeric "
                "arrays (e.g. np.asarray(x, np.float32))"
            ) from None
        raise UserError(f"{what} {path} is not a valid .npy file ({error})") from None
    except (OSError, EOFError) as error:
        raise UserError(f"{what} {path} is not a valid .npy file ({error})") from None


def load_json(path: str):
    """A run file's JSON; UserError naming the file when it does not parse."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(
            f"{path} is damaged (not valid JSON: {error}); restore it from a backup or remove it"
        ) from None


def require_exists(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise UserError(f"{what} {path} does not exist; check `data_path`")
