"""TF1's Adam arithmetic, the release's shared optimizer, and each stage's variables."""

import numpy as np
import tensorflow as tf

from ssah_tf.config import make_config
from ssah_tf.models.imgnet import MLPBackbone
from ssah_tf.models.networks import build_networks
from ssah_tf.training.optimizers import make_stage_optimizers, stage_variables


def test_two_steps_follow_tf1_adam_by_hand():
    v = tf.Variable([1.0, -2.0])
    optimizer = make_stage_optimizers(make_config("paper").optimizer, {"lab": [v]})["lab"]
    optimizer.learning_rate.assign(0.1)
    m = s = np.zeros(2, np.float32)
    value, b1p, b2p = np.array([1.0, -2.0], np.float32), np.float32(0.9), np.float32(0.999)
    for grad in (np.array([0.5, -1.0], np.float32), np.array([0.25, 2.0], np.float32)):
        optimizer.apply([tf.constant(grad)], [v])
        # TF1's ApplyAdam kernel, in float32: m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2),
        # var -= m lr_t / (sqrt(v) + eps) with lr_t = lr sqrt(1 - b2^t) / (1 - b1^t).
        f = np.float32
        m = m + (grad - m) * (f(1) - f(0.9))
        s = s + (grad * grad - s) * (f(1) - f(0.999))
        lr = f(0.1) * np.sqrt(f(1) - b2p) / (f(1) - b1p)
        value = value - (m * lr) / (np.sqrt(s) + f(1e-8))
        b1p, b2p = b1p * np.float32(0.9), b2p * np.float32(0.999)
        np.testing.assert_allclose(v.numpy(), value, rtol=1e-6)
    assert float(optimizer.beta1_power.numpy()) == np.float32(0.9) ** 3


def test_release_shares_one_optimizer_and_moves_discriminators():
    for preset in ("paper", "release"):
        config = make_config(
            preset,
            bits=4,
            num_labels=3,
            text_dim=60,
            hidden_dim=8,
            semantic_dim=4,
            discriminator_hidden=(4,),
        )
        nets = build_networks(config.network, imgnet_backbone=MLPBackbone(5, 8))
        variables = stage_variables(
            nets, generator_moves_discriminator=config.loss.generator_moves_discriminator
        )
        optimizers = make_stage_optimizers(config.optimizer, variables)
        shared = optimizers["lab"] is optimizers["img"] is optimizers["txt"]
        moved = any(
            v is w for v in nets.discriminators["IL"].trainable_variables for w in variables["img"]
        )
        assert shared == moved == (preset == "release")
        assert optimizers["dis"] is not optimizers["lab"]
        # Each discriminator's variables once, even when the paper shares D_IL and D_L1.
        assert len({id(v) for v in variables["dis"]}) == len(variables["dis"])
