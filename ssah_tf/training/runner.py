"""The parts a training run is made of, and the stage runner that steps them.

:func:`build_parts` builds, for a configuration, data and split, the networks (with
their input scaling), the training inputs, the training state (banks, cursors, RNG)
and every stage's optimizer, in that order (it fixes the initial weights and banks).
:class:`StageRunner` runs steps of a stage on them: one ``tf.function`` per stage
with ``tf.range`` around ``strategy.run`` over the pass table (steps.py holds the step
itself). The Trainer (loop.py) adds the epoch loop, evaluation and checkpoints; the
benchmark uses these two alone.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import tensorflow as tf

from ssah_tf.config import TrainConfig
from ssah_tf.training import monitors
from ssah_tf.training import state as state_lib
from ssah_tf.training.inputs import StageInputs, batch_geometry, draw_pass_table
from ssah_tf.training.optimizers import make_stage_optimizers, stage_variables
from ssah_tf.training.preemption import run_in_worker
from ssah_tf.training.runs import RunNetworks, build_run_networks, check_modalities
from ssah_tf.training.schedules import schedule_table
from ssah_tf.training.steps import (
    StepContext,
    discriminator_inputs,
    discriminator_step,
    generator_inputs,
    generator_step,
    term_names,
)
from ssah_tf.vocabulary import DISCRIMINATORS_OF


@dataclasses.dataclass
class TrainingParts:
    """Networks, inputs, state and optimizers of one run."""

    config: TrainConfig
    strategy: tf.distribute.Strategy
    built: RunNetworks
    inputs: StageInputs
    state: state_lib.TrainingState
    stage_variables: dict[str, list[tf.Variable]]
    optimizers: dict[str, Any]
    networks_present: tuple[str, ...]  # of lab, img, txt, dis
    has_image: bool
    has_text: bool
    batch_size: int  # global
    steps_per_pass: int

    @property
    def networks(self):
        return self.built.networks

    @property
    def num_train(self) -> int:
        return len(self.inputs.train_index)


def build_parts(
    config: TrainConfig,
    data,
    split,
    strategy: tf.distribute.Strategy,
    *,
    fit_input_statistics: bool = True,
) -> TrainingParts:
    """Everything a run trains, built in a fixed order under ``strategy``.
    ``fit_input_statistics=False``: a checkpoint restores the networks next (their input
    statistics and pre-trained weights are not computed or loaded)."""
    run, ssah = config.run, config.ssah
    has_image, has_text = check_modalities(run, data)
    train_index = np.asarray(split.train, np.int64)
    batch_size, steps_per_pass = batch_geometry(
        len(train_index), config.schedule.batch_size, strategy.num_replicas_in_sync
    )
    present = tuple(
        n
        for n, used in (
            ("lab", True),
            ("img", has_image),
            ("txt", has_text),
            ("dis", has_image or has_text),
        )
        if used
    )
    with strategy.scope():
        built = build_run_networks(
            ssah, run, data, train_index, fit_statistics=fit_input_statistics
        )
    inputs = StageInputs(
        data,
        train_index,
        strategy=strategy,
        batch_size=batch_size,
        has_text=has_text,
        feature_matrix=built.feature_matrix,
        pixel_images=built.pixel_images,
        image_size=run.picture_size,
    )
    network = ssah.network
    state = state_lib.TrainingState(
        strategy=strategy,
        networks=present,
        num_train=len(train_index),
        steps_per_pass=steps_per_pass,
        batch_size=batch_size,
        semantic_dim=network.semantic_dim,
        bits=network.bits,
        num_labels=network.num_labels,
        bank_init=ssah.training.bank_init,
        seed=run.seed,
        split=split,
    )
    with strategy.scope():
        variables = stage_variables(
            built.networks, generator_moves_discriminator=ssah.loss.generator_moves_discriminator
        )
        optimizers = make_stage_optimizers(ssah.optimizer, variables)
    return TrainingParts(
        config,
        strategy,
        built,
        inputs,
        state,
        variables,
        optimizers,
        present,
        has_image,
        has_text,
        batch_size,
        steps_per_pass,
    )


class StageRunner:
    """Steps of one stage at a time, from rows of the current pass table."""

    def __init__(self, parts: TrainingParts):
        self.parts = parts
        self.table = schedule_table(parts.config.schedule)
        self._loops: dict[str, Any] = {}
        self._forwards: dict[int, Any] = {}
        # Set by a stop signal while a loop runs: it ends at the next step boundary.
        self.stop_requested = tf.Variable(False, trainable=False, name="stop_requested")

    def forward(self, net):
        """``net``'s call, XLA-compiled with ``jit_compile`` (one compiled function per net)."""
        if not self.parts.config.run.jit_compile:
            return net
        if id(net) not in self._forwards:
            self._forwards[id(net)] = tf.function(
                net.__call__, jit_compile=True, reduce_retracing=True
            )
        return self._forwards[id(net)]

    def term_names(self, network: str) -> list[str]:
        return term_names(network, self.parts.has_image, self.parts.has_text)

    def _replica_step(self, network: str, names: list[str]):
        """The function ``strategy.run`` calls for one step of ``network``."""
        parts = self.parts
        loss, nets, optimizer = parts.config.ssah.loss, parts.networks, parts.optimizers[network]
        variables, state, inputs = parts.stage_variables[network], parts.state, parts.inputs
        if network == "dis":
            discs = {key: self.forward(net) for key, net in nets.discriminators.items()}
            return lambda row, element: discriminator_step(
                discriminator_inputs(inputs.batch("dis", row), state.banks),
                discriminators=discs,
                form=loss.adversarial_form,
                optimizer=optimizer,
                variables=variables,
                term_order=names,
            )
        net = self.forward(nets.hash_network(network))
        disc = (
            None
            if network == "lab"
            else self.forward(nets.discriminators[DISCRIMINATORS_OF[network][0]])
        )
        context = StepContext(state.banks, inputs.label_bits, parts.num_train)

        def step(row, element):
            batch = inputs.batch(network, row, element)
            return generator_step(
                network,
                net,
                batch,
                config=loss,
                optimizer=optimizer,
                variables=variables,
                inputs=lambda output: generator_inputs(network, output, batch, context, loss),
                discriminator=disc,
                banks=state.banks,
                term_order=names,
            )

        return step

    def loop(self, network: str):
        """The stage's inner loop: ``count`` steps from ``start`` of the pass table,
        returning the summed loss terms and the steps run (fewer than ``count`` when
        ``stop_requested`` was set meanwhile)."""
        if network not in self._loops:
            strategy, table = self.parts.strategy, self.parts.state.pass_table
            names = self.term_names(network)
            step = self._replica_step(network, names)

            # Multi-worker: every worker must run the same collectives, and one worker's
            # signal is not another's, so the loop runs its chunk (stop between chunks).
            multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            stop = None if multi_worker else self.stop_requested

            def one_step(i, iterator, totals, done):
                element = next(iterator) if iterator is not None else None
                per_replica = strategy.run(step, args=(table[i], element))
                totals += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
                return totals, done + 1

            @tf.function
            def loop(start, count, iterator=None):
                totals = tf.zeros([len(names)], tf.float32)
                done = tf.constant(0, tf.int64)
                if stop is None:
                    for i in tf.range(start, start + count):
                        totals, done = one_step(i, iterator, totals, done)
                else:
                    for i in tf.range(start, start + count):
                        # Read every step: a stop signal (set from another thread) ends
                        # the call at the next step boundary.
                        if stop.read_value():
                            break
                        totals, done = one_step(i, iterator, totals, done)
                return totals, done

            self._loops[network] = loop
        return self._loops[network]

    def new_pass_table(self) -> None:
        """Draw the batches of a new pass (as the training loop does before each pass)."""
        parts = self.parts
        parts.state.pass_table.assign(
            draw_pass_table(
                parts.state.rng,
                num_items=parts.num_train,
                steps=parts.steps_per_pass,
                batch_size=parts.batch_size,
                sampling=self.table.batch_sampling,
            )
        )

    def image_batches(self, start: int, count: int | None = None):
        """The distributed image batches of the current pass table from row ``start``
        (``count`` steps; default: to the end of the pass)."""
        table = self.parts.state.pass_table.numpy()[
            start : None if count is None else start + count
        ]
        return self.parts.inputs.pixel_batches(table, self.parts.networks.imgnet.preprocess)

    def needs_image_batches(self, network: str) -> bool:
        return network == "img" and self.parts.built.pixel_images

    def pass_chunks(self, network: str, start: int, chunk: int):
        """Run the current pass of ``network`` from row ``start`` in calls of ``chunk``
        steps; yields (summed loss terms, steps run, seconds) per call, so the caller
        checks, counts and may stop between calls. Each call runs in a worker thread
        (preemption.run_in_worker: the main thread stays free for stop signals), except
        under MultiWorkerMirroredStrategy, whose collectives need the main thread's
        strategy context (a stop is then honoured between calls)."""
        steps = self.parts.steps_per_pass
        iterator = self.image_batches(start) if self.needs_image_batches(network) else None
        loop = self.loop(network)
        threaded = not isinstance(self.parts.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        step = start
        while step < steps:
            count = min(chunk, steps - step)
            began = time.time()

            def call(first=step, count=count):
                totals, done = loop(
                    tf.constant(first, tf.int64), tf.constant(count, tf.int64), iterator
                )
                return totals.numpy(), int(done.numpy())

            result, done = run_in_worker(call) if threaded else call()
            yield result, done, time.time() - began
            step += done
            if done < count:
                return  # a stop signal ended the call: the caller stops here

    def run_steps(self, network: str, start: int, count: int, image_batches=None) -> np.ndarray:
        """Run ``count`` steps of a stage from row ``start`` of the current pass table;
        returns the summed loss terms. Image stages with pixel inputs take
        ``image_batches(start)`` of the same table."""
        if self.needs_image_batches(network) and image_batches is None:
            raise ValueError("the image stage needs image_batches=runner.image_batches(start)")
        totals, _ = self.loop(network)(
            tf.constant(start, tf.int64), tf.constant(count, tf.int64), image_batches
        )
        return totals.numpy()

    def monitor_loss(self, network: str = "lab") -> float:
        """The release's early-break monitoring loss of ``network`` (float64 sum)."""
        parts = self.parts
        return monitors.release_monitor(
            network,
            parts.state.banks,
            parts.inputs.labels,
            parts.inputs.label_bits,
            parts.config.ssah.loss.similarity_value,
        )

    def discriminator_accuracy(self, sample: int = 1024) -> dict[str, float]:
        """monitors.discriminator_accuracy on the current banks."""
        parts = self.parts
        return monitors.discriminator_accuracy(
            parts.networks.discriminators,
            parts.state.banks,
            sample=sample,
            least_squares=parts.config.ssah.loss.adversarial_form == "least_squares",
        )
