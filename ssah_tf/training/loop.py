"""The SSAH trainer: Algorithm 1 as an eager epoch / stage / pass loop around one
``tf.function`` per stage, each running many steps with ``tf.range`` around
``strategy.run`` (steps.py holds the step itself).

The trainer owns the strategy, networks, optimizers, the training state (state.py)
and its checkpoint; it checkpoints at pass and epoch ends (and on SIGTERM / Ctrl-C
at the next step boundary), evaluates after epochs (evaluation/evaluator.py) and
keeps the best checkpoint.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import time
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from ssah_tf.config import TrainConfig, schedule_table
from ssah_tf.data.protocols import Split
from ssah_tf.errors import UserError
from ssah_tf.evaluation.evaluator import load_history, results_summary
from ssah_tf.evaluation.protocol import protocol_record
from ssah_tf.evaluation.selection import ModelSelection
from ssah_tf.training import checkpoints, monitors, state as state_lib
from ssah_tf.training.checkpoints import save_checkpoint
from ssah_tf.training.inputs import StageInputs, batch_geometry, draw_pass_table
from ssah_tf.training.monitors import CollapseMonitor
from ssah_tf.training.optimizers import make_stage_optimizers, stage_variables
from ssah_tf.training.progress import Progress, report_pass
from ssah_tf.training.runs import (build_run_networks, check_modalities, chief_and_scratch_dir,
                                   make_evaluator)
from ssah_tf.training.schedules import (ScheduleExhausted, StagePlan, early_break, epoch_plan,
                                        monitors_this_pass)
from ssah_tf.training.steps import (StepContext, discriminator_inputs, discriminator_step,
                                    generator_inputs, generator_step, term_names)
from ssah_tf.training.summaries import SummaryWriter, write_json_atomic


class Preempted(Exception):
    """Training stopped on SIGTERM or Ctrl-C after writing a checkpoint."""


class Diverged(Exception):
    """A loss term, weight or bank became NaN or inf; nothing after the last finite
    checkpoint was saved. The message names the stage, the step and what to change."""

    def __init__(self, message: str, last_checkpoint: str | None):
        super().__init__(message)
        self.last_checkpoint = last_checkpoint


NETWORK_NAMES = {"lab": "LabNet", "img": "ImgNet", "txt": "TxtNet", "dis": "the discriminators"}


class Trainer:
    """Trains SSAH on ``data`` restricted to ``split.train``; evaluates on query/database."""

    def __init__(self, config: TrainConfig, data, split: Split, strategy: tf.distribute.Strategy):
        self.config, self.data, self.split, self.strategy = config, data, split, strategy
        run, ssah = config.run, config.ssah
        self.has_image, self.has_text = check_modalities(run, data)
        self.train_index = np.asarray(split.train, np.int64)
        self.num_train = len(self.train_index)
        self.batch_size, self.steps_per_pass = batch_geometry(
            self.num_train, config.schedule.batch_size, strategy.num_replicas_in_sync)
        self.table = schedule_table(config.schedule)
        self.networks_present = tuple(
            n for n, present in (("lab", True), ("img", self.has_image), ("txt", self.has_text),
                                 ("dis", self.has_image or self.has_text)) if present)
        with strategy.scope():
            built = build_run_networks(ssah, run, data, self.train_index)
        self.networks, self.feature_matrix = built.networks, built.feature_matrix
        self.pixel_images = built.pixel_images
        self.inputs = StageInputs(data, self.train_index, strategy=strategy,
                                  batch_size=self.batch_size, has_text=self.has_text,
                                  feature_matrix=self.feature_matrix,
                                  pixel_images=self.pixel_images, image_size=run.image_size)
        network = ssah.network
        self.state = state_lib.TrainingState(
            strategy=strategy, networks=self.networks_present, num_train=self.num_train,
            steps_per_pass=self.steps_per_pass, batch_size=self.batch_size,
            semantic_dim=network.semantic_dim, bits=network.bits, num_labels=network.num_labels,
            bank_init=ssah.training.bank_init, seed=run.seed, split=split)
        with strategy.scope():
            self.stage_variables = stage_variables(
                self.networks, generator_moves_discriminator=ssah.loss.generator_moves_discriminator)
            self.optimizers = make_stage_optimizers(ssah.optimizer, self.stage_variables)
        self.checkpoint = self.state.checkpoint(self.networks, self.optimizers)
        self._make_managers()
        self.evaluator = make_evaluator(built, data, split, run)
        self.selection = ModelSelection(select_on=run.select_on, criterion=run.selection_criterion,
                                        patience=run.early_stopping_patience)
        if run.select_on == "validation" and split.validation is None:
            raise UserError("--select_on=validation but the split has no validation queries; "
                            "give --val_size > 0 (or leave it unset), or choose --select_on=last")
        # What results.json says the run is (ssah-table groups runs by it).
        self.setup = {"method": "ssah", "dataset": data.name, "preset": ssah.preset,
                      "modalities": list(run.modalities), "backbone": run.backbone}
        # Why training ended (results.json "stopped"); None while it runs.
        self.stopped: dict[str, Any] | None = None
        self._finite_checks: dict[str, Any] = {}
        self.collapse_monitor = CollapseMonitor(
            pairwise_form=ssah.loss.pairwise_form, squares_factor=ssah.loss.squares_factor,
            init_scheme=network.init_scheme, release_schedule=config.schedule.name == "release")
        self.progress = Progress(self.steps_per_pass)
        self._loops: dict[str, Any] = {}
        self._forwards: dict[int, Any] = {}
        self._preempt_requested, self.stop_signal = False, "SIGTERM"
        self._last_save = time.time()
        self.history: list[dict[str, Any]] = []
        # How the start went (resumed, initialised from ...), logged once the run is ours.
        self.start_message = "new run"

    def _make_managers(self) -> None:
        # Multi-worker: every worker saves (saving may need collectives) but only the
        # chief into the run directory; the others into a folder deleted at the end.
        run = self.config.run
        self.is_chief, self._scratch_dir = chief_and_scratch_dir(self.strategy, run.model_dir)
        base = run.model_dir if self.is_chief else self._scratch_dir
        for folder in ("checkpoints", "best"):
            checkpoints.check_folder(os.path.join(base, folder))
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(base, "checkpoints"), max_to_keep=run.keep_checkpoints,
            checkpoint_name="ckpt")
        self.best_manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(base, "best"), max_to_keep=1, checkpoint_name="best")
        self.summaries = SummaryWriter(os.path.join(base, "tensorboard"))

    @property
    def banks(self) -> dict:
        return self.state.banks

    @property
    def global_step(self) -> tf.Variable:
        return self.state.global_step

    def restore_or_initialize(self, *, resume: bool, init_from: str | None,
                              resume_from: str | None = None) -> None:
        """Restore the run's state as the flags ask (state.restore_or_initialize)."""
        resumed, self.start_message = state_lib.restore_or_initialize(
            self.checkpoint, self.manager, self.networks, resume=resume, init_from=init_from,
            resume_from=resume_from, model_dir=self.config.run.model_dir)
        if resumed:
            self.start_message += f" ({self.state.position()})"
            self.history = load_history(self.config.run.model_dir, int(self.state.epoch.numpy()))

    # ------------------------------------------------------------------ steps
    def forward(self, net):
        """``net``'s call, XLA-compiled with ``--jit_compile`` (one compiled function per net)."""
        if not self.config.run.jit_compile:
            return net
        if id(net) not in self._forwards:
            self._forwards[id(net)] = tf.function(net.__call__, jit_compile=True,
                                                  reduce_retracing=True)
        return self._forwards[id(net)]

    def _replica_step(self, network: str, names: list[str]):
        """The function ``strategy.run`` calls for one step of ``network``."""
        loss, nets, optimizer = self.config.ssah.loss, self.networks, self.optimizers[network]
        variables = self.stage_variables[network]
        if network == "dis":
            discs = {key: self.forward(net) for key, net in nets.discriminators.items()}
            return lambda row, element: discriminator_step(
                discriminator_inputs(self.inputs.batch("dis", row), self.state.banks),
                discriminators=discs, form=loss.adversarial_form, optimizer=optimizer,
                variables=variables, term_order=names)
        net = self.forward({"lab": nets.labnet, "img": nets.imgnet, "txt": nets.txtnet}[network])
        disc = (None if network == "lab" else
                self.forward(nets.discriminators["IL" if network == "img" else "TL"]))
        context = StepContext(self.state.banks, self.inputs.label_bits, self.num_train)

        def step(row, element):
            batch = self.inputs.batch(network, row, element)
            return generator_step(
                network, net, batch, config=loss, optimizer=optimizer, variables=variables,
                inputs=lambda output: generator_inputs(network, output, batch, context, loss),
                discriminator=disc, banks=self.state.banks, term_order=names)

        return step

    def _loop(self, network: str):
        """The stage's inner loop: ``count`` steps from ``start`` of the pass table."""
        if network not in self._loops:
            strategy, table = self.strategy, self.state.pass_table
            names = term_names(network, self.has_image, self.has_text)
            step = self._replica_step(network, names)

            @tf.function
            def loop(start, count, iterator=None):
                totals = tf.zeros([len(names)], tf.float32)
                for i in tf.range(start, start + count):
                    element = next(iterator) if iterator is not None else None
                    per_replica = strategy.run(step, args=(table[i], element))
                    totals += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
                return totals

            self._loops[network] = loop
        return self._loops[network]

    def new_pass_table(self) -> None:
        """Draw the batches of a new pass (as the training loop does before each pass)."""
        self.state.pass_table.assign(draw_pass_table(
            self.state.rng, num_items=self.num_train, steps=self.steps_per_pass,
            batch_size=self.batch_size, sampling=self.table.batch_sampling))

    def image_batches(self, start: int, count: int | None = None):
        """The distributed image batches of the current pass table from row ``start``
        (``count`` steps; default: to the end of the pass)."""
        table = self.state.pass_table.numpy()[start:None if count is None else start + count]
        return self.inputs.pixel_batches(table, self.networks.imgnet.preprocess)

    def run_steps(self, network: str, start: int, count: int, image_batches=None) -> np.ndarray:
        """Run ``count`` steps of a stage from row ``start`` of the current pass table
        (benchmarks and profiling); returns the summed loss terms. Image stages with
        pixel inputs take ``image_batches(start)`` of the same table."""
        if network == "img" and self.pixel_images and image_batches is None:
            raise ValueError("the image stage needs image_batches=trainer.image_batches(start)")
        result = self._loop(network)(tf.constant(start, tf.int64), tf.constant(count, tf.int64),
                                     image_batches)
        return result.numpy()

    def _run_pass(self, stage: StagePlan) -> np.ndarray:
        """One pass (from a mid-pass checkpoint's step on); the mean loss terms."""
        state, chunk = self.state, self.config.run.steps_per_loop or self.steps_per_pass
        start = int(state.step_in_pass.numpy())
        if start == 0:
            self.new_pass_table()
        iterator = (self.image_batches(start) if stage.network == "img" and self.pixel_images
                    else None)
        loop, totals, step = self._loop(stage.network), None, start
        while step < self.steps_per_pass:
            count = min(chunk, self.steps_per_pass - step)
            result = loop(tf.constant(step, tf.int64), tf.constant(count, tf.int64), iterator).numpy()
            self._check_finite(stage, result, step + count)
            totals = result if totals is None else totals + result
            step += count
            state.step_in_pass.assign(step)
            state.global_step.assign_add(count)
            if self._preempt_requested and step < self.steps_per_pass:
                raise Preempted(self._save("preempted"))
        state.step_in_pass.assign(0)
        return totals / max(1, self.steps_per_pass - start)

    def _all_finite(self, network: str) -> bool:
        """Whether every variable the stage updates, and its network's banks, is finite."""
        if network not in self._finite_checks:
            tensors = list(self.stage_variables[network])
            if network in self.state.banks:
                bank = self.state.banks[network]
                tensors += [bank.feature, bank.hash, bank.label]

            @tf.function
            def check():
                return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])

            self._finite_checks[network] = check
        return bool(self._finite_checks[network]())

    def _check_finite(self, stage: StagePlan, sums: np.ndarray, step_in_pass: int) -> None:
        """Stop training (Diverged) as soon as a loss term, a weight the stage updates or
        its network's banks stop being finite: nothing after this is saved, so the
        latest and best checkpoints stay finite."""
        if np.all(np.isfinite(sums)) and self._all_finite(stage.network):
            return
        names = term_names(stage.network, self.has_image, self.has_text)
        bad = [f"{n} {v}" for n, v in zip(names, sums.tolist()) if not np.isfinite(v)]
        what = f"loss terms {', '.join(bad)}" if bad else "weights or memory banks"
        net = NETWORK_NAMES[stage.network]
        step = int(self.state.global_step.numpy()) + step_in_pass - int(
            self.state.step_in_pass.numpy())
        latest = self.manager.latest_checkpoint
        continue_with = (f"the last finite checkpoint {latest} is intact: continue with --resume "
                         "after the change" if latest else
                         "no checkpoint had been written yet: start again after the change")
        raise Diverged(
            f"training diverged: {net}'s {what} became non-finite in epoch "
            f"{int(self.state.epoch.numpy())}, stage {stage.network}[{stage.index}] pass "
            f"{int(self.state.pass_cursor.numpy()) + 1} (global step {step}, learning rate "
            f"{stage.learning_rate:.3g}); {self._divergence_advice(stage.network)}; "
            f"{continue_with}", latest)

    def _check_weights_finite(self) -> None:
        """Before any save: every network's weights and banks are finite (Diverged
        otherwise), so no checkpoint, latest or best, ever holds NaN or inf."""
        bad = [n for n in self.stage_variables if not self._all_finite(n)]
        if bad:
            latest = self.manager.latest_checkpoint
            raise Diverged(
                f"training diverged: {', '.join(NETWORK_NAMES[n] for n in bad)} hold non-finite "
                f"weights or banks at global step {int(self.state.global_step.numpy())}, so "
                f"they were not saved; {self._divergence_advice(bad[0])}; "
                + (f"the last finite checkpoint {latest} is intact: continue with --resume "
                   "after the change" if latest else "start again after the change"), latest)

    def _divergence_advice(self, network: str) -> str:
        """The settings that make a stage diverge, as flags to change."""
        advice = (f"lower --lr_{network}" if self.table.learning_rates == "decay" else
                  f"the release schedule fixes its learning rates: train with --schedule=paper "
                  f"and a lower --lr_{network}")
        if self.config.ssah.loss.pairwise_form == "squared_residual" and network != "dis":
            advice += " (or --pairwise_form=nll: the release's literal log(1+exp) overflows)"
        return advice

    # ------------------------------------------------------------------ outer loop
    def train(self) -> dict[str, Any]:
        """Run (or continue) training to ``schedule.epochs``; returns the final results."""
        previous = {sig: signal.signal(sig, self._on_stop_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        self.summaries.run_config(self.config, self.split, self.strategy.num_replicas_in_sync)
        try:
            while self.stopped is None:
                self.stopped = self._stop_reason()
                if self.stopped is None:
                    epoch = int(self.state.epoch.numpy())
                    self._run_epoch(epoch, epoch_plan(self.table, epoch, self.networks_present,
                                                      self.steps_per_pass))
        except ScheduleExhausted as stop:
            logging.warning("stopping before epoch %d: %s", int(self.state.epoch.numpy()), stop)
            self.stopped = {"reason": "schedule_exhausted", "message": str(stop)}
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.summaries.flush()
        if not self.history or self.history[-1]["epoch"] != int(self.state.epoch.numpy()) - 1:
            self.evaluate_and_select(int(self.state.epoch.numpy()) - 1, 0.0)
        results = self.write_results()
        if not self.is_chief:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
        return results

    def _stop_reason(self) -> dict[str, Any] | None:
        """Why training ends before the next epoch (None: it goes on)."""
        epochs = self.config.schedule.epochs
        if int(self.state.epoch.numpy()) >= epochs:
            return {"reason": "epochs", "epochs": epochs}
        if self.selection.should_stop(self.history):
            best = self.selection.best(self.history)
            logging.info("early stopping: %d evaluations without improvement on the %s "
                         "selection metric since epoch %d", self.selection.patience,
                         self.selection.select_on, best["epoch"])
            return {"reason": "early_stopping", "patience": self.selection.patience,
                    "best_epoch": best["epoch"], "last_epoch": self.history[-1]["epoch"]}
        return None

    def _run_epoch(self, epoch: int, plan: list[StagePlan]) -> None:
        """The epoch's stages from the checkpointed cursor, then evaluation and a save."""
        state, run = self.state, self.config.run
        started = time.time()
        while int(state.stage_cursor.numpy()) < len(plan):
            stage = plan[int(state.stage_cursor.numpy())]
            self.optimizers[stage.network].learning_rate.assign(stage.learning_rate)
            self._run_stage(epoch, stage, plan)
        self.progress.epoch_done(epoch, time.time() - started)
        state.epoch.assign_add(1)
        state.stage_cursor.assign(0)
        done = int(state.epoch.numpy())
        if run.eval_every and (done % run.eval_every == 0 or done >= self.config.schedule.epochs):
            self.evaluate_and_select(epoch, time.time() - started)
        path = self._save("epoch")
        if self._preempt_requested:
            raise Preempted(path)

    def _run_stage(self, epoch: int, stage: StagePlan, plan: list[StagePlan]) -> None:
        """The stage's passes from the checkpointed cursor; saves on the cadence."""
        state, run = self.state, self.config.run
        while int(state.pass_cursor.numpy()) < stage.passes:
            pass_index = int(state.pass_cursor.numpy())
            began = time.time()
            means = self._run_pass(stage)
            seconds = time.time() - began
            stop, monitored = self._early_break(stage, pass_index)
            state.pass_cursor.assign(stage.passes if stop else pass_index + 1)
            generator = stage.network != "dis"
            report_pass(
                progress=self.progress, summaries=self.summaries,
                collapse_monitor=self.collapse_monitor, epoch=epoch, stage=stage,
                pass_index=pass_index, names=term_names(stage.network, self.has_image,
                                                        self.has_text),
                means=means, seconds=seconds, monitored=monitored,
                remaining_stages=plan[int(state.stage_cursor.numpy()) + 1:], stopped=stop,
                step=int(state.global_step.numpy()),
                bank=state.banks[stage.network] if generator else None,
                rows=np.unique(state.pass_table.numpy()), num_items=self.num_train,
                batch_size=self.batch_size,
                accuracy=None if generator else self.discriminator_accuracy())
            stage_done = int(state.pass_cursor.numpy()) >= stage.passes
            if stage_done:
                state.stage_cursor.assign_add(1)
                state.pass_cursor.assign(0)
                state.monitor_log.assign([math.inf, math.inf])
            if (run.save_every_passes > 0 and (pass_index + 1) % run.save_every_passes == 0
                    and time.time() - self._last_save >= run.checkpoint_interval_seconds):
                self._save("pass")
            if self._preempt_requested:  # a stop signal: stop at this pass boundary
                raise Preempted(self._save("preempted"))
            if stage_done:
                return

    def _early_break(self, stage: StagePlan, pass_index: int) -> tuple[bool, float | None]:
        """Apply the release's early-break rule after a pass; returns (break?, monitored)."""
        if not monitors_this_pass(stage.early_break, pass_index):
            return False, None
        monitored = self.monitor_loss(stage.network)
        stop, log = early_break(stage.early_break, pass_index,
                                tuple(self.state.monitor_log.numpy()), monitored)
        self.state.monitor_log.assign(log)
        return stop, monitored

    def monitor_loss(self, network: str = "lab") -> float:
        """The release's early-break monitoring loss of ``network`` (float64 sum)."""
        return monitors.release_monitor(network, self.state.banks, self.inputs.labels,
                                        self.inputs.label_bits,
                                        self.config.ssah.loss.similarity_value)

    def _save(self, reason: str) -> str:
        self._check_weights_finite()
        path = save_checkpoint(self.manager, self.state.global_step)
        self._last_save = time.time()
        logging.debug("checkpoint %s (%s)", path, reason)
        return path

    def _on_stop_signal(self, signum, frame):  # noqa: ARG002
        if self._preempt_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
        self.stop_signal = signal.Signals(signum).name
        logging.warning("%s: checkpointing at the next step boundary (Ctrl-C again to stop "
                        "at once)", self.stop_signal)
        self._preempt_requested = True

    # ------------------------------------------------------------------ reporting
    def discriminator_accuracy(self, sample: int = 1024) -> dict[str, float]:
        """monitors.discriminator_accuracy on the current banks."""
        return monitors.discriminator_accuracy(
            self.networks.discriminators, self.state.banks, sample=sample,
            least_squares=self.config.ssah.loss.adversarial_form == "least_squares")

    def encode(self, indices: np.ndarray, modality: str) -> np.ndarray:
        """Real-valued hash outputs H for dataset rows ``indices`` (evaluator.encode)."""
        return self.evaluator.encode(indices, modality)

    def evaluate_and_select(self, epoch: int, epoch_seconds: float) -> dict[str, Any]:
        """Evaluate, keep the best checkpoint by the run's selection (validation queries
        in the paper preset, never the test queries), write the records."""
        started = time.time()
        record, query_hashes = self.evaluator.record(epoch)
        self.summaries.evaluation(record, query_hashes, int(self.state.global_step.numpy()))
        improved = self.selection.improves(record, self.history)
        value = self.selection.value(record)
        if improved:
            self.state.best_metric.assign(value)
            self._check_weights_finite()
            save_checkpoint(self.best_manager, self.state.global_step)
        record.update(selection_value=value, best_so_far=improved,
                      eval_seconds=time.time() - started, epoch_seconds=epoch_seconds)
        self.history.append(record)
        if self.is_chief:
            write_json_atomic(os.path.join(self.config.run.model_dir, "eval",
                                           f"epoch_{epoch:04d}.json"), record)
        summary = self.write_results()
        shown = [(split, record[split]) for split in ("validation", "test") if split in record]
        logging.info("epoch %d evaluation: %s (selection %s %.4f%s)", epoch, "; ".join(
            f"{split} " + ", ".join(f"{k} {v:.4f}" for k, v in maps.items())
            for split, maps in shown), self.selection.select_on, value,
            ", new best" if improved else "")
        return summary

    def write_results(self) -> dict[str, Any]:
        """results.json from the evaluations so far (and why training stopped)."""
        run = self.config.run
        protocol = protocol_record(map_variant=run.map_variant, top_k=run.map_top_k,
                                   selected_on=run.select_on, split=self.split,
                                   bits=self.config.ssah.network.bits, seed=run.seed)
        summary = results_summary(self.history, selection=self.selection,
                                  label_prior=self.evaluator.label_prior(), split=self.split,
                                  stopped=self.stopped, protocol=protocol)
        summary["setup"] = self.setup
        if self.is_chief:
            write_json_atomic(os.path.join(self.config.run.model_dir, "results.json"), summary)
        return summary
