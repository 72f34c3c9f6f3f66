"""The finite checks and the one line a diverging run ends with."""

import numpy as np
import tensorflow as tf

from ssah_tf.training.divergence import (
    FiniteGuard,
    divergence_advice,
    loss_message,
    weights_message,
)


class Bank:
    def __init__(self):
        self.feature = tf.Variable(tf.zeros([3, 2]))
        self.hash = tf.Variable(tf.zeros([3, 2]))
        self.label = tf.Variable(tf.zeros([3, 2]))


def test_guard_sees_weights_and_banks_of_each_stage():
    weights = {"lab": [tf.Variable(tf.ones([2]))], "dis": [tf.Variable(tf.ones([4]))]}
    banks = {"lab": Bank()}
    guard = FiniteGuard(weights, banks)
    assert guard.finite("lab") and guard.non_finite_networks() == []
    banks["lab"].hash.assign(tf.constant([[0.0, np.inf]] * 3))
    assert not guard.finite("lab") and guard.finite("dis")
    weights["dis"][0].assign(tf.constant([np.nan, 0, 0, 0]))
    assert guard.non_finite_networks() == ["lab", "dis"]


def test_messages_name_the_stage_the_terms_and_the_setting():
    advice = divergence_advice("img", fixed_rates=False, pairwise_form="nll")
    assert advice == "lower `lr_img`"
    release = divergence_advice("txt", fixed_rates=True, pairwise_form="squared_residual")
    assert "`schedule=paper`" in release and "`pairwise_form=nll`" in release
    line = loss_message(
        network="img",
        names=["hash_pair", "label", "total"],
        sums=np.array([np.nan, 1.0, np.inf]),
        where="epoch 2, stage img[0]",
        advice=advice,
        latest="RUN/checkpoints/ckpt-40",
    )
    assert line.startswith("training diverged: ImgNet's loss terms hash_pair nan, total inf")
    assert "epoch 2, stage img[0]; lower `lr_img`" in line and "ckpt-40 is intact" in line
    weights = weights_message(networks=["txt"], step=12, advice=advice, latest=None)
    assert "TxtNet hold non-finite weights" in weights and "start again" in weights
