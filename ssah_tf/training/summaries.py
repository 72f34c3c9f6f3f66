"""TensorBoard summaries and the run's JSON files (written atomically)."""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from ssah_tf.atomic import write_atomic


def write_json_atomic(path: str, payload: Any) -> None:
    """Write JSON via a temporary file and rename: never a half-written file."""
    write_atomic(path, lambda f: json.dump(payload, f, indent=1, sort_keys=True, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def code_statistics(hashes: np.ndarray) -> dict[str, float]:
    """Bit balance (mean |mean bit|, 0 = balanced) and saturation (fraction |H| > 0.9)."""
    codes = np.where(hashes >= 0, 1.0, -1.0)
    return {"bit_imbalance": float(np.abs(codes.mean(0)).mean()),
            "saturation": float((np.abs(hashes) > 0.9).mean())}


class SummaryWriter:
    """Scalars, histograms, config text and hparams under ``<run>/tensorboard``.

    The event file is created at the first write, so building a trainer (to validate
    a start, or to evaluate a run) leaves nothing on disk.
    """

    def __init__(self, log_dir: str):
        self.log_dir = log_dir
        self._writer = None

    @property
    def writer(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, float(value))

    def histogram(self, name: str, values: np.ndarray, step: int) -> None:
        with self.writer.as_default(step=step):
            tf.summary.histogram(name, values)

    def config(self, config: Mapping[str, Any], hparams: Mapping[str, Any]) -> None:
        with self.writer.as_default(step=0):
            text = "```\n" + json.dumps(config, indent=1, default=_jsonable) + "\n```"
            tf.summary.text("config", text)
            try:
                from tensorboard.plugins.hparams import api as hp

                hp.hparams({k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                            for k, v in hparams.items()})
            except ImportError:  # tensorboard is a TF dependency; be tolerant anyway
                pass
        self.writer.flush()

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()
