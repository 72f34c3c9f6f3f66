"""Training's cost growth (``ssah-bench --scale``): ``ssah-train`` for one epoch in a
child process per size, on synthetic features or on pictures streamed from an
ssah-prepare copy; each child's epoch time and peak RSS."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scale.py imports this module: the config's type only
    from ssah_tf.bench.scale import ScaleConfig


def synthetic_labels(rng, n: int, num_labels: int) -> np.ndarray:
    labels = (rng.random((n, num_labels)) < 0.1).astype(np.float32)
    labels[np.arange(n), rng.integers(0, num_labels, n)] = 1.0  # every item labelled
    return labels


def feature_collection(path: str, n: int, num_labels: int, rng) -> None:
    """An .npz the size of a MIRFLICKR-like collection: 512-d image features and
    1,386-d bag-of-words texts that depend on the labels, 24 labels."""
    labels = synthetic_labels(rng, n, num_labels)
    image_mix = rng.normal(size=(num_labels, 512)).astype(np.float32)
    text_mix = rng.random((num_labels, 1386)) < 0.02
    images = labels @ image_mix + rng.normal(size=(n, 512)).astype(np.float32)
    texts = ((labels @ text_mix) + (rng.random((n, 1386)) < 0.005)) > 0
    np.savez(path, image_features=images, texts=texts.astype(np.float32), labels=labels)


def picture_collection(folder: str, n: int, num_labels: int, rng) -> str:
    """``n`` 32-px PNG pictures (a colour a label) and a CSV manifest of them."""
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    palette = rng.integers(0, 256, (num_labels, 3))
    labels = synthetic_labels(rng, n, num_labels)
    manifest = os.path.join(folder, "manifest.csv")
    with open(manifest, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "words", "labels"])
        for i in range(n):
            present = np.flatnonzero(labels[i])
            pixels = np.zeros((32, 32, 3), np.uint8)
            for k, label in enumerate(present[:4]):
                pixels[(k // 2) * 16 : (k // 2 + 1) * 16, (k % 2) * 16 : (k % 2 + 1) * 16] = (
                    palette[label]
                )
            pixels = np.clip(pixels + rng.integers(0, 24, pixels.shape), 0, 255).astype(np.uint8)
            name = f"p{i:06d}.png"
            Image.fromarray(pixels).save(os.path.join(folder, name))
            words = [f"w{label}" for label in present] + [f"n{rng.integers(0, 200)}"]
            writer.writerow([name, ";".join(words), ";".join(f"c{label}" for label in present)])
    return manifest


def _run_child(command: list[str], log_path: str) -> tuple[float, float]:
    """Run ``command``; (wall seconds, the child's peak RSS in GB). Fails loudly."""
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log_file:
        child = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        )
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command[2:4])} failed; its output: {log_path}")
    return seconds, usage.ru_maxrss * 1024 / 1e9


def training_scaling(config: ScaleConfig, workdir: str, log: Callable[..., None]) -> list[dict]:
    """One epoch of ``ssah-train`` (paper preset) per size, features then pictures:
    its epoch time (from the run's own evaluation record) and the child's peak RSS."""
    rng = np.random.default_rng(2)
    python = sys.executable
    common = [
        f"--bits={config.train_bits}",
        "--epochs=1",
        "--eval_every=0",
        "--keep_checkpoints=1",
        f"--query_size={config.train_queries}",
    ]
    rows = []
    jobs = [("features", n) for n in config.train_feature_sizes] + [
        ("pictures", n) for n in config.train_picture_sizes
    ]
    for kind, size in jobs:
        # Training items = size; the rest of the database gives the validation queries.
        items = size + 2 * config.train_queries
        base = os.path.join(workdir, f"{kind}_{size}")
        prepare_s = None
        if kind == "features":
            data_path = base + ".npz"
            feature_collection(data_path, items, config.num_labels, rng)
            data = ["--dataset=npz", f"--data_path={data_path}"]
        else:
            manifest = picture_collection(base + "_png", items, config.num_labels, rng)
            copy_root = base + "_tfds"
            prepare_s, _ = _run_child(
                [
                    python,
                    "-m",
                    "ssah_tf.cli.prepare",
                    f"--data_path={manifest}",
                    f"--data_dir={copy_root}",
                ],
                base + "_prepare.log",
            )
            copy = os.path.join(copy_root, "manifest")  # named after the manifest file
            data = ["--dataset=collection", f"--data_dir={copy}", "--image_size=32"]
        run_dir = base + "_run"
        wall_s, rss_gb = _run_child(
            [
                python,
                "-m",
                "ssah_tf.cli.train",
                *data,
                *common,
                f"--train_size={size}",
                f"--model_dir={run_dir}",
            ],
            base + "_train.log",
        )
        with open(os.path.join(run_dir, "eval", "epoch_0000.json"), encoding="utf-8") as f:
            record = json.load(f)
        row = {
            "input": kind,
            "train_items": size,
            "epoch_s": record["epoch_seconds"],
            "eval_s": record["eval_seconds"],
            "wall_s": wall_s,
            "prepare_s": prepare_s,
            "peak_rss_gb": rss_gb,
        }
        log("training scale %s", row)
        rows.append(row)
    return rows
