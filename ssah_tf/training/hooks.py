"""What happens after a pass and after an evaluation, as Orbit-style actions: small
callables the Trainer calls in order with the report only, each constructed with the
handles it needs (and holding its own state), each readable (and replaceable) alone.

After a pass (:class:`PassReport`): the collapse check, the overflow warning, the
TensorBoard scalars and the progress line. After an evaluation
(:class:`EvaluationReport`): the TensorBoard scalars, the best checkpoint (when the
selection metric improved: Orbit's ``NewBestMetric``), the records on disk and the log
line. :func:`default_pass_hooks` and :func:`default_evaluation_hooks` wire them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from ssah_tf import losses
from ssah_tf.training import monitors
from ssah_tf.training.schedules import StagePlan
from ssah_tf.training.summaries import write_json_atomic


@dataclasses.dataclass(frozen=True)
class PassReport:
    """One finished pass of a stage."""

    epoch: int
    stage: StagePlan
    pass_index: int
    names: Sequence[str]  # loss terms, the total last
    means: np.ndarray  # their means over the pass
    seconds: float
    step: int  # global step after the pass
    steps: int  # steps this pass ran in this process (fewer after a mid-pass resume)
    monitored: float | None  # the release's early-break monitoring loss, when measured
    stopped: bool  # the early-break rule ended the stage
    remaining_stages: Sequence[StagePlan]  # of the epoch, for the ETA

    @property
    def terms(self) -> dict[str, float]:
        return dict(zip(self.names, self.means.tolist()))

    @property
    def generator(self) -> bool:
        return self.stage.network != "dis"

    @property
    def steps_per_second(self) -> float:
        return self.steps / max(self.seconds, 1e-9)


PassHook = Callable[[PassReport], None]


class CollapseCheck:
    """Generators: the collapse monitor on the bank rows the pass wrote (warnings and
    ``health/*`` scalars)."""

    def __init__(
        self,
        monitor: monitors.CollapseMonitor,
        summaries,
        *,
        banks,
        pass_table: tf.Variable,
        num_items: int,
        batch_size: int,
    ):
        self.monitor, self.summaries = monitor, summaries
        # The banks and the pass's batch table (its rows are the bank rows it wrote).
        self.banks, self.pass_table = banks, pass_table
        self.num_items, self.batch_size = num_items, batch_size

    def __call__(self, report: PassReport) -> None:
        if not report.generator:
            return
        stage = report.stage
        health, lines = self.monitor.check_pass(
            stage.network,
            terms=report.terms,
            num_items=self.num_items,
            batch_size=self.batch_size,
            bank=self.banks[stage.network],
            rows=np.unique(self.pass_table.numpy()),
            learning_rate=stage.learning_rate,
            # The very first pass starts from empty banks, where the terms are near their
            # Theta = 0 value by construction.
            check_plateau=(report.epoch, stage.index, report.pass_index) != (0, 0, 0),
        )
        for line in lines:
            logging.warning("%s", line)
        self.summaries.scalars(health.scalars(stage.network), report.step)


class OverflowWarning:
    """The release's literal log(1 + exp) overflows for inner products > 88: say so once."""

    def __call__(self, report: PassReport) -> None:
        losses.warn_once_on_overflow({n: tf.constant(v) for n, v in report.terms.items()})


class PassSummaries:
    """A pass's mean loss terms, learning rate, speed, monitor (and the discriminators'
    accuracies, measured by ``discriminator_accuracy()``) as TensorBoard scalars."""

    def __init__(self, summaries, discriminator_accuracy: Callable[[], dict[str, float]]):
        self.summaries, self.discriminator_accuracy = summaries, discriminator_accuracy

    def __call__(self, report: PassReport) -> None:
        self.summaries.pass_done(
            report.stage.network,
            report.terms,
            learning_rate=report.stage.learning_rate,
            steps_per_second=report.steps_per_second,
            monitored=report.monitored,
            accuracy=None if report.generator else self.discriminator_accuracy(),
            step=report.step,
        )


class ProgressLine:
    """The pass's progress line (stage, steps/s, loss terms, epoch ETA)."""

    def __init__(self, progress):
        self.progress = progress

    def __call__(self, report: PassReport) -> None:
        self.progress.pass_done(
            epoch=report.epoch,
            stage=report.stage,
            pass_index=report.pass_index,
            names=list(report.names),
            means=report.means,
            seconds=report.seconds,
            steps_per_second=report.steps_per_second,
            monitored=report.monitored,
            remaining_stages=report.remaining_stages,
            stopped=report.stopped,
        )


def default_pass_hooks(
    *,
    collapse_monitor,
    summaries,
    progress,
    banks,
    pass_table,
    discriminator_accuracy,
    num_items,
    batch_size,
) -> list[PassHook]:
    """The collapse check, the overflow warning, the TensorBoard scalars and the
    progress line, in that order."""
    return [
        CollapseCheck(
            collapse_monitor,
            summaries,
            banks=banks,
            pass_table=pass_table,
            num_items=num_items,
            batch_size=batch_size,
        ),
        OverflowWarning(),
        PassSummaries(summaries, discriminator_accuracy),
        ProgressLine(progress),
    ]


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
    """One evaluation: its record (already in the trainer's history), whether it is a
    new best by the run's selection (named ``select_on``), the test queries' hash
    outputs and results.json's content with this evaluation in it."""

    record: dict
    query_hashes: dict
    improved: bool
    value: float
    select_on: str
    step: int
    results: dict


EvaluationHook = Callable[[EvaluationReport], None]


class EvaluationSummaries:
    """mAPs (test, validation), code statistics and hash histograms in TensorBoard."""

    def __init__(self, summaries):
        self.summaries = summaries

    def __call__(self, report: EvaluationReport) -> None:
        self.summaries.evaluation(report.record, report.query_hashes, report.step)


class BestCheckpoint:
    """A new best by the selection metric: record its value in ``best_metric`` (a
    checkpointed variable) and keep this state as best/ with ``save_best()``."""

    def __init__(self, best_metric: tf.Variable, save_best: Callable[[], str]):
        self.best_metric, self.save_best = best_metric, save_best

    def __call__(self, report: EvaluationReport) -> None:
        if report.improved:
            self.best_metric.assign(report.value)
            self.save_best()


class EvaluationRecords:
    """eval/epoch_NNNN.json and results.json in ``model_dir`` (only the chief writes)."""

    def __init__(self, model_dir: str, *, is_chief: bool):
        self.model_dir, self.is_chief = model_dir, is_chief

    def __call__(self, report: EvaluationReport) -> None:
        if not self.is_chief:
            return
        name = f"epoch_{report.record['epoch']:04d}.json"
        write_json_atomic(os.path.join(self.model_dir, "eval", name), report.record)
        write_json_atomic(os.path.join(self.model_dir, "results.json"), report.results)


class EvaluationCollapseCheck:
    """A warning (once per modality) when an evaluation's codes are nearly constant."""

    def __init__(self):
        self.warned: set[str] = set()

    def __call__(self, report: EvaluationReport) -> None:
        for modality, line in monitors.evaluation_code_warnings(report.query_hashes).items():
            if modality not in self.warned:
                self.warned.add(modality)
                logging.warning("epoch %d: %s", report.record["epoch"], line)


class EvaluationLog:
    """One line: the validation and test mAPs and the selection value."""

    def __call__(self, report: EvaluationReport) -> None:
        record = report.record
        shown = [(split, record[split]) for split in ("validation", "test") if split in record]
        logging.info(
            "epoch %d evaluation: %s (selection %s %.4f%s)",
            record["epoch"],
            "; ".join(
                f"{split} " + ", ".join(f"{k} {v:.4f}" for k, v in maps.items())
                for split, maps in shown
            ),
            report.select_on,
            report.value,
            ", new best" if report.improved else "",
        )


def default_evaluation_hooks(
    *, summaries, best_metric, save_best, model_dir, is_chief
) -> list[EvaluationHook]:
    """The TensorBoard scalars, the code-collapse warning, the best checkpoint, the
    records and the log line, in that order."""
    return [
        EvaluationSummaries(summaries),
        EvaluationCollapseCheck(),
        BestCheckpoint(best_metric, save_best),
        EvaluationRecords(model_dir, is_chief=is_chief),
        EvaluationLog(),
    ]
