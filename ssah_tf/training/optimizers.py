"""Adam optimizers for the SSAH stages."""

from __future__ import annotations

from collections.abc import Iterable

import keras
import tensorflow as tf

from ssah_tf.config import OptimizerConfig
from ssah_tf.vocabulary import DISCRIMINATOR_KEYS, IMAGE_D, TEXT_D
from ssah_tf.vocabulary import HASH_NETWORKS as HASH_STAGES


class TF1Adam(keras.optimizers.Adam):
    """Adam with the arithmetic of TF1's ``AdamOptimizer`` / ``ApplyAdam`` kernel.

    Keras' Adam computes ``1 - beta`` in float64 and ``beta**t`` with ``pow``;
    TF1 keeps float32 accumulators ``beta1_power``/``beta2_power`` (multiplied
    by beta after each step) and float32 ``1 - beta``. The two differ by
    ~1e-5 relative in the step size, which the release parity test sees, so
    this optimizer reproduces TF1 exactly. Both use epsilon-hat (eps added to
    sqrt(v_t), not to the bias-corrected v).
    """

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # 'only_first_replica': assigned in replica context like `iterations`.
        self.beta1_power = self.add_variable(
            shape=(),
            initializer=keras.initializers.Constant(self.beta_1),
            dtype="float32",
            name="beta1_power",
            aggregation="only_first_replica",
        )
        self.beta2_power = self.add_variable(
            shape=(),
            initializer=keras.initializers.Constant(self.beta_2),
            dtype="float32",
            name="beta2_power",
            aggregation="only_first_replica",
        )

    def update_step(self, gradient, variable, learning_rate):
        # TF1's fused ApplyAdam kernel itself: one pass over var, m, v (the separate
        # ops of Keras' update read and write the 34M-weight TxtNet layer ~10 times).
        dtype = variable.dtype
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=m.handle,
            v=v.handle,
            beta1_power=tf.cast(self.beta1_power, dtype),
            beta2_power=tf.cast(self.beta2_power, dtype),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.constant(self.beta_1, dtype),
            beta2=tf.constant(self.beta_2, dtype),
            epsilon=tf.constant(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
            use_nesterov=False,
        )

    def apply(self, grads, trainable_variables=None):
        result = super().apply(grads, trainable_variables)
        # TF1 advances the powers once per minimize() call, after the update.
        self.beta1_power.assign(self.beta1_power * tf.constant(self.beta_1, tf.float32))
        self.beta2_power.assign(self.beta2_power * tf.constant(self.beta_2, tf.float32))
        return result


def make_adam(config: OptimizerConfig, name: str) -> keras.optimizers.Adam:
    """An Adam optimizer with TF1's arithmetic and the configured epsilon."""
    return TF1Adam(
        learning_rate=1e-3,
        beta_1=config.adam_beta1,
        beta_2=config.adam_beta2,
        epsilon=config.adam_epsilon,
        weight_decay=config.weight_decay or None,
        name=name,
    )


def make_stage_optimizers(
    config: OptimizerConfig, stage_variables: dict[str, Iterable[tf.Variable]]
) -> dict[str, keras.optimizers.Adam]:
    """One optimizer per stage, built now (call under ``strategy.scope()``).

    With ``shared_hash_optimizer`` (release) lab, img and txt share one Adam
    object, so its iteration counter (TF1's beta powers) advances across the
    three stages; variables a stage also moves (the release's discriminator
    in the img/txt stages) get their own moment slots in that object.
    Keras must build optimizers before the first distributed step.
    """
    optimizers: dict[str, keras.optimizers.Adam] = {}
    if config.shared_hash_optimizer:
        shared = make_adam(config, "hash_adam")
        variables, seen = [], set()
        for stage in HASH_STAGES:
            for v in stage_variables.get(stage, ()):
                if id(v) not in seen:
                    seen.add(id(v))
                    variables.append(v)
        shared.build(variables)
        for stage in HASH_STAGES:
            if stage in stage_variables:
                optimizers[stage] = shared
    for stage, variables in stage_variables.items():
        if stage not in optimizers:
            optimizers[stage] = make_adam(config, f"{stage}_adam")
            optimizers[stage].build(list(variables))
    return optimizers


def stage_variables(
    networks, *, generator_moves_discriminator: bool
) -> dict[str, list[tf.Variable]]:
    """The variables each stage's optimizer updates (each discriminator once).

    ``generator_moves_discriminator`` (the release): the image and text stages also
    move D_IL / D_TL, because the release's generator optimizers cover every variable.
    """
    d = networks.discriminators
    out = {"lab": list(networks.labnet.trainable_variables)}
    if networks.imgnet is not None:
        out["img"] = list(networks.imgnet.trainable_variables) + (
            list(d[IMAGE_D].trainable_variables) if generator_moves_discriminator else []
        )
    if networks.txtnet is not None:
        out["txt"] = list(networks.txtnet.trainable_variables) + (
            list(d[TEXT_D].trainable_variables) if generator_moves_discriminator else []
        )
    seen, dis_vars = set(), []
    for key in DISCRIMINATOR_KEYS:
        if key in d and id(d[key]) not in seen:
            seen.add(id(d[key]))
            dis_vars += list(d[key].trainable_variables)
    if dis_vars:
        out["dis"] = dis_vars
    return out
