"""Trainer: replica-count independence, monitors, evaluation output."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import get_strategy
from tests.training.tiny import state, tiny_trainer


def one_device():
    return get_strategy(1)


def two_replicas():
    return get_strategy(2)


@pytest.mark.parametrize("preset", ["paper", "release"])
def test_two_replicas_match_one(tmp_path, preset):
    """Every stage (lab, img, txt, dis) for one epoch: same weights and banks."""
    results = []
    for name, strategy in (("one", one_device()), ("two", two_replicas())):
        trainer = tiny_trainer(tmp_path / name, strategy, preset=preset, schedule="paper",
                               passes=2, eval_every=0)
        trainer.train()
        results.append(state(trainer))
    one, two = results
    assert one.keys() == two.keys()
    for key in one:
        scale = max(np.abs(one[key]).max(), 1e-3)
        np.testing.assert_allclose(two[key], one[key], rtol=0, atol=2e-5 * scale, err_msg=key)
    # Something actually trained: LabNet's banks are no longer the initial noise.
    assert np.abs(one["bank/lab/hash"]).max() <= 1.0


def test_monitoring_losses_match_numpy(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), preset="release", schedule="release",
                           eval_every=0)
    s = {k: v.astype(np.float64) for k, v in state(trainer).items()}
    labels = trainer.train_labels.numpy().astype(np.float64)
    sim = (labels @ labels.T > 0) * 0.999

    def nll(x, y):
        t = x @ y.T / 2
        return np.sum(np.log1p(np.exp(t)) - sim * t)

    h, f, l = s["bank/lab/hash"], s["bank/lab/feature"], s["bank/lab/label"]
    expected = np.sum((l - labels) ** 2) + nll(h, h) + nll(f, f)
    np.testing.assert_allclose(trainer._lab_monitor().numpy(), expected, rtol=1e-5)
    x = s["bank/img/hash"]
    b = np.sign(x)
    expected = (nll(x, h) + np.sum((b - x) ** 2 + (b - h) ** 2) + np.sum((h - x) ** 2)
                + np.sum((s["bank/img/label"] - labels) ** 2))
    np.testing.assert_allclose(trainer._hash_monitor("img").numpy(), expected, rtol=1e-5)


def test_release_training_moves_discriminators_in_generator_stages(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), preset="release", schedule="release",
                           eval_every=0)
    d_il = trainer.networks.discriminators["IL"]
    assert all(any(v is w for w in trainer.stage_variables["img"]) for v in d_il.trainable_variables)
    paper = tiny_trainer(tmp_path / "p", one_device(), preset="paper", eval_every=0)
    assert not any(any(v is w for w in paper.stage_variables["img"])
                   for v in paper.networks.discriminators["IL"].trainable_variables)


def test_text_only_training_reports_existing_directions(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), modalities=("text",), epochs=1)
    results = trainer.train()
    maps = {k for k in results if k.startswith("map_")}
    assert maps == {"map_t2t", "map_l2t"}
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["map_t2t"] == pytest.approx(results["map_t2t"])
    assert (tmp_path / "eval" / "epoch_0000.json").exists()
    assert trainer.manager.latest_checkpoint and trainer.best_manager.latest_checkpoint


def test_discriminator_accuracy_by_hand(tmp_path):
    """Zero the discriminators' output layer and set its bias: every logit equals the bias."""
    trainer = tiny_trainer(tmp_path, one_device(), preset="release", eval_every=0)
    for key in ("IL", "L1", "TL", "L2"):
        out = trainer.networks.discriminators[key].out
        out.kernel.assign(tf.zeros_like(out.kernel))
        out.bias.assign([1.0])  # logit 1 > 0: everything is called "label feature"
    acc = trainer.discriminator_accuracy()
    # Modality features are misclassified (0 correct), label features all correct.
    assert acc == {"IL": 0.0, "L1": 1.0, "TL": 0.0, "L2": 1.0}


