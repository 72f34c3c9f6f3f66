"""One optimisation step of a stage: its own GradientTape, its own variables.

:func:`generator_step` (LabNet, ImgNet, TxtNet) and :func:`discriminator_step` are
what the trainer's ``tf.function`` runs on every replica and what the golden parity
test calls. A generator step runs the network on the batch, writes the global
batch's outputs into the network's memory banks (Algorithm 1: before the update),
builds the step's inputs from the state (:func:`generator_inputs`: the similarity
block S, the LabNet banks, the quantisation target B, what the discriminator sees)
and takes one optimizer step on the loss; docs/method.md describes each piece.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import keras
import tensorflow as tf

from ssah_tf import losses
from ssah_tf.config import LossConfig
from ssah_tf.models.layers import NetworkOutput
from ssah_tf.vocabulary import DISCRIMINATORS_OF, IMAGE_D, IMAGE_LABEL_D, TEXT_D, TEXT_LABEL_D


def term_names(network: str, has_image: bool, has_text: bool) -> list[str]:
    """Order of the loss terms a stage's step returns (summed over a pass for logging)."""
    if network == "dis":
        names = []
        if has_image:
            names += list(DISCRIMINATORS_OF["img"])
        if has_text:
            names += list(DISCRIMINATORS_OF["txt"])
        return names + [losses.TOTAL]
    names = list(losses.GENERATOR_TERMS)
    if network != "lab":
        names.append(losses.ADVERSARIAL_TERM)
    return names + [losses.TOTAL]


def apply_gradients(
    tape: tf.GradientTape,
    loss: tf.Tensor,
    variables: Sequence[tf.Variable],
    optimizer: keras.optimizers.Optimizer,
) -> None:
    """One optimizer update of ``variables`` from ``loss``. Variables without a gradient
    are skipped, as TF1's ``minimize`` did (e.g. a dead multi-scale branch)."""
    grads = tape.gradient(loss, variables)
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])


class GeneratorInputs(NamedTuple):
    """What a generator's loss reads besides its own output."""

    sim: tf.Tensor  # S [n, batch]: all stored items x the batch
    lab_feature_bank: tf.Tensor  # F^l of all n items (a constant)
    lab_hash_bank: tf.Tensor  # H^l of all n items (a constant)
    quant_target: tf.Tensor  # B [batch, bits] (a constant)
    adversarial_features: tf.Tensor | None  # what D^v / D^t sees (None: LabNet)
    adversarial_size: int | None = None  # global count of those features, for means


class StepContext(NamedTuple):
    """The state a generator step reads and writes (the trainer's, or a test's)."""

    banks: dict  # network -> MemoryBanks
    label_bits: tf.Tensor  # bits.pack_label_bits of the n training items
    num_train: int


def generator_inputs(
    network: str, output: NetworkOutput, batch: dict, context: StepContext, config: LossConfig
) -> GeneratorInputs:
    """The step's inputs from the state, after the batch was written into the banks."""
    index = batch["index"]
    joint = None
    if config.quantization_target == "joint":
        joint = tf.add_n([tf.gather(bank.hash, index) for bank in context.banks.values()])
    target = losses.quantization_target(
        own_hash=output.hash, joint_hash_sum=joint, target=config.quantization_target
    )
    sim = losses.similarity_from_bits(
        context.label_bits,
        tf.gather(context.label_bits, index),
        tf.constant(config.similarity_value, tf.float32),
    )
    features, size = None, None
    if network != "lab":
        source = (
            config.adversarial_image_input if network == "img" else config.adversarial_text_input
        )
        if source == "bank":
            # The whole (just updated) bank: every replica computes the same full-bank
            # mean, so it counts replicas x n items and the summed gradients are the
            # single-device one.
            replicas = tf.distribute.get_replica_context().num_replicas_in_sync
            features, size = context.banks[network].feature, context.num_train * replicas
        elif source == "stored_batch":
            features = tf.stop_gradient(output.feature)  # the rows just stored: constants
        else:
            features = output.feature
    return GeneratorInputs(
        sim, context.banks["lab"].feature, context.banks["lab"].hash, target, features, size
    )


