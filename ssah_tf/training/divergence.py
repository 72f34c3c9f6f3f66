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
