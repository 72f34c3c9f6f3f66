"""Building a Trainer: every part it runs with, made here and handed to it.

Orbit's Controller is handed its trainer, evaluator and checkpoint manager; ours is
handed its parts (networks, inputs, state, optimizers: runner.build_parts), the stage
runner, the checkpoint with its latest and best managers, the summary writer, the
evaluator and the model selection, the divergence watch, the stop signals, the progress
table and its hooks. Each of those (each hook too: the collapse check gets the collapse
monitor and the banks, the best checkpoint the best-metric variable and the save) is
constructed with the handles it reads.
"""

from __future__ import annotations

import os

import tensorflow as tf

from ssah_tf.config import TrainConfig
from ssah_tf.data.protocols import Split
from ssah_tf.evaluation.selection import ModelSelection, check_validation_queries
from ssah_tf.training.checkpoints import RunCheckpoints
from ssah_tf.training.divergence import DivergenceWatch, FiniteGuard
from ssah_tf.training.hooks import default_evaluation_hooks, default_pass_hooks
from ssah_tf.training.loop import Trainer
from ssah_tf.training.monitors import CollapseMonitor
from ssah_tf.training.preemption import StopSignals
from ssah_tf.training.progress import Progress
from ssah_tf.training.runner import StageRunner, build_parts
from ssah_tf.training.runs import chief_and_scratch_dir, make_evaluator
from ssah_tf.training.summaries import SummaryWriter


def build_trainer(
    config: TrainConfig,
    data,
    split: Split,
    strategy: tf.distribute.Strategy,
    *,
    pass_hooks=None,
    evaluation_hooks=None,
    fit_input_statistics: bool = True,
) -> Trainer:
    """A Trainer for ``config`` on ``data`` and ``split`` under ``strategy``, with the
    default hooks (hooks.default_pass_hooks, hooks.default_evaluation_hooks) unless
    others are given: callables taking the report only (nothing is written yet)."""
    run, ssah = config.run, config.ssah
    check_validation_queries(run.select_on, split)
    parts = build_parts(config, data, split, strategy, fit_input_statistics=fit_input_statistics)
    runner = StageRunner(parts)
    checkpoint = parts.state.checkpoint(parts.networks, parts.optimizers)
    # Multi-worker: every worker saves (saving may need collectives) but only the
    # chief into the run directory; the others into a folder deleted at the end.
    is_chief, scratch_dir = chief_and_scratch_dir(strategy, run.model_dir)
    base = run.model_dir if is_chief else scratch_dir
    divergence = DivergenceWatch(
        FiniteGuard(parts.stage_variables, parts.state.banks),
        parts.state,
        term_names=runner.term_names,
        latest_checkpoint=lambda: saves.latest,
        fixed_rates=runner.table.learning_rates != "decay",
        pairwise_form=ssah.loss.pairwise_form,
    )
    saves = RunCheckpoints(
        checkpoint,
        base,
        keep=run.keep_checkpoints,
        global_step=parts.state.global_step,
        before_save=divergence.check_weights,
    )
    summaries = SummaryWriter(os.path.join(base, "tensorboard"))
    progress = Progress()
    if pass_hooks is None:
        pass_hooks = default_pass_hooks(
            collapse_monitor=CollapseMonitor(
                pairwise_form=ssah.loss.pairwise_form,
                squares_factor=ssah.loss.squares_factor,
                init_scheme=ssah.network.init_scheme,
                fixed_rate_lists=runner.table.learning_rates == "release_lists",
            ),
            summaries=summaries,
            progress=progress,
            banks=parts.state.banks,
            pass_table=parts.state.pass_table,
            discriminator_accuracy=runner.discriminator_accuracy,
            num_items=parts.num_train,
            batch_size=parts.batch_size,
        )
    if evaluation_hooks is None:
        evaluation_hooks = default_evaluation_hooks(
            summaries=summaries,
            best_metric=parts.state.best_metric,
            save_best=saves.save_best,
            model_dir=run.model_dir,
            is_chief=is_chief,
        )
    return Trainer(
        config,
        data,
        split,
        strategy,
        parts=parts,
        runner=runner,
        checkpoint=checkpoint,
        saves=saves,
        summaries=summaries,
        evaluator=make_evaluator(parts.built, data, split, run),
        selection=ModelSelection(
            select_on=run.select_on,
            criterion=run.selection_criterion,
            tolerance=run.selection_tolerance,
            patience=run.early_stopping_patience,
        ),
        divergence=divergence,
        signals=StopSignals(runner.stop_requested, lambda: saves.latest),
        progress=progress,
        pass_hooks=list(pass_hooks),
        evaluation_hooks=list(evaluation_hooks),
        is_chief=is_chief,
        scratch_dir=scratch_dir,
    )
