"""The training step functions: what each step writes, reads and moves."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf import losses
from ssah_tf.bits import pack_label_bits
from ssah_tf.config import make_config
from ssah_tf.training.steps import (
    GeneratorInputs,
    StepContext,
    discriminator_inputs,
    generator_inputs,
    generator_terms,
    term_names,
)
from tests.conftest import get_strategy
from tests.training.tiny import tiny_trainer


def test_term_names_follow_the_modalities():
    assert term_names("dis", True, False) == ["IL", "L1", "total"]
    assert term_names("lab", True, True)[-1] == "total" and "adversarial" not in term_names(
        "lab", True, True
    )
    assert term_names("txt", False, True)[-2:] == ["adversarial", "total"]


@pytest.mark.parametrize("preset", ["paper", "release"])
def test_generator_inputs_from_the_state(tmp_path, preset):
    """S from packed labels, B per the config, and what the discriminator sees."""
    trainer = tiny_trainer(tmp_path, get_strategy(1), preset=preset, eval_every=0)
    config = trainer.config.ssah.loss
    context = StepContext(
        trainer.parts.state.banks, trainer.parts.inputs.label_bits, trainer.parts.num_train
    )
    index = tf.constant([3, 0, 5], tf.int64)
    batch = {"index": index}
    output = trainer.parts.networks.imgnet(tf.gather(trainer.parts.inputs.features, index))
    inputs = generator_inputs("img", output, batch, context, config)
    labels = trainer.parts.inputs.labels.numpy()
    expected_sim = (labels @ labels[[3, 0, 5]].T > 0) * np.float32(config.similarity_value)
    np.testing.assert_array_equal(inputs.sim.numpy(), expected_sim)
    if preset == "paper":  # joint codes of the stored batch rows, the batch itself to D
        joint = sum(tf.gather(b.hash, index).numpy() for b in trainer.parts.state.banks.values())
        np.testing.assert_array_equal(inputs.quant_target.numpy(), np.sign(joint))
        assert inputs.adversarial_features is output.feature and inputs.adversarial_size is None
    else:  # own batch codes, the whole image bank to D_IL, counted per replica
        np.testing.assert_array_equal(inputs.quant_target.numpy(), np.sign(output.hash.numpy()))
        assert inputs.adversarial_features is trainer.parts.state.banks["img"].feature
        assert inputs.adversarial_size == trainer.parts.num_train


def test_generator_terms_write_the_batch_into_the_banks_before_the_loss(tmp_path):
    trainer = tiny_trainer(tmp_path, get_strategy(1), eval_every=0)
    net, banks = trainer.parts.networks.labnet, trainer.parts.state.banks
    index = tf.constant([1, 4], tf.int64)
    labels = tf.gather(trainer.parts.inputs.labels, index)
    seen = {}

    def inputs(output):
        seen["bank_rows"] = tf.gather(banks["lab"].hash, index).numpy()
        seen["output"] = output.hash.numpy()
        return GeneratorInputs(
            sim=tf.zeros([trainer.parts.num_train, 2]),
            lab_feature_bank=banks["lab"].feature,
            lab_hash_bank=banks["lab"].hash,
            quant_target=tf.zeros([2, 8]),
            adversarial_features=None,
        )

    strategy = get_strategy(1)
    terms = strategy.run(
        lambda: generator_terms(
            "lab",
            net,
            {"index": index, "labels": labels, "input": labels},
            inputs=inputs,
            config=make_config("paper").loss,
            banks=banks,
        )
    )
    np.testing.assert_array_equal(seen["bank_rows"], seen["output"])
    # With S = 0 and B = 0: label term by hand, quantisation = sum H^2.
    out = net(labels)
    assert float(terms["quantization"]) == pytest.approx(
        float(tf.reduce_sum(out.hash**2)), rel=1e-6
    )
    assert float(terms["label"]) == pytest.approx(
        float(tf.reduce_sum((labels - out.label) ** 2)), rel=1e-6
    )


def test_discriminator_inputs_are_the_stored_features_of_the_batch(tmp_path):
    trainer = tiny_trainer(tmp_path, get_strategy(1), eval_every=0)
    index = tf.constant([2, 7], tf.int64)
    inputs = discriminator_inputs({"index": index}, trainer.parts.state.banks)
    for got, bank in (
        (inputs.image_features, "img"),
        (inputs.text_features, "txt"),
        (inputs.label_features, "lab"),
    ):
        np.testing.assert_array_equal(
            got.numpy(), tf.gather(trainer.parts.state.banks[bank].feature, index)
        )
    only_text = discriminator_inputs(
        {"index": index},
        {"lab": trainer.parts.state.banks["lab"], "txt": trainer.parts.state.banks["txt"]},
    )
    assert only_text.image_features is None


def test_similarity_block_matches_labels_packing(tmp_path):
    rng = np.random.default_rng(0)
    labels = (rng.random((20, 40)) < 0.1).astype(np.float32)
    bits = tf.constant(pack_label_bits(labels))
    block = losses.similarity_from_bits(bits, tf.gather(bits, [0, 5]), tf.constant(1.0))
    np.testing.assert_array_equal(block.numpy(), (labels @ labels[[0, 5]].T > 0).astype(np.float32))
