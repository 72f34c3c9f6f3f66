"""Memory banks: the latest outputs of each network for all n training items.

Non-trainable variables on the device, one copy per replica (SyncOnRead),
updated inside the step from the whole global batch (all-gathered), so every
replica's copy stays identical and a checkpoint stores one copy.
"""

from __future__ import annotations

import tensorflow as tf

from ssah_tf.models.layers import NetworkOutput


class MemoryBanks(tf.Module):
    """feature / hash / label banks of one network (docs/method.md §4)."""

    def __init__(
        self,
        network: str,
        *,
        num_items: int,
        semantic_dim: int,
        bits: int,
        num_labels: int,
        generator: tf.random.Generator,
        init: str = "normal",
    ):
        super().__init__(name=f"{network}_banks")
        if init not in ("normal", "zeros"):
            raise ValueError(f"bank init must be 'normal' or 'zeros', got {init!r}")

        def bank(width: int, what: str) -> tf.Variable:
            # The release initialises the banks with N(0, 1) noise (drawn from the
            # run's generator, so 'normal' runs keep their random stream).
            value = (
                generator.normal([num_items, width])
                if init == "normal"
                else tf.zeros([num_items, width])
            )
            return tf.Variable(
                value,
                trainable=False,
                name=f"{network}_{what}",
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )

        self.feature = bank(semantic_dim, "feature")
        self.hash = bank(bits, "hash")
        self.label = bank(num_labels, "label")

    def write(self, indices: tf.Tensor, output: NetworkOutput) -> None:
        """Store the (global batch's) outputs at rows ``indices``."""
        rows = tf.reshape(indices, [-1, 1])
        for variable, value in (
            (self.feature, output.feature),
            (self.hash, output.hash),
            (self.label, output.label),
        ):
            # A whole-bank assign: SyncOnRead variables under MultiWorkerMirroredStrategy
            # do not implement scatter_nd_update (measured: no faster in place either).
            variable.assign(tf.tensor_scatter_nd_update(variable, rows, tf.stop_gradient(value)))
