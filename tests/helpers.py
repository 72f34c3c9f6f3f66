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
    """A MatConvNet CNN-F file with the real layer list (21 layers) and small widths.

    ``old``: top-level ``normalization`` (the release's layout); ``new``: ``meta.normalization``.
    """
    import scipy.io

    rng = np.random.default_rng(seed)

    def conv(name, k, cin, cout, stride, pad):
        weights = np.empty((1, 2), dtype=object)  # MATLAB's {W, b} cell
        weights[0, 0] = rng.normal(0, .05, (k, k, cin, cout)).astype(np.float32)
        weights[0, 1] = rng.normal(0, .05, (cout, 1)).astype(np.float32)
        return {"weights": weights,
                "pad": np.array([pad], np.uint8).reshape(1, -1), "type": "conv", "name": name,
                "stride": np.array([[stride, stride]], np.uint8)}

    def pool(name, pad):
        return {"name": name, "stride": np.array([[2, 2]], np.uint8),
                "pad": np.array([pad], np.uint8), "type": "pool", "method": "max",
                "pool": np.array([[3, 3]], np.uint8)}

    relu = lambda n: {"type": "relu", "name": n}
    norm = lambda n: {"name": n, "param": np.array([[5, 2, 1e-4, .75]]), "type": "normalize"}
    c1, c2, c3, c4, c5 = widths
    layers = [conv("conv1", 11, 3, c1, 4, [0, 0, 0, 0]), relu("relu1"), norm("norm1"),
              pool("pool1", [0, 1, 0, 1]), conv("conv2", 5, c1, c2, 1, [2, 2, 2, 2]),
              relu("relu2"), norm("norm2"), pool("pool2", [0, 0, 0, 0]),
              conv("conv3", 3, c2, c3, 1, [1, 1, 1, 1]), relu("relu3"),
              conv("conv4", 3, c3, c4, 1, [1, 1, 1, 1]), relu("relu4"),
              conv("conv5", 3, c4, c5, 1, [1, 1, 1, 1]), relu("relu5"), pool("pool5", [0, 0, 0, 0]),
              conv("fc6", 6, c5, fc6, 1, [0, 0, 0, 0]), relu("relu6"),
              conv("fc7", 1, fc6, fc7, 1, [0, 0, 0, 0]), relu("relu7"),
              conv("fc8", 1, fc7, 3, 1, [0, 0, 0, 0]), {"type": "softmax", "name": "prob"}]
    cells = np.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cells[0, i] = layer
    normalization = {"averageImage": rng.uniform(90, 130, mean_shape).astype(np.float32),
                     "imageSize": np.array([[224, 224, 3]], np.uint8)}
    if layout == "old":
        scipy.io.savemat(path, {"layers": cells, "normalization": normalization})
    else:
        scipy.io.savemat(path, {"layers": cells, "meta": {"normalization": normalization}})
