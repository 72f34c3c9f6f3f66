"""One optimisation step of a stage: its own GradientTape, its own variables."""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import tensorflow as tf


def apply_gradients(tape: tf.GradientTape, loss: tf.Tensor, variables: Sequence[tf.Variable],
                    optimizer: keras.optimizers.Optimizer) -> None:
    """One optimizer update of ``variables`` from ``loss``. Variables without a gradient
    are skipped, as TF1's ``minimize`` did (e.g. a dead multi-scale branch)."""
    grads = tape.gradient(loss, variables)
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])


def gradient_step(loss_fn: Callable[[], dict[str, tf.Tensor]],
                  variables: Sequence[tf.Variable], optimizer: keras.optimizers.Optimizer,
                  learning_rate: float | tf.Tensor | None = None) -> dict[str, tf.Tensor]:
    """Minimise ``loss_fn()['total']`` over ``variables`` by one optimizer step.

    Returns the loss terms computed before the update.
    """
    with tf.GradientTape() as tape:
        terms = loss_fn()
    if learning_rate is not None:
        optimizer.learning_rate.assign(learning_rate)
    apply_gradients(tape, terms["total"], variables, optimizer)
    return terms