def test_init_from_takes_network_weights_only(tmp_path):
    first = tiny_trainer(tmp_path / "a", one_device(), eval_every=0)
    first.train()
    trained = state(first)
    second = tiny_trainer(tmp_path / "b", one_device(), seed=7, eval_every=0)
    second.restore_or_initialize(resume=False, init_from=str(tmp_path / "a" / "checkpoints"))
    loaded = state(second)
    for key in trained:
        if key.startswith("bank/"):
            continue  # banks are run state, not weights: they stay freshly initialised
        np.testing.assert_array_equal(loaded[key], trained[key], err_msg=key)
    assert int(second.epoch.numpy()) == 0 and int(second.global_step.numpy()) == 0
    assert not np.array_equal(loaded["bank/lab/hash"], trained["bank/lab/hash"])


def test_release_overflow_is_warned_once_during_training(tmp_path, caplog):
    import logging

    from ssah_tf import losses

    losses._warned_overflow = False
    trainer = tiny_trainer(tmp_path, one_device(), preset="release", eval_every=0)
    # Large LabNet features make Delta = F_bank F^T / 2 exceed 88: log(1 + exp) -> inf.
    trainer.networks.labnet.semantic.bias.assign(tf.fill([16], 500.0))
    with caplog.at_level(logging.WARNING):
        trainer.train()
    assert caplog.text.count("log(1+exp(x)) overflows") == 1


def test_validation_queries_select_the_best_epoch(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), epochs=2, val_size=5)
    results = trainer.train()
    assert results["selected_on"] == "validation"
    assert set(results["validation"]) == {"map_i2t", "map_t2i", "map_i2i", "map_t2t", "map_l2i",
                                          "map_l2t"}
    records = [json.loads((tmp_path / "eval" / f"epoch_{e:04d}.json").read_text()) for e in (0, 1)]
    best = max(records, key=lambda r: r["validation_selection"])
    assert results["best_epoch"] == best["epoch"]
    # Validation queries come from the database but never from the training items.
    train = set(trainer.train_index.tolist())
    pool = [i for i in trainer.split.database if i not in train]
    assert len(pool) >= 5


def test_jit_compile_matches_and_mixed_precision_is_close(tmp_path):
    """On two replicas, XLA-compiled forward passes train to the same state as plain TF
    (float32 rounding only); bf16 mixed precision really computes in bf16 (the state
    differs) yet stays close, with every variable still float32."""
    strategy = get_strategy(2)
    states = {}
    for name, kwargs in (("plain", {}), ("jit", {"jit_compile": True}),
                         ("bf16", {"mixed_precision": True})):
        # N(0, 0.01) biases: the bound below is relative to each tensor's largest value,
        # and zero-initialised biases are still ~1e-3 after these few steps.
        trainer = tiny_trainer(tmp_path / name, strategy, preset="paper", schedule="paper",
                               passes=2, eval_every=0,
                               ssah_overrides={"init_scheme": "normal"}, **kwargs)
        trainer.train()
        states[name] = state(trainer)
        if name == "bf16":
            assert trainer.networks.txtnet.hidden.compute_dtype == "bfloat16"
            assert all(v.dtype == tf.float32 for v in trainer.networks.txtnet.weights)
    plain = states["plain"]
    largest_bf16_gap = 0.0
    for key in plain:
        scale = max(np.abs(plain[key]).max(), 1e-3)
        np.testing.assert_allclose(states["jit"][key], plain[key], rtol=0, atol=2e-5 * scale,
                                   err_msg=key)
        gap = np.abs(states["bf16"][key] - plain[key]).max() / scale
        assert gap < 0.05, key  # bf16 keeps 8 bits of mantissa: ~0.4 % per product
        largest_bf16_gap = max(largest_bf16_gap, gap)
    assert largest_bf16_gap > 1e-4  # bf16 was actually used


def test_label_bit_words_share_a_label_exactly_when_the_product_is_positive():
    from ssah_tf.training.trainer import pack_label_bits

    rng = np.random.default_rng(0)
    labels = (rng.random((50, 70)) < 0.03).astype(np.float32)  # 70 classes: 3 words
    bits = pack_label_bits(labels)
    assert bits.shape == (50, 3) and bits.dtype == np.int32 and (bits >= 0).all()
    shared = ((bits[:, None, :] & bits[None, :, :]) != 0).any(-1)
    np.testing.assert_array_equal(shared, labels @ labels.T > 0)


