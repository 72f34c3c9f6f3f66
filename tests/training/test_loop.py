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
    assert int(second.state.epoch.numpy()) == 0 and int(second.global_step.numpy()) == 0
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


