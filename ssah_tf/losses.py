"""SSAH objectives as pure functions (docs/method.md §3), both the paper and the release form.

Every function takes tensors and keyword-only options and returns tensors; no
variables and no configuration object (the callers pass the fields they need); the
one side effect is :func:`warn_once_on_overflow`'s log line. Sums are over the
global batch when called per replica (Keras sums replica gradients); means go
through ``tf.nn.compute_average_loss`` so that they too add up to the single-device
value across replicas.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf
from absl import logging

from ssah_tf.config import LossConfig
from ssah_tf.models.layers import NetworkOutput
from ssah_tf.vocabulary import IMAGE_D, IMAGE_LABEL_D, TEXT_D, TEXT_LABEL_D

# The loss terms a generator step returns, in order (after them "adversarial" for
# ImgNet and TxtNet, then "total"); a discriminator step returns one term per
# discriminator (vocabulary.DISCRIMINATOR_KEYS), then "total".
GENERATOR_TERMS = ("feature_pair", "hash_pair", "quantization", "label")
ADVERSARIAL_TERM = "adversarial"
TOTAL = "total"


def similarity(labels_a: tf.Tensor, labels_b: tf.Tensor, *, value: float = 1.0) -> tf.Tensor:
    """S_ij = value if rows i of ``labels_a`` and j of ``labels_b`` share a label, else 0."""
    shared = tf.matmul(
        tf.cast(labels_a, tf.float32), tf.cast(labels_b, tf.float32), transpose_b=True
    )
    return tf.cast(shared > 0, tf.float32) * value


def _shares_label(row_bits: tf.Tensor, column_bits: tf.Tensor) -> tf.Tensor:
    """[rows, columns] bool: the rows' and columns' label bit words have a common bit."""
    return tf.reduce_any(
        tf.bitwise.bitwise_and(row_bits[:, None, :], column_bits[None, :, :]) != 0, axis=-1
    )


@tf.function(jit_compile=True)
def similarity_from_bits(
    row_bits: tf.Tensor, column_bits: tf.Tensor, value: tf.Tensor
) -> tf.Tensor:
    """:func:`similarity` from ``bits.pack_label_bits`` words: S_ij = value if rows i and
    j share a label, else 0, in one fused pass (the label matmul of :func:`similarity`
    has K = c, far below matmul peak, and needs a compare and a cast after it)."""
    return tf.where(_shares_label(row_bits, column_bits), value, tf.zeros_like(value))


@tf.function(jit_compile=True, reduce_retracing=True)
def pairwise_nll_block(
    inner: tf.Tensor, label_bits_rows: tf.Tensor, label_bits_cols: tf.Tensor, value: tf.Tensor
) -> tf.Tensor:
    """sum(softplus(T) - S * T) over one block, T = inner / 2, S from label bit words;
    float32 row sums added in float64. XLA fuses it into one pass over the block (the
    matmul giving ``inner`` stays in TF's faster kernel)."""
    theta = inner / 2.0
    shared = _shares_label(label_bits_rows, label_bits_cols)
    # softplus as max(T, 0) + log(1 + e^-|T|): stable, and XLA's log is cheaper here than
    # the log1p inside tf.nn.softplus; the two differ by < 6e-8 per element.
    softplus = tf.maximum(theta, 0.0) + tf.math.log(1.0 + tf.exp(-tf.abs(theta)))
    elementwise = softplus - tf.where(shared, value * theta, 0.0)
    return tf.reduce_sum(tf.cast(tf.reduce_sum(elementwise, axis=1), tf.float64))


def release_log1p_exp(theta: tf.Tensor) -> tf.Tensor:
    """The release's literal log(1 + exp(theta)); +inf once theta > ~88 in float32."""
    return tf.math.log(1.0 + tf.exp(theta))


def pairwise_term(
    theta: tf.Tensor, sim: tf.Tensor, *, form: str, squares_factor: float = 1.0
) -> tf.Tensor:
    """Pairwise likelihood term for inner products ``theta`` (Delta or Gamma).

    'nll' (paper eq. 3): -sum(S * theta - softplus(theta)), stable for any theta.
    'squared_residual' (release): squares_factor * sum((S * theta - log(1 + exp(theta)))^2),
    a squared residual rather than a likelihood, with the literal log(1 + exp).
    """
    sim = tf.cast(sim, theta.dtype)
    if form == "nll":
        return _nll_sum(theta, sim)
    if form == "squared_residual":
        return squares_factor * _squared_residual_sum(theta, sim)
    raise ValueError(f"unknown pairwise form {form!r}")


# The pairwise terms are ~10 elementwise ops (and as many in the gradient) over an
# [n, batch] matrix: XLA fuses each direction into one pass (experiments/RESULTS.md has
# the step times). The formulas are the plain TF ones above, differentiated by TF.
@tf.function(jit_compile=True)
def _nll_sum(theta: tf.Tensor, sim: tf.Tensor) -> tf.Tensor:
    return -tf.reduce_sum(sim * theta - tf.nn.softplus(theta))


@tf.function(jit_compile=True)
def _squared_residual_sum(theta: tf.Tensor, sim: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.square(sim * theta - release_log1p_exp(theta)))


def quantization_target(
    *, own_hash: tf.Tensor, joint_hash_sum: tf.Tensor | None, target: str
) -> tf.Tensor:
    """B used by the quantisation term, as a constant.

    'own_batch' (release): sign(H^x) of the same network's batch output.
    'joint' (paper 3.5): sign(H^v + H^t + H^l) of the batch's stored codes.
    """
    if target == "own_batch":
        return tf.stop_gradient(tf.sign(own_hash))
    if target == "joint":
        if joint_hash_sum is None:
            raise ValueError("the 'joint' quantisation target needs joint_hash_sum")
        return tf.stop_gradient(tf.sign(joint_hash_sum))
    raise ValueError(f"unknown quantisation target {target!r}")


def adversarial_generator_term(
    logits: tf.Tensor, *, form: str, global_size: int | None = None
) -> tf.Tensor:
    """A generator's adversarial term: make D classify its features as labels' (1).

    'least_squares' (paper eq. 5): sum (D(F^x) - 1)^2 on raw discriminator outputs.
    'release_cross_entropy': mean sigmoid cross-entropy against target 1.
    """
    if form == "least_squares":
        return tf.reduce_sum(tf.square(logits - tf.ones_like(logits)))
    if form == "release_cross_entropy":
        per_example = tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.ones_like(logits), logits=logits
        )
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_size)
    raise ValueError(f"unknown adversarial form {form!r}")


