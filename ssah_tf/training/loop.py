"""The SSAH trainer: Algorithm 1 as an eager epoch / stage / pass loop around one
``tf.function`` per stage, each running many steps with ``tf.range`` around
``strategy.run`` (steps.py holds the step itself).

The trainer owns the strategy, networks, optimizers, the training state (state.py)
and its checkpoint; it checkpoints at pass and epoch ends (and on SIGTERM / Ctrl-C
at the next step boundary; with MultiWorkerMirroredStrategy, whose workers must agree,
at the end of the running ``steps_per_loop`` chunk), evaluates after epochs
(evaluation/evaluator.py) and keeps the best checkpoint.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from ssah_tf.config import TrainConfig
from ssah_tf.data.protocols import Split
from ssah_tf.evaluation.evaluator import load_history, results_summary
from ssah_tf.evaluation.protocol import protocol_record
from ssah_tf.training import checkpoints
from ssah_tf.training import state as state_lib
from ssah_tf.training.divergence import Diverged, DivergenceWatch
from ssah_tf.training.hooks import (
    EvaluationReport,
    PassReport,
)
from ssah_tf.training.preemption import Preempted, StopSignals
from ssah_tf.training.progress import Progress
from ssah_tf.training.runner import StageRunner
from ssah_tf.training.schedules import (
    ScheduleExhausted,
    StagePlan,
    early_break,
    epoch_plan,
    monitors_this_pass,
)
from ssah_tf.training.summaries import SummaryWriter, write_json_atomic

__all__ = ["Diverged", "Preempted", "Trainer"]


class Trainer:
    """Trains SSAH on ``data`` restricted to ``split.train``; evaluates on query/database.

    Handed its parts by :func:`factory.build_trainer <ssah_tf.training.factory.build_trainer>`
    (``parts``: networks, inputs, state and optimizers; the stage runner; the checkpoint
    with its latest and best managers; the evaluator and model selection; the divergence
    watch, stop signals and progress table; its hooks); runs the epoch / stage / pass
    loop and after every pass and evaluation calls its hooks (hooks.py) in order with
    the pass's or evaluation's report.
    """

    def __init__(
        self,
        config: TrainConfig,
        data,
        split: Split,
        strategy: tf.distribute.Strategy,
        *,
        parts,
        runner: StageRunner,
        checkpoint: tf.train.Checkpoint,
        saves: checkpoints.RunCheckpoints,
        summaries: SummaryWriter,
        evaluator,
        selection,
        divergence: DivergenceWatch,
        signals: StopSignals,
        progress: Progress,
        pass_hooks: list,
        evaluation_hooks: list,
        is_chief: bool,
        scratch_dir: str,
    ):
        self.config, self.data, self.split, self.strategy = config, data, split, strategy
        self.parts, self.runner, self.table = parts, runner, runner.table
        self.checkpoint, self.saves, self.summaries = checkpoint, saves, summaries
        self.evaluator, self.selection = evaluator, selection
        self.divergence, self.signals = divergence, signals
        self.progress = progress
        self.pass_hooks, self.evaluation_hooks = pass_hooks, evaluation_hooks
        self.is_chief, self.scratch_dir = is_chief, scratch_dir
        # What results.json says the run is (ssah-table groups runs by it).
        self.setup = {
            "method": "ssah",
            "dataset": data.name,
            "preset": config.ssah.preset,
            "modalities": list(config.run.modalities),
            "backbone": config.run.backbone,
        }
        # Why training ended (results.json "stopped"); None while it runs.
        self.stopped: dict[str, Any] | None = None
        self._last_epoch_seconds = 0.0
        self.history: list[dict[str, Any]] = []
        # How the start went (resumed, initialised from ...), logged once the run is ours.
        self.start_message = "new run"

    def restore_or_initialize(
        self, *, resume: bool, init_from: str | None, resume_from: str | None = None
    ) -> None:
        """Restore the run's state as the flags ask (state.restore_or_initialize)."""
        resumed, self.start_message = state_lib.restore_or_initialize(
            self.checkpoint,
            self.saves.latest_manager,
            self.parts.networks,
            resume=resume,
            init_from=init_from,
            resume_from=resume_from,
            model_dir=self.config.run.model_dir,
        )
        if resumed:
            self.start_message += f" ({self.parts.state.position()})"
            self.history = load_history(self.config.run.model_dir, self._epochs_done())

    def _epochs_done(self) -> int:
        """The epoch counter: epochs finished, i.e. the index of the next epoch."""
        return int(self.parts.state.epoch.numpy())

    # ------------------------------------------------------------------ steps
    def _run_pass(self, stage: StagePlan) -> tuple[np.ndarray, int]:
        """One pass (from a mid-pass checkpoint's step on); the mean loss terms and the
        number of steps run.

        Steps run ``steps_per_loop`` at a time (one tf.function call each), in a worker
        thread while this thread stays free for stop signals; a stop signal ends the
        call at the next step boundary (multi-worker: at the chunk's end) and
        checkpoints there."""
        state, steps_per_pass = self.parts.state, self.parts.steps_per_pass
        chunk = self.config.run.steps_per_loop or steps_per_pass
        start = int(state.step_in_pass.numpy())
        if start == 0:
            self.runner.new_pass_table()
        totals, step = None, start
        for result, done, seconds in self.runner.pass_chunks(stage.network, start, chunk):
            if done:
                self.signals.step_seconds = seconds / done
                self.divergence.check_pass(stage, result, step + done)
                totals = result if totals is None else totals + result
                step += done
                state.step_in_pass.assign(step)
                state.global_step.assign_add(done)
            if self.signals.requested and step < steps_per_pass:
                raise Preempted(self.saves.save("preempted"))
        state.step_in_pass.assign(0)
        return totals / max(1, steps_per_pass - start), steps_per_pass - start

    # ------------------------------------------------------------------ outer loop
    def train(self) -> dict[str, Any]:
        """Run (or continue) training to ``schedule.epochs``; returns the final results."""
        self.summaries.run_config(self.config, self.split, self.strategy.num_replicas_in_sync)
        try:
            with self.signals.installed():
                self._train_epochs()
        except ScheduleExhausted as stop:
            logging.warning("stopping before epoch %d: %s", self._epochs_done(), stop)
            self.stopped = {"reason": "schedule_exhausted", "message": str(stop)}
        finally:
            self.summaries.flush()
        if not self.history or self.history[-1]["epoch"] != self._epochs_done() - 1:
            # The last epoch's time when this process trained it (0.0: resumed after it).
            self.evaluate_and_select(self._epochs_done() - 1, self._last_epoch_seconds)
        results = self.write_results()
        if not self.is_chief:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
        return results

    def _train_epochs(self) -> None:
        while self.stopped is None:
            self.stopped = self._stop_reason()
            if self.stopped is None:
                epoch = self._epochs_done()
                self._run_epoch(
                    epoch,
                    epoch_plan(
                        self.table, epoch, self.parts.networks_present, self.parts.steps_per_pass
                    ),
                )

    def _stop_reason(self) -> dict[str, Any] | None:
        """Why training ends before the next epoch (None: it goes on)."""
        epochs = self.config.schedule.epochs
        if self._epochs_done() >= epochs:
            return {"reason": "epochs", "epochs": epochs}
        if self.selection.should_stop(self.history):
            best = self.selection.best(self.history)
            logging.info(
                "early stopping: %d evaluations without improvement on the %s "
                "selection metric since epoch %d",
                self.selection.patience,
                self.selection.select_on,
                best["epoch"],
            )
            return {
                "reason": "early_stopping",
                "patience": self.selection.patience,
                "best_epoch": best["epoch"],
                "last_epoch": self.history[-1]["epoch"],
            }
        return None

    def _run_epoch(self, epoch: int, plan: list[StagePlan]) -> None:
        """The epoch's stages from the checkpointed cursor, then evaluation and a save."""
        state, run = self.parts.state, self.config.run
        started = time.time()
        while int(state.stage_cursor.numpy()) < len(plan):
            stage = plan[int(state.stage_cursor.numpy())]
            self.parts.optimizers[stage.network].learning_rate.assign(stage.learning_rate)
            self._run_stage(epoch, stage, plan)
        self._last_epoch_seconds = time.time() - started
        self.progress.epoch_done(epoch, self._last_epoch_seconds)
        state.epoch.assign_add(1)
        state.stage_cursor.assign(0)
        done = int(state.epoch.numpy())
        if run.eval_every and (done % run.eval_every == 0 or done >= self.config.schedule.epochs):
            self.evaluate_and_select(epoch, time.time() - started)
        path = self.saves.save("epoch")
        if self.signals.requested:
            raise Preempted(path)

    def _run_stage(self, epoch: int, stage: StagePlan, plan: list[StagePlan]) -> None:
        """The stage's passes from the checkpointed cursor; saves on the cadence."""
        state, run = self.parts.state, self.config.run
        while int(state.pass_cursor.numpy()) < stage.passes:
            pass_index = int(state.pass_cursor.numpy())
            began = time.time()
            means, steps = self._run_pass(stage)
            seconds = time.time() - began
            stop, monitored = self._early_break(stage, pass_index)
            state.pass_cursor.assign(stage.passes if stop else pass_index + 1)
            report = PassReport(
                epoch=epoch,
                stage=stage,
                pass_index=pass_index,
                names=self.runner.term_names(stage.network),
                means=means,
                seconds=seconds,
                step=int(state.global_step.numpy()),
                steps=steps,
                monitored=monitored,
                stopped=stop,
                remaining_stages=plan[int(state.stage_cursor.numpy()) + 1 :],
            )
            for hook in self.pass_hooks:
                hook(report)
            stage_done = int(state.pass_cursor.numpy()) >= stage.passes
            if stage_done:
                state.stage_cursor.assign_add(1)
                state.pass_cursor.assign(0)
                state.monitor_log.assign([math.inf, math.inf])
            if (
                run.save_every_passes > 0
                and (pass_index + 1) % run.save_every_passes == 0
                and time.time() - self.saves.last_save >= run.checkpoint_interval_seconds
            ):
                self.saves.save("pass")
            if self.signals.requested:  # a stop signal: stop at this pass boundary
                raise Preempted(self.saves.save("preempted"))
            if stage_done:
                return

    def _early_break(self, stage: StagePlan, pass_index: int) -> tuple[bool, float | None]:
        """Apply the release's early-break rule after a pass; returns (break?, monitored)."""
        if not monitors_this_pass(stage.early_break, pass_index):
            return False, None
        monitored = self.runner.monitor_loss(stage.network)
        stop, log = early_break(
            stage.early_break, pass_index, tuple(self.parts.state.monitor_log.numpy()), monitored
        )
        self.parts.state.monitor_log.assign(log)
        return stop, monitored

    # ------------------------------------------------------------------ evaluation
    def evaluate_and_select(self, epoch: int, epoch_seconds: float) -> dict[str, Any]:
        """Evaluate and run the evaluation hooks (summaries, the best checkpoint by the
        run's selection: validation queries in the paper preset, never the test
        queries; records; log line); returns the results so far."""
        started = time.time()
        record, query_hashes = self.evaluator.record(epoch)
        improved = self.selection.improves(record, self.history)
        value = self.selection.value(record)
        record.update(
            selection_value=value,
            best_so_far=improved,
            eval_seconds=time.time() - started,
            epoch_seconds=epoch_seconds,
        )
        self.history.append(record)
        report = EvaluationReport(
            record=record,
            query_hashes=query_hashes,
            improved=improved,
            value=value,
            select_on=self.selection.select_on,
            step=int(self.parts.state.global_step.numpy()),
            results=self.results(),
        )
        for hook in self.evaluation_hooks:
            hook(report)
        return report.results

    def results(self) -> dict[str, Any]:
        """results.json's content from the evaluations so far (and why training stopped)."""
        run = self.config.run
        protocol = protocol_record(
            map_variant=run.map_variant,
            top_k=run.map_top_k,
            selected_on=run.select_on,
            split=self.split,
            bits=self.config.ssah.network.bits,
            seed=run.seed,
        )
        summary = results_summary(
            self.history,
            selection=self.selection,
            label_prior=self.evaluator.label_prior(),
            split=self.split,
            stopped=self.stopped,
            protocol=protocol,
        )
        summary["setup"] = self.setup
        return summary

    def write_results(self) -> dict[str, Any]:
        """Write results.json (the chief) and return it."""
        summary = self.results()
        if self.is_chief:
            write_json_atomic(os.path.join(self.config.run.model_dir, "results.json"), summary)
        return summary
