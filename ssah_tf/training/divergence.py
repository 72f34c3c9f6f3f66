"""Divergence is an error, not a result: the checks that stop training at the pass where a
loss term, a weight or a memory bank stops being finite, before anything non-finite is
saved (README "What best means")."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ssah_tf.vocabulary import DISPLAY_NAMES as NETWORK_NAMES


class Diverged(Exception):
    """A loss term, weight or bank became NaN or inf; nothing after the last finite
    checkpoint was saved. The message names the stage, the step and what to change."""

    def __init__(self, message: str, last_checkpoint: str | None):
        super().__init__(message)
        self.last_checkpoint = last_checkpoint


def divergence_advice(network: str, *, fixed_rates: bool, pairwise_form: str) -> str:
    """The settings that make a stage diverge, as fields to change."""
    advice = (
        f"the release schedule fixes its learning rates: train with `schedule=paper` "
        f"and a lower `lr_{network}`"
        if fixed_rates
        else f"lower `lr_{network}`"
    )
    if pairwise_form == "squared_residual" and network != "dis":
        advice += " (or `pairwise_form=nll`: the release's literal log(1+exp) overflows)"
    return advice


def continue_hint(latest: str | None) -> str:
    return (
        f"the last finite checkpoint {latest} is intact: continue with `resume` after the change"
        if latest
        else "no checkpoint had been written yet: start again after the change"
    )


class FiniteGuard:
    """One compiled all-finite check per stage: every variable the stage updates and
    its network's banks."""

    def __init__(self, stage_variables: dict, banks: dict):
        self._checks = {}
        for network, variables in stage_variables.items():
            tensors = list(variables)
            if network in banks:
                bank = banks[network]
                tensors += [bank.feature, bank.hash, bank.label]
            self._checks[network] = tf.function(
                lambda tensors=tensors: tf.reduce_all(
                    [tf.reduce_all(tf.math.is_finite(t)) for t in tensors]
                )
            )

    def finite(self, network: str) -> bool:
        return bool(self._checks[network]())

    def non_finite_networks(self) -> list[str]:
        return [n for n in self._checks if not self.finite(n)]


def loss_message(
    *, network: str, names: list[str], sums: np.ndarray, where: str, advice: str, latest: str | None
) -> str:
    """The one line of a pass whose loss terms or weights stopped being finite."""
    bad = [f"{n} {v}" for n, v in zip(names, sums.tolist()) if not np.isfinite(v)]
    what = f"loss terms {', '.join(bad)}" if bad else "weights or memory banks"
    return (
        f"training diverged: {NETWORK_NAMES[network]}'s {what} became non-finite in "
        f"{where}; {advice}; {continue_hint(latest)}"
    )


def weights_message(*, networks: list[str], step: int, advice: str, latest: str | None) -> str:
    """The one line of a save refused because weights or banks are not finite."""
    return (
        f"training diverged: {', '.join(NETWORK_NAMES[n] for n in networks)} hold "
        f"non-finite weights or banks at global step {step}, so they were not saved; "
        f"{advice}; {continue_hint(latest)}"
    )


class DivergenceWatch:
    """Stops training (:class:`Diverged`) as soon as a loss term, a weight a stage
    updates or its network's banks stop being finite, and before any save: nothing
    non-finite is ever written, so the latest and best checkpoints stay finite.

    Handed what it reads: the finite guard, the training state (for where it
    happened), the stage's loss-term names, the latest checkpoint and the advice's
    inputs (fixed learning rates? the pairwise form)."""

    def __init__(
        self,
        guard: FiniteGuard,
        state,
        *,
        term_names,
        latest_checkpoint,
        fixed_rates: bool,
        pairwise_form: str,
    ):
        self.guard, self.state = guard, state
        self.term_names, self.latest_checkpoint = term_names, latest_checkpoint
        self.fixed_rates, self.pairwise_form = fixed_rates, pairwise_form

    def _advice(self, network: str) -> str:
        return divergence_advice(
            network, fixed_rates=self.fixed_rates, pairwise_form=self.pairwise_form
        )

    def check_pass(self, stage, sums: np.ndarray, step_in_pass: int) -> None:
        """After a run of steps of ``stage``: its loss sums, weights and banks."""
        if np.all(np.isfinite(sums)) and self.guard.finite(stage.network):
            return
        state = self.state
        step = int(state.global_step.numpy()) + step_in_pass - int(state.step_in_pass.numpy())
        where = (
            f"epoch {int(state.epoch.numpy())}, stage {stage.network}[{stage.index}] "
            f"pass {int(state.pass_cursor.numpy()) + 1} (global step {step}, "
            f"learning rate {stage.learning_rate:.3g})"
        )
        latest = self.latest_checkpoint()
        raise Diverged(
            loss_message(
                network=stage.network,
                names=self.term_names(stage.network),
                sums=sums,
                where=where,
                advice=self._advice(stage.network),
                latest=latest,
            ),
            latest,
        )

    def check_weights(self) -> None:
        """Before any save: every network's weights and banks are finite."""
        bad = self.guard.non_finite_networks()
        if bad:
            latest = self.latest_checkpoint()
            raise Diverged(
                weights_message(
                    networks=bad,
                    step=int(self.state.global_step.numpy()),
                    advice=self._advice(bad[0]),
                    latest=latest,
                ),
                latest,
            )
