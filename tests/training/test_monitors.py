"""Collapse detection: each sign fires on a constructed case and not on a healthy one."""

import math

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.training.monitors import (
    CollapseMonitor,
    code_concentration,
    dead_feature_fraction,
    pairwise_zero_value,
)
from tests.conftest import get_strategy
from tests.training.tiny import state, tiny_trainer


def one_device():
    return get_strategy(1)


def test_zero_values_by_hand():
    # 10 items x batch 4 = 40 pairs: softplus(0) = ln 2 each; release: 0.5 * (ln 2)^2 each.
    assert pairwise_zero_value(num_items=10, batch_size=4, form="nll") == pytest.approx(
        40 * math.log(2)
    )
    assert pairwise_zero_value(
        num_items=10, batch_size=4, form="squared_residual", squares_factor=0.5
    ) == pytest.approx(20 * math.log(2) ** 2)


def test_measures():
    features = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0]])
    assert dead_feature_fraction(features) == pytest.approx(2 / 3)
    hashes = np.array([[0.5, -0.2], [0.4, -0.9], [0.1, 0.3], [0.2, -0.1]])
    top, majority = code_concentration(hashes)
    assert top == pytest.approx(3 / 4)  # (+, -) three times
    assert majority == pytest.approx(3 / 4)  # bit 0 all +, bit 1 three of four -


def _monitor(**kw):
    return CollapseMonitor(
        pairwise_form="nll",
        squares_factor=1.0,
        init_scheme=kw.get("init", "glorot"),
        fixed_rate_lists=kw.get("release", False),
    )


def _check(monitor, *, ratio=(0.6, 0.5), features=None, hashes=None, **kw):
    rng = np.random.default_rng(0)
    zero = pairwise_zero_value(num_items=100, batch_size=10, form="nll")
    features = rng.random((50, 8)) if features is None else features
    hashes = rng.normal(size=(50, 16)) if hashes is None else hashes
    return monitor.check(
        "lab",
        terms={"feature_pair": ratio[0] * zero, "hash_pair": ratio[1] * zero},
        num_items=100,
        batch_size=10,
        features=features,
        hashes=hashes,
        learning_rate=1e-2,
        **kw,
    )


def test_healthy_pass_is_silent():
    health, lines = _check(_monitor())
    assert lines == [] and health.dead_features == 0.0


def test_plateau_fires_and_names_the_initialisation():
    _, lines = _check(_monitor(init="normal"), ratio=(1.004, 0.997))
    assert len(lines) == 1 and "not learning" in lines[0] and "`init_scheme=glorot`" in lines[0]
    _, lines = _check(_monitor(), ratio=(1.004, 0.997), check_plateau=False)
    assert lines == []


def test_dead_features_and_constant_codes_fire_once():
    monitor = _monitor(release=True)
    features = np.zeros((50, 8))
    features[:, 0] = 1.0  # 7 of 8 columns dead = 87.5 %: below the 90 % threshold
    _, lines = _check(monitor, features=features)
    assert lines == []
    features[:, 0] = 0.0
    hashes = np.full((50, 16), 0.3)
    _, lines = _check(monitor, features=features, hashes=hashes)
    kinds = sorted(line.split(":")[0] for line in lines)
    assert len(lines) == 2 and any("dead ReLUs" in line for line in lines)
    assert all("`schedule=paper`" in line for line in lines)  # the release schedule's own rates
    assert any("share one code" in line for line in lines)
    _, again = _check(monitor, features=features, hashes=hashes)
    assert again == [] and kinds


def test_every_bit_one_sign_counts_as_constant():
    hashes = np.ones((200, 4))
    hashes[np.arange(200), np.arange(200) % 4] = -1.0  # 4 distinct codes, each bit 75 % +
    _, lines = _check(_monitor(), hashes=hashes)
    assert lines == []
    hashes = np.ones((200, 4))
    hashes[0] = -1.0  # every bit 99.5 % +
    _, lines = _check(_monitor(), hashes=hashes)
    assert len(lines) == 1 and "nearly constant" in lines[0]


def test_monitoring_losses_match_numpy(tmp_path):
    trainer = tiny_trainer(
        tmp_path, one_device(), preset="release", schedule="release", eval_every=0
    )
    s = {k: v.astype(np.float64) for k, v in state(trainer).items()}
    labels = trainer.parts.inputs.labels.numpy().astype(np.float64)
    sim = (labels @ labels.T > 0) * 0.999

    def nll(x, y):
        t = x @ y.T / 2
        return np.sum(np.log1p(np.exp(t)) - sim * t)

    hashes, features, predicted = s["bank/lab/hash"], s["bank/lab/feature"], s["bank/lab/label"]
    expected = np.sum((predicted - labels) ** 2) + nll(hashes, hashes) + nll(features, features)
    np.testing.assert_allclose(trainer.runner.monitor_loss("lab"), expected, rtol=1e-5)
    x = s["bank/img/hash"]
    b = np.sign(x)
    expected = (
        nll(x, hashes)
        + np.sum((b - x) ** 2 + (b - hashes) ** 2)
        + np.sum((hashes - x) ** 2)
        + np.sum((s["bank/img/label"] - labels) ** 2)
    )
    np.testing.assert_allclose(trainer.runner.monitor_loss("img"), expected, rtol=1e-5)


def test_discriminator_accuracy_by_hand(tmp_path):
    """Zero the discriminators' output layer and set its bias: every logit equals the bias."""
    trainer = tiny_trainer(tmp_path, one_device(), preset="release", eval_every=0)
    for key in ("IL", "L1", "TL", "L2"):
        out = trainer.parts.networks.discriminators[key].out
        out.kernel.assign(tf.zeros_like(out.kernel))
        out.bias.assign([1.0])  # logit 1 > 0: everything is called "label feature"
    acc = trainer.runner.discriminator_accuracy()
    # Modality features are misclassified (0 correct), label features all correct.
    assert acc == {"IL": 0.0, "L1": 1.0, "TL": 0.0, "L2": 1.0}


def test_release_start_warns_of_its_collapse_and_paper_start_does_not(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        tiny_trainer(tmp_path / "paper", one_device(), passes=3, eval_every=0).train()
    assert "not learning" not in caplog.text and "collapsed" not in caplog.text
    assert "nearly constant" not in caplog.text
    caplog.clear()
    trainer = tiny_trainer(
        tmp_path / "release", one_device(), preset="release", passes=3, eval_every=0
    )
    # The release's start: the N(0, 0.01) weights, with LabNet's semantic layer biased
    # negative so every ReLU is dead (what its 1e-2 learning rate does to real data).
    trainer.parts.networks.labnet.semantic.bias.assign(tf.fill([16], -1.0))
    with caplog.at_level(logging.WARNING):
        trainer.train()
    assert "LabNet collapsed: 100% of its semantic features are 0" in caplog.text
    assert "LabNet's codes are nearly constant" in caplog.text
