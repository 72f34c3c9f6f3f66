"""The progress a training run prints: a line per pass (with the epoch's ETA) and the
epoch's table (hooks.ProgressLine calls it after every pass)."""

from __future__ import annotations

import time

from absl import logging


class Progress:
    """Pass lines and the epoch table; remembers each network's last pass time for ETAs."""

    def __init__(self):
        self.pass_seconds: dict[str, float] = {}
        self.rows: dict[str, dict[str, float]] = {}

    def pass_done(
        self,
        *,
        epoch: int,
        stage,
        pass_index: int,
        names: list[str],
        means,
        seconds: float,
        steps_per_second: float,
        monitored: float | None,
        remaining_stages,
        stopped: bool,
    ) -> None:
        """Log a pass (its mean loss terms and speed) and keep its time for the epoch's
        ETA."""
        self.pass_seconds[stage.network] = seconds
        row = self.rows.setdefault(
            f"{stage.network}[{stage.index}]", {"passes": 0, "seconds": 0.0, "loss": 0.0}
        )
        row["passes"] += 1
        row["seconds"] += seconds
        row["loss"] = float(means[-1])
        remaining = sum(
            self.pass_seconds.get(p.network, seconds) * p.passes for p in remaining_stages
        )
        remaining += seconds * (stage.passes - pass_index - 1)
        logging.info(
            "epoch %d %s[%d] pass %d/%d: %.1f steps/s, loss %.4g (%s)%s%s, epoch ETA %s",
            epoch,
            stage.network,
            stage.index,
            pass_index + 1,
            stage.passes,
            steps_per_second,
            means[-1],
            ", ".join(f"{n} {v:.4g}" for n, v in zip(names[:-1], means[:-1])),
            f", monitor {monitored:.6g}" if monitored is not None else "",
            " -> early break" if stopped else "",
            time.strftime("%H:%M:%S", time.gmtime(remaining)),
        )

    def epoch_done(self, epoch: int, seconds: float) -> None:
        lines = [
            f"epoch {epoch} summary ({seconds:.1f} s):",
            f"  {'stage':8s} {'passes':>6s} {'seconds':>8s} {'last loss':>12s}",
        ]
        for stage, row in self.rows.items():
            lines.append(
                f"  {stage:8s} {row['passes']:6d} {row['seconds']:8.1f} {row['loss']:12.5g}"
            )
        logging.info("\n".join(lines))
        self.rows = {}
