"""What happens after a pass and after an evaluation, as Orbit-style actions: small
callables the Trainer calls in order, each readable (and replaceable) alone.

After a pass (:class:`PassReport`): the collapse check, the overflow warning, the
TensorBoard scalars and the progress line. After an evaluation
(:class:`EvaluationReport`): the TensorBoard scalars, the best checkpoint (when the
selection metric improved: Orbit's ``NewBestMetric``), the records on disk and the log
line.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

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
    monitored: float | None  # the release's early-break monitoring loss, when measured
    stopped: bool  # the early-break rule ended the stage
    remaining_stages: Sequence[StagePlan]  # of the epoch, for the ETA

    @property
    def terms(self) -> dict[str, float]:
        return dict(zip(self.names, self.means.tolist()))

    @property
    def generator(self) -> bool:
        return self.stage.network != "dis"


PassHook = Callable[[Any, PassReport], None]


class CollapseCheck:
    """Generators: the collapse monitor on the bank rows the pass wrote (warnings and
    ``health/*`` scalars)."""

    def __call__(self, trainer, report: PassReport) -> None:
        if not report.generator:
            return
        state, stage = trainer.state, report.stage
        health, lines = trainer.collapse_monitor.check_pass(
            stage.network,
            terms=report.terms,
            num_items=trainer.num_train,
            batch_size=trainer.batch_size,
            bank=state.banks[stage.network],
            rows=np.unique(state.pass_table.numpy()),
            learning_rate=stage.learning_rate,
            # The very first pass starts from empty banks, where the terms are near their
            # Theta = 0 value by construction.
            check_plateau=(report.epoch, stage.index, report.pass_index) != (0, 0, 0),
        )
        for line in lines:
            logging.warning("%s", line)
        trainer.summaries.scalars(health.scalars(stage.network), report.step)


class OverflowWarning:
    """The release's literal log(1 + exp) overflows for inner products > 88: say so once."""

    def __call__(self, trainer, report: PassReport) -> None:
        losses.warn_once_on_overflow({n: tf.constant(v) for n, v in report.terms.items()})


class PassSummaries:
    """A pass's mean loss terms, learning rate, speed, monitor (and the discriminators'
    accuracies) as TensorBoard scalars."""

    def __call__(self, trainer, report: PassReport) -> None:
        accuracy = None if report.generator else trainer.runner.discriminator_accuracy()
        trainer.summaries.pass_done(
            report.stage.network,
            report.terms,
            learning_rate=report.stage.learning_rate,
            steps_per_second=trainer.progress.steps_per_second(report.seconds),
            monitored=report.monitored,
            accuracy=accuracy,
            step=report.step,
        )


class ProgressLine:
    """The pass's progress line (stage, steps/s, loss terms, epoch ETA)."""

    def __call__(self, trainer, report: PassReport) -> None:
        trainer.progress.pass_done(
            epoch=report.epoch,
            stage=report.stage,
            pass_index=report.pass_index,
            names=list(report.names),
            means=report.means,
            seconds=report.seconds,
            monitored=report.monitored,
            remaining_stages=report.remaining_stages,
            stopped=report.stopped,
        )


def default_pass_hooks() -> list[PassHook]:
    return [CollapseCheck(), OverflowWarning(), PassSummaries(), ProgressLine()]


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
    """One evaluation: its record (already in the trainer's history), whether it is a
    new best by the run's selection, and the test queries' hash outputs."""

    record: dict
    query_hashes: dict
    improved: bool
    value: float
    step: int


EvaluationHook = Callable[[Any, EvaluationReport], None]


class EvaluationSummaries:
    """mAPs (test, validation), code statistics and hash histograms in TensorBoard."""

    def __call__(self, trainer, report: EvaluationReport) -> None:
        trainer.summaries.evaluation(report.record, report.query_hashes, report.step)


class BestCheckpoint:
    """A new best by the selection metric: keep this state as best/ (finite only)."""

    def __call__(self, trainer, report: EvaluationReport) -> None:
        if report.improved:
            trainer.state.best_metric.assign(report.value)
            trainer.save_best()


class EvaluationRecords:
    """eval/epoch_NNNN.json and results.json (the chief writes them)."""

    def __call__(self, trainer, report: EvaluationReport) -> None:

        if trainer.is_chief:
            write_json_atomic(
                os.path.join(
                    trainer.config.run.model_dir, "eval", f"epoch_{report.record['epoch']:04d}.json"
                ),
                report.record,
            )
        trainer.write_results()


class EvaluationCollapseCheck:
    """A warning (once per modality) when an evaluation's codes are nearly constant."""

    def __init__(self):
        self.warned: set[str] = set()

    def __call__(self, trainer, report: EvaluationReport) -> None:
        for modality, line in monitors.evaluation_code_warnings(report.query_hashes).items():
            if modality not in self.warned:
                self.warned.add(modality)
                logging.warning("epoch %d: %s", report.record["epoch"], line)


class EvaluationLog:
    """One line: the validation and test mAPs and the selection value."""

    def __call__(self, trainer, report: EvaluationReport) -> None:
        record = report.record
        shown = [(split, record[split]) for split in ("validation", "test") if split in record]
        logging.info(
            "epoch %d evaluation: %s (selection %s %.4f%s)",
            record["epoch"],
            "; ".join(
                f"{split} " + ", ".join(f"{k} {v:.4f}" for k, v in maps.items())
                for split, maps in shown
            ),
            trainer.selection.select_on,
            report.value,
            ", new best" if report.improved else "",
        )


def default_evaluation_hooks() -> list[EvaluationHook]:
    return [
        EvaluationSummaries(),
        EvaluationCollapseCheck(),
        BestCheckpoint(),
        EvaluationRecords(),
        EvaluationLog(),
    ]
