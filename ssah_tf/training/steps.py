"""One optimisation step of a stage: its own GradientTape, its own variables."""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import tensorflow as tf


def gradient_step(loss_fn: Callable[[], dict[str, tf.Tensor]],
                  variables: Sequence[tf.Variable], optimizer: keras.optimizers.Optimizer,
                  learning_rate: float | tf.Tensor | None = None) -> dict[str, tf.Tensor]:
    """Minimise ``loss_fn()['total']`` over ``variables`` by one optimizer step.

    Variables with no gradient are skipped (as TF1's ``minimize`` did).
    Returns the loss terms computed before the update.
    """
    with tf.GradientTape() as tape:
        terms = loss_fn()
    grads = tape.gradient(terms["total"], variables)
    if learning_rate is not None:
        optimizer.learning_rate.assign(learning_rate)
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
    return terms