def generator_loss(
    output: NetworkOutput,
    *,
    labels: tf.Tensor,
    sim: tf.Tensor,
    lab_feature_bank: tf.Tensor,
    lab_hash_bank: tf.Tensor,
    quant_target: tf.Tensor,
    config: LossConfig,
    adversarial: tf.Tensor | None = None,
) -> dict[str, tf.Tensor]:
    """L^x for one generator on a batch (paper eq. 3/4, release: docs/method.md §8).

    ``sim`` is S between all n stored instances (rows) and the batch (columns);
    the LabNet banks are constants. ``adversarial`` is the already computed
    adversarial term (ImgNet/TxtNet) or None (LabNet). Returns the un-weighted
    terms and their weighted ``total``.
    """
    lab_feature_bank = tf.stop_gradient(tf.cast(lab_feature_bank, output.feature.dtype))
    lab_hash_bank = tf.stop_gradient(tf.cast(lab_hash_bank, output.hash.dtype))
    # (A @ B^T) / 2 == A @ (B / 2)^T exactly (halving is exact in binary floating
    # point); halving the [batch, dim] factor saves a pass over the [n, batch] product.
    delta = tf.matmul(lab_feature_bank, output.feature * 0.5, transpose_b=True)
    gamma = tf.matmul(lab_hash_bank, output.hash * 0.5, transpose_b=True)
    terms = {
        "feature_pair": pairwise_term(
            delta, sim, form=config.pairwise_form, squares_factor=config.squares_factor
        ),
        "hash_pair": pairwise_term(
            gamma, sim, form=config.pairwise_form, squares_factor=config.squares_factor
        ),
        "quantization": config.squares_factor
        * tf.reduce_sum(
            tf.square(tf.stop_gradient(tf.cast(quant_target, output.hash.dtype)) - output.hash)
        ),
        "label": config.squares_factor
        * tf.reduce_sum(tf.square(tf.cast(labels, output.label.dtype) - output.label)),
    }
    total = (
        config.weight_feature_pair * terms["feature_pair"]
        + config.weight_hash_pair * terms["hash_pair"]
        + config.weight_quantization * terms["quantization"]
        + config.weight_label * terms["label"]
    )
    if adversarial is not None:
        terms[ADVERSARIAL_TERM] = adversarial
        total = total + config.weight_adversarial * adversarial
    terms[TOTAL] = total
    return terms


def discriminator_loss(
    *,
    image_logits: tf.Tensor | None,
    text_logits: tf.Tensor | None,
    label_logits_image: tf.Tensor | None,
    label_logits_text: tf.Tensor | None,
    form: str,
    global_size: int | None = None,
) -> dict[str, tf.Tensor]:
    """Discriminator objective; terms named after the release's four nets.

    ``image_logits`` = D^v(F^v) (target 0), ``label_logits_image`` = D^v(F^l)
    (target 1), likewise for text. A modality that is absent passes None.
    'least_squares' (paper eq. 5): sum of squared errors over all 2n inputs.
    'release_cross_entropy': mean of the per-net mean sigmoid cross-entropies.
    """
    pairs = {
        IMAGE_D: (image_logits, 0.0),
        IMAGE_LABEL_D: (label_logits_image, 1.0),
        TEXT_D: (text_logits, 0.0),
        TEXT_LABEL_D: (label_logits_text, 1.0),
    }
    terms: dict[str, tf.Tensor] = {}
    for name, (logits, target) in pairs.items():
        if logits is None:
            continue
        if form == "least_squares":
            terms[name] = tf.reduce_sum(tf.square(logits - tf.cast(target, logits.dtype)))
        elif form == "release_cross_entropy":
            per_example = tf.nn.sigmoid_cross_entropy_with_logits(
                labels=tf.fill(tf.shape(logits), tf.cast(target, logits.dtype)), logits=logits
            )
            terms[name] = tf.nn.compute_average_loss(per_example, global_batch_size=global_size)
        else:
            raise ValueError(f"unknown adversarial form {form!r}")
    if not terms:
        raise ValueError("discriminator_loss needs at least one set of logits")
    values = list(terms.values())
    total = tf.add_n(values)
    if form == "release_cross_entropy":
        total = total / float(len(values))
    terms[TOTAL] = total
    return terms


_warned_overflow = False


def warn_once_on_overflow(terms: Mapping[str, tf.Tensor]) -> None:
    """Log once per process when a release-form loss became inf/NaN (eager callers)."""
    global _warned_overflow
    if _warned_overflow:
        return
    for name, value in terms.items():
        if not bool(tf.reduce_all(tf.math.is_finite(value))):
            _warned_overflow = True
            logging.warning(
                "loss term %r is not finite: the release's literal log(1+exp(x)) overflows for "
                "x > 88; use `pairwise_form=nll` (the stable paper form) to avoid it",
                name,
            )
            return
