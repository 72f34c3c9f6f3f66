"""TensorBoard summaries and the run's JSON files (written atomically)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from ssah_tf.atomic import write_atomic
from ssah_tf.training.run_record import to_dict


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
    return {
        "bit_imbalance": float(np.abs(codes.mean(0)).mean()),
        "saturation": float((np.abs(hashes) > 0.9).mean()),
    }


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

                hp.hparams(
                    {
                        k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                        for k, v in hparams.items()
                    }
                )
            except ImportError:  # tensorboard is a TF dependency; be tolerant anyway
                pass
        self.writer.flush()

    def pass_done(
        self,
        network: str,
        terms: Mapping[str, float],
        *,
        learning_rate: float,
        steps_per_second: float,
        monitored: float | None,
        accuracy: Mapping[str, float] | None,
        step: int,
    ) -> None:
        """A pass's mean loss terms, learning rate, speed, monitor and accuracies."""
        scalars = {f"{network}/{n}": v for n, v in terms.items()}
        scalars[f"{network}/learning_rate"] = learning_rate
        scalars[f"{network}/steps_per_second"] = steps_per_second
        if monitored is not None:
            scalars[f"{network}/monitor_loss"] = monitored
        for key, value in (accuracy or {}).items():
            scalars[f"{network}/accuracy_{key}"] = value
        self.scalars(scalars, step)

    def run_config(self, config, split, replicas: int) -> None:
        """The run's configuration (text) and its hparams."""

        run, schedule = config.run, config.schedule
        self.config(
            {
                "ssah": to_dict(config.ssah),
                "schedule": dataclasses.asdict(schedule),
                "run": dataclasses.asdict(run),
                "split": split.sizes(),
                "replicas": replicas,
            },
            {
                "preset": config.ssah.preset,
                "schedule": schedule.name,
                "bits": config.ssah.network.bits,
                "batch_size": schedule.batch_size,
                "backbone": run.backbone,
                "modalities": ",".join(run.modalities),
            },
        )

    def evaluation(
        self, record: Mapping[str, Any], query_hashes: Mapping[str, np.ndarray], step: int
    ) -> None:
        """An evaluation record's mAPs (test, validation), code statistics, histograms."""
        scalars = {f"eval/{k}": v for k, v in record["test"].items()}
        scalars.update({f"eval_validation/{k}": v for k, v in record.get("validation", {}).items()})
        for modality, hashes in query_hashes.items():
            for stat, value in code_statistics(hashes).items():
                scalars[f"codes/{modality}_{stat}"] = value
            self.histogram(f"hash/{modality}", hashes, step)
        self.scalars(scalars, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()
