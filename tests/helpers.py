"""Helpers shared by tests: writing files in the real layouts, running CLIs."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_matlab_v73(path: str, variables: dict[str, np.ndarray]) -> None:
    """Write ``variables`` (MATLAB orientation) as MATLAB v7.3 does: HDF5 with a
    512-byte MATLAB header, column-major, i.e. every array's dims reversed."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            f.create_dataset(name, data=np.ascontiguousarray(np.asarray(value).transpose()))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Fri Nov 27 00:00:00 2026 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")


def run_cli(module: str, *args: str, timeout: int = 600, env: dict | None = None):
    """Run ``python -m module args`` from the repository; returns CompletedProcess."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO,
                       CUDA_VISIBLE_DEVICES="")
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=timeout, env=environment, cwd=REPO)


def small_dataset_arrays(n=12, h=8, w=6, d_t=7, c=4, seed=0):
    """Random images (N x H x W x 3 uint8), 0/1 texts and labels with >= 1 label per row."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    texts = (rng.random((n, d_t)) < 0.4).astype(np.float32)
    texts[:, 0] = 1.0
    labels = (rng.random((n, c)) < 0.4).astype(np.float32)
    labels[np.arange(n), rng.integers(0, c, n)] = 1.0
    return images, texts, labels


def write_fake_cnnf(path: str, *, layout: str = "old", widths=(6, 6, 6, 6, 6), fc6: int = 10,
                    fc7: int = 20, seed: int = 0, mean_shape=(224, 224, 3)) -> None:
    """A MatConvNet CNN-F file with the real layer list (21 layers) and small widths."""
    from ssah_tf.bench.random_cnnf import write_random_cnnf

    write_random_cnnf(path, conv_widths=widths, fc_widths=(fc6, fc7, 3), layout=layout,
                      seed=seed, mean_shape=mean_shape, stddev=0.05)