@pytest.mark.parametrize("value", [1.0, 0.5])
def test_similarity_from_label_bits_equals_the_loss_module_similarity(value):
    from ssah_tf import losses
    from ssah_tf.training.trainer import pack_label_bits, similarity_from_bits

    rng = np.random.default_rng(1)
    labels = (rng.random((60, 70)) < 0.03).astype(np.float32)  # 3 words, some empty rows
    batch = rng.choice(60, 9, replace=False)
    bits = tf.constant(pack_label_bits(labels))
    fused = similarity_from_bits(bits, tf.gather(bits, batch), tf.constant(value)).numpy()
    expected = losses.similarity(labels, labels[batch], value=value).numpy()
    np.testing.assert_array_equal(fused, expected)
    assert 0 < (fused > 0).mean() < 1  # both outcomes occur


def test_bulk_text_encoding_uses_the_folded_layer_and_agrees(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), preset="release", schedule="paper",
                           eval_every=0)
    trainer.train()
    rows = np.tile(np.arange(trainer.data.num_items), 2048 // trainer.data.num_items + 1)
    bulk = trainer.encode(rows, "text")  # >= 2048 rows: the folded path
    assert "text_folded" in trainer._encoders
    few = trainer.encode(np.arange(trainer.data.num_items), "text")
    np.testing.assert_allclose(bulk[:trainer.data.num_items], few, rtol=0, atol=1e-5)
    net = trainer.networks.txtnet
    texts = trainer.data.texts[:20]
    plain = net(texts).hash.numpy()
    transposed = net.call_folded(texts, net.folded_weights(transposed=True)).hash.numpy()
    np.testing.assert_allclose(transposed, plain, rtol=0, atol=1e-6)
    assert np.abs(plain).max() > 1e-3  # a non-trivial output


def test_input_statistics_come_from_training_items_only(tmp_path):
    from tests.training.tiny import tiny_data

    data = tiny_data()
    data.texts = data.texts * 3.0 + 0.5  # dense texts: standardised too
    split_rows = None
    trainer = tiny_trainer(tmp_path, one_device(), data=data, eval_every=0)
    split_rows = trainer.train_index
    others = np.setdiff1d(np.arange(data.num_items), split_rows)
    data.image_features[others] += 1000.0  # queries / database only: must not matter
    again = tiny_trainer(tmp_path / "b", one_device(), data=data, eval_every=0)
    for net, layer, x in ((trainer, "image", None), (again, "image", None)):
        scaling = net.networks.imgnet.backbone.input_scaling
        feats = data.image_features[split_rows]
        np.testing.assert_allclose(scaling.mean.numpy(), feats.mean(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(scaling.scale.numpy(), feats.std(0), rtol=1e-5)
    text_scaling = again.networks.txtnet.input_scaling
    np.testing.assert_allclose(text_scaling.mean.numpy(), data.texts[split_rows].mean(0), atol=1e-5)
    # 0/1 tags keep their form (auto): the default tiny data has binary texts.
    plain = tiny_trainer(tmp_path / "c", one_device(), eval_every=0)
    assert plain.networks.txtnet.input_scaling is None
    assert plain.networks.imgnet.backbone.input_scaling is not None


def test_release_start_warns_of_its_collapse_and_paper_start_does_not(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        tiny_trainer(tmp_path / "paper", one_device(), passes=3, eval_every=0).train()
    assert "not learning" not in caplog.text and "collapsed" not in caplog.text
    assert "nearly constant" not in caplog.text
    caplog.clear()
    trainer = tiny_trainer(tmp_path / "release", one_device(), preset="release", passes=3,
                           eval_every=0)
    # The release's start: the N(0, 0.01) weights, with LabNet's semantic layer biased
    # negative so every ReLU is dead (what its 1e-2 learning rate does to real data).
    trainer.networks.labnet.semantic.bias.assign(tf.fill([16], -1.0))
    with caplog.at_level(logging.WARNING):
        trainer.train()
    assert "LabNet collapsed: 100% of its semantic features are 0" in caplog.text
    assert "LabNet's codes are nearly constant" in caplog.text
