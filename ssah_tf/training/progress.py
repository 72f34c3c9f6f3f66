"""What a training run reports after each pass and epoch: the progress line (with
the epoch's ETA), TensorBoard scalars, collapse warnings, the epoch table."""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf
from absl import logging

from ssah_tf import losses


class Progress:
    """Pass lines and the epoch table; remembers each network's last pass time for ETAs."""

    def __init__(self, steps_per_pass: int):
        self.steps_per_pass = steps_per_pass
        self.pass_seconds: dict[str, float] = {}
        self.rows: dict[str, dict[str, float]] = {}

    def steps_per_second(self, seconds: float) -> float:
        return self.steps_per_pass / max(seconds, 1e-9)

    def pass_done(self, *, epoch: int, stage, pass_index: int, names: list[str], means,
                  seconds: float, monitored: float | None, remaining_stages, stopped: bool) -> None:
        """Log a pass (its mean loss terms) and keep its time for the epoch's ETA."""
        self.pass_seconds[stage.network] = seconds
        row = self.rows.setdefault(f"{stage.network}[{stage.index}]",
                                   {"passes": 0, "seconds": 0.0, "loss": 0.0})
        row["passes"] += 1
        row["seconds"] += seconds
        row["loss"] = float(means[-1])
        remaining = sum(self.pass_seconds.get(p.network, seconds) * p.passes
                        for p in remaining_stages)
        remaining += seconds * (stage.passes - pass_index - 1)
        logging.info(
            "epoch %d %s[%d] pass %d/%d: %.1f steps/s, loss %.4g (%s)%s%s, epoch ETA %s",
            epoch, stage.network, stage.index, pass_index + 1, stage.passes,
            self.steps_per_second(seconds), means[-1],
            ", ".join(f"{n} {v:.4g}" for n, v in zip(names[:-1], means[:-1])),
            f", monitor {monitored:.6g}" if monitored is not None else "",
            " -> early break" if stopped else "", time.strftime("%H:%M:%S", time.gmtime(remaining)))

    def epoch_done(self, epoch: int, seconds: float) -> None:
        lines = [f"epoch {epoch} summary ({seconds:.1f} s):",
                 f"  {'stage':8s} {'passes':>6s} {'seconds':>8s} {'last loss':>12s}"]
        for stage, row in self.rows.items():
            lines.append(f"  {stage:8s} {row['passes']:6d} {row['seconds']:8.1f} {row['loss']:12.5g}")
        logging.info("\n".join(lines))
        self.rows = {}


def report_pass(*, progress: Progress, summaries, collapse_monitor, epoch: int, stage,
                pass_index: int, names: list[str], means: np.ndarray, seconds: float,
                monitored: float | None, remaining_stages, stopped: bool, step: int,
                bank=None, rows: np.ndarray | None = None, num_items: int = 0,
                batch_size: int = 0, accuracy: dict | None = None) -> None:
    """Everything reported after a pass: collapse checks (generators: on the bank rows
    the pass wrote), scalars, the overflow warning and the progress line."""
    terms = dict(zip(names, means.tolist()))
    if bank is not None:
        health, lines = collapse_monitor.check_pass(
            stage.network, terms=terms, num_items=num_items, batch_size=batch_size, bank=bank,
            rows=rows, learning_rate=stage.learning_rate,
            # The very first pass starts from empty banks, where the terms are near their
            # Theta = 0 value by construction.
            check_plateau=(epoch, stage.index, pass_index) != (0, 0, 0))
        for line in lines:
            logging.warning("%s", line)
        summaries.scalars(health.scalars(stage.network), step)
    # The release's literal log(1 + exp) overflows for inner products > 88: say so once.
    losses.warn_once_on_overflow({n: tf.constant(v) for n, v in terms.items()})
    summaries.pass_done(stage.network, terms, learning_rate=stage.learning_rate,
                        steps_per_second=progress.steps_per_second(seconds), monitored=monitored,
                        accuracy=accuracy, step=step)
    progress.pass_done(epoch=epoch, stage=stage, pass_index=pass_index, names=names, means=means,
                       seconds=seconds, monitored=monitored, remaining_stages=remaining_stages,
                       stopped=stopped)
