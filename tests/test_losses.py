"""Losses against NumPy re-derivations of the objectives (docs/method.md §3), stability,
and finite differences."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf import losses
from ssah_tf.config import make_config
from ssah_tf.models.layers import NetworkOutput


def random_case(seed=0, n=20, b=5, e=6, k=4, c=3, dtype=np.float64):
    rng = np.random.default_rng(seed)
    labels_all = (rng.random((n, c)) < 0.4).astype(dtype)
    batch_labels = labels_all[:b]
    out = NetworkOutput(
        feature=rng.random((b, e)).astype(dtype),
        hash=np.tanh(rng.normal(size=(b, k))).astype(dtype),
        label=rng.random((b, c)).astype(dtype),
    )
    banks = dict(
        F=rng.random((n, e)).astype(dtype), H=np.tanh(rng.normal(size=(n, k))).astype(dtype)
    )
    return labels_all, batch_labels, out, banks


def numpy_generator_loss(preset, labels_all, batch_labels, out, banks, adv, joint=None):
    """The objectives (docs/method.md §3) written out in NumPy (float64)."""
    s = (labels_all @ batch_labels.T > 0).astype(np.float64)
    delta = banks["F"] @ out.feature.T / 2
    gamma = banks["H"] @ out.hash.T / 2
    if preset == "paper":
        pair = lambda t: -np.sum(s * t - np.log1p(np.exp(t)))
        b = np.sign(joint)
        quant = np.sum((out.hash - b) ** 2)
        label = np.sum((out.label - batch_labels) ** 2)
        return pair(delta) + pair(gamma) + quant + label + adv
    s = s * 0.999
    l2 = lambda x: np.sum(x**2) / 2
    b = np.sign(out.hash)
    return (
        l2(s * delta - np.log(1 + np.exp(delta)))
        + l2(s * gamma - np.log(1 + np.exp(gamma)))
        + l2(b - out.hash)
        + l2(batch_labels - out.label)
        + adv
    )


@pytest.mark.parametrize("preset", ["paper", "release"])
def test_generator_loss_matches_numpy(preset):
    labels_all, batch_labels, out, banks = random_case()
    cfg = make_config(preset).loss
    joint = out.hash + 0.3
    target = losses.quantization_target(
        own_hash=out.hash, joint_hash_sum=joint, target=cfg.quantization_target
    )
    sim = losses.similarity(labels_all, batch_labels, value=cfg.similarity_value)
    terms = losses.generator_loss(
        out,
        labels=batch_labels,
        sim=sim,
        lab_feature_bank=banks["F"],
        lab_hash_bank=banks["H"],
        quant_target=target,
        config=cfg,
        adversarial=tf.constant(0.7, tf.float64),
    )
    expected = numpy_generator_loss(preset, labels_all, batch_labels, out, banks, 0.7, joint)
    np.testing.assert_allclose(terms["total"].numpy(), expected, rtol=1e-6)


def test_discriminator_losses_match_numpy():
    rng = np.random.default_rng(1)
    img, lab1, txt, lab2 = (rng.normal(size=6) for _ in range(4))
    ce = lambda x, y: np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
    release = losses.discriminator_loss(
        image_logits=img,
        label_logits_image=lab1,
        text_logits=txt,
        label_logits_text=lab2,
        form="release_cross_entropy",
    )
    expected = (ce(img, 0) + ce(lab1, 1) + ce(txt, 0) + ce(lab2, 1)) / 4
    np.testing.assert_allclose(release["total"].numpy(), expected, rtol=1e-6)
    paper = losses.discriminator_loss(
        image_logits=img,
        label_logits_image=lab1,
        text_logits=txt,
        label_logits_text=lab2,
        form="least_squares",
    )
    expected = np.sum(img**2) + np.sum((lab1 - 1) ** 2) + np.sum(txt**2) + np.sum((lab2 - 1) ** 2)
    np.testing.assert_allclose(paper["total"].numpy(), expected, rtol=1e-6)
    gen = losses.adversarial_generator_term(tf.constant(img), form="least_squares")
    np.testing.assert_allclose(gen.numpy(), np.sum((img - 1) ** 2), rtol=1e-6)


def test_paper_form_is_finite_for_huge_inner_products():
    theta = tf.constant([[-1e4, -50.0, 0.0, 50.0, 1e4]], tf.float32)
    sim = tf.constant([[1.0, 0.0, 1.0, 0.0, 1.0]])
    with tf.GradientTape() as tape:
        tape.watch(theta)
        value = losses.pairwise_term(theta, sim, form="nll")
    grad = tape.gradient(value, theta)
    assert np.isfinite(value.numpy()) and np.all(np.isfinite(grad.numpy()))
    # By hand: softplus(-1e4) - 1*(-1e4) = 1e4; softplus(-50) ~ 0; log 2; 50; 0.
    np.testing.assert_allclose(value.numpy(), 1e4 + 0 + np.log(2) + 50 + 0, rtol=1e-5)
    release = losses.pairwise_term(theta, sim, form="squared_residual", squares_factor=0.5)
    assert not np.isfinite(release.numpy())  # the release's literal log(1 + exp) overflows


def test_overflow_warning_is_logged_once(caplog):
    import logging

    losses._warned_overflow = False
    with caplog.at_level(logging.WARNING):
        losses.warn_once_on_overflow({"hash_pair": tf.constant(np.inf)})
        losses.warn_once_on_overflow({"hash_pair": tf.constant(np.inf)})
    assert caplog.text.count("not finite") == 1


@pytest.mark.parametrize("preset", ["paper", "release"])
def test_gradients_match_finite_differences(preset):
    labels_all, batch_labels, out, banks = random_case(seed=2)
    cfg = make_config(preset).loss
    variables = [tf.Variable(t) for t in out]

    def loss():
        o = NetworkOutput(*variables)
        target = losses.quantization_target(
            own_hash=o.hash, joint_hash_sum=o.hash * 0 + 0.5, target=cfg.quantization_target
        )
        sim = losses.similarity(labels_all, batch_labels, value=cfg.similarity_value)
        return losses.generator_loss(
            o,
            labels=batch_labels,
            sim=sim,
            lab_feature_bank=banks["F"],
            lab_hash_bank=banks["H"],
            quant_target=target,
            config=cfg,
        )["total"]

    with tf.GradientTape() as tape:
        value = loss()
    grads = tape.gradient(value, variables)
    eps = 1e-6
    for variable, grad in zip(variables, grads):
        flat = variable.numpy().ravel()
        for i in range(0, flat.size, 3):
            bumped = flat.copy()
            bumped[i] += eps
            variable.assign(bumped.reshape(variable.shape))
            up = loss().numpy()
            bumped[i] -= 2 * eps
            variable.assign(bumped.reshape(variable.shape))
            down = loss().numpy()
            variable.assign(flat.reshape(variable.shape))
            np.testing.assert_allclose(
                grad.numpy().ravel()[i], (up - down) / (2 * eps), rtol=1e-5, atol=1e-6
            )


@pytest.mark.parametrize("value", [1.0, 0.5])
def test_similarity_from_label_bits_equals_the_loss_module_similarity(value):
    from ssah_tf.bits import pack_label_bits
    from ssah_tf.losses import similarity_from_bits

    rng = np.random.default_rng(1)
    labels = (rng.random((60, 70)) < 0.03).astype(np.float32)  # 3 words, some empty rows
    batch = rng.choice(60, 9, replace=False)
    bits = tf.constant(pack_label_bits(labels))
    fused = similarity_from_bits(bits, tf.gather(bits, batch), tf.constant(value)).numpy()
    expected = losses.similarity(labels, labels[batch], value=value).numpy()
    np.testing.assert_array_equal(fused, expected)
    assert 0 < (fused > 0).mean() < 1  # both outcomes occur