def generator_terms(
    network: str,
    net: Callable,
    batch: dict,
    *,
    inputs: Callable[[NetworkOutput], GeneratorInputs],
    config: LossConfig,
    discriminator: Callable | None = None,
    banks=None,
) -> dict[str, tf.Tensor]:
    """A generator's loss terms on the replica's ``batch`` (differentiable).

    ``inputs(output)`` gives the loss inputs (training: :func:`generator_inputs` on the
    trainer's state); ``banks``: where the batch's outputs go first (None: nowhere).
    """
    output = net(batch["input"])
    if banks is not None:
        # Write the whole global batch's outputs into the banks first (Algorithm 1).
        ctx = tf.distribute.get_replica_context()
        gathered = NetworkOutput(*[ctx.all_gather(tf.stop_gradient(t), 0) for t in output])
        banks[network].write(ctx.all_gather(batch["index"], 0), gathered)
    step_inputs = inputs(output)
    adversarial = None
    if step_inputs.adversarial_features is not None:
        adversarial = losses.adversarial_generator_term(
            discriminator(step_inputs.adversarial_features),
            form=config.adversarial_form,
            global_size=step_inputs.adversarial_size,
        )
    return losses.generator_loss(
        output,
        labels=batch["labels"],
        sim=step_inputs.sim,
        lab_feature_bank=step_inputs.lab_feature_bank,
        lab_hash_bank=step_inputs.lab_hash_bank,
        quant_target=step_inputs.quant_target,
        config=config,
        adversarial=adversarial,
    )


def generator_step(
    network: str,
    net: Callable,
    batch: dict,
    *,
    optimizer: keras.optimizers.Optimizer,
    variables: Sequence[tf.Variable],
    term_order: Sequence[str],
    **terms_kwargs,
) -> tf.Tensor:
    """One optimizer step on :func:`generator_terms`; returns the terms (``term_order``)."""
    with tf.GradientTape() as tape:
        terms = generator_terms(network, net, batch, **terms_kwargs)
    apply_gradients(tape, terms[losses.TOTAL], variables, optimizer)
    return tf.stack([terms[name] for name in term_order])


class DiscriminatorInputs(NamedTuple):
    """The features the discriminators classify (None: that modality is absent)."""

    image_features: tf.Tensor | None  # F^v, target 0
    text_features: tf.Tensor | None  # F^t, target 0
    label_features: tf.Tensor  # F^l, target 1


def discriminator_inputs(batch: dict, banks: dict) -> DiscriminatorInputs:
    """The stored features of the batch's items (training)."""
    index = batch["index"]
    return DiscriminatorInputs(
        image_features=tf.gather(banks["img"].feature, index) if "img" in banks else None,
        text_features=tf.gather(banks["txt"].feature, index) if "txt" in banks else None,
        label_features=tf.gather(banks["lab"].feature, index),
    )


def discriminator_terms(
    inputs: DiscriminatorInputs, *, discriminators: dict, form: str
) -> dict[str, tf.Tensor]:
    """The discriminators' loss terms (all four nets, or two shared)."""
    d = discriminators
    has_image, has_text = inputs.image_features is not None, inputs.text_features is not None
    return losses.discriminator_loss(
        image_logits=d[IMAGE_D](inputs.image_features) if has_image else None,
        label_logits_image=d[IMAGE_LABEL_D](inputs.label_features) if has_image else None,
        text_logits=d[TEXT_D](inputs.text_features) if has_text else None,
        label_logits_text=d[TEXT_LABEL_D](inputs.label_features) if has_text else None,
        form=form,
    )


def discriminator_step(
    inputs: DiscriminatorInputs,
    *,
    discriminators: dict,
    form: str,
    optimizer: keras.optimizers.Optimizer,
    variables: Sequence[tf.Variable],
    term_order: Sequence[str],
) -> tf.Tensor:
    """One optimizer step on :func:`discriminator_terms`; returns the terms."""
    with tf.GradientTape() as tape:
        terms = discriminator_terms(inputs, discriminators=discriminators, form=form)
    apply_gradients(tape, terms[losses.TOTAL], variables, optimizer)
    return tf.stack([terms[name] for name in term_order])
