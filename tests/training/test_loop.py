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
        trainer = tiny_trainer(
            tmp_path / name, strategy, preset=preset, schedule="paper", passes=2, eval_every=0
        )
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
    trainer = tiny_trainer(
        tmp_path, one_device(), preset="release", schedule="release", eval_every=0
    )
    d_il = trainer.parts.networks.discriminators["IL"]
    assert all(
        any(v is w for w in trainer.parts.stage_variables["img"]) for v in d_il.trainable_variables
    )
    paper = tiny_trainer(tmp_path / "p", one_device(), preset="paper", eval_every=0)
    assert not any(
        any(v is w for w in paper.parts.stage_variables["img"])
        for v in paper.parts.networks.discriminators["IL"].trainable_variables
    )


def test_text_only_training_reports_existing_directions(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), modalities=("text",), epochs=1)
    results = trainer.train()
    maps = {k for k in results if k.startswith("map_")}
    assert maps == {"map_t2t", "map_l2t"}
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["map_t2t"] == pytest.approx(results["map_t2t"])
    assert (tmp_path / "eval" / "epoch_0000.json").exists()
    assert (
        trainer.saves.latest_manager.latest_checkpoint
        and trainer.saves.best_manager.latest_checkpoint
    )


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
    assert (
        int(second.parts.state.epoch.numpy()) == 0
        and int(second.parts.state.global_step.numpy()) == 0
    )
    assert not np.array_equal(loaded["bank/lab/hash"], trained["bank/lab/hash"])


def test_release_overflow_is_a_divergence_naming_the_stable_form(tmp_path):
    from ssah_tf.training.loop import Diverged

    trainer = tiny_trainer(tmp_path, one_device(), preset="release", eval_every=0)
    # Large LabNet features make Delta = F_bank F^T / 2 exceed 88: the release's literal
    # log(1 + exp) is inf, its gradient NaN, and every weight NaN after the step (the
    # original release goes on with them); here training stops in that pass.
    trainer.parts.networks.labnet.semantic.bias.assign(tf.fill([16], 500.0))
    with pytest.raises(Diverged, match="LabNet.*`pairwise_form=nll`"):
        trainer.train()
    assert trainer.saves.latest_manager.latest_checkpoint is None


def scripted_evaluations(trainer, validation, test):
    """Make the trainer's evaluator report these per-epoch (i2t, t2i) mAPs: a stand-in
    whose test figures disagree with its validation figures, so a selection that read
    the test queries would pick another epoch."""
    real = trainer.evaluator.record

    def record(epoch):
        out, hashes = real(epoch)
        out["test"] = {"map_i2t": test[epoch][0], "map_t2i": test[epoch][1]}
        if "validation" in out:
            out["validation"] = {"map_i2t": validation[epoch][0], "map_t2i": validation[epoch][1]}
        return out, hashes

    trainer.evaluator.record = record


def best_step(run_dir):
    return int(tf.train.latest_checkpoint(str(run_dir / "best")).rsplit("-", 1)[1])


def epoch_steps(trainer):
    """Global step at the end of each epoch (every epoch runs the same steps here)."""
    return int(trainer.parts.state.global_step.numpy()) // int(trainer.parts.state.epoch.numpy())


def test_paper_selection_reads_validation_never_test(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), epochs=3)
    assert trainer.split.validation is not None and trainer.config.run.select_on == "validation"
    scripted_evaluations(
        trainer,
        validation=[(0.5, 0.5), (0.7, 0.7), (0.6, 0.6)],
        test=[(0.9, 0.9), (0.1, 0.1), (0.95, 0.95)],
    )
    results = trainer.train()
    assert results["selected_on"] == "validation" and results["selected_epoch"] == 1
    # The top-level figures are the selected epoch's test mAPs, the last epoch's beside them.
    assert results["map_i2t"] == 0.1 and results["last_epoch"] == {
        "epoch": 2,
        "map_i2t": 0.95,
        "map_t2i": 0.95,
    }
    assert results["validation"] == {"map_i2t": 0.7, "map_t2i": 0.7}
    assert best_step(tmp_path) == 2 * epoch_steps(trainer)  # best/ holds epoch 1
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["selected_epoch"] == 1 and stored["stopped"]["reason"] == "epochs"
    assert stored["selection"]["validation_queries"] == len(trainer.split.validation)


def test_release_selection_is_on_test_queries_and_says_so(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), preset="release", epochs=2, select_on="test")
    assert trainer.split.validation is None
    scripted_evaluations(trainer, validation=None, test=[(0.2, 0.2), (0.1, 0.1)])
    results = trainer.train()
    assert results["selected_on"] == "test" and results["selected_epoch"] == 0
    assert "optimistic" in results["selection"]["description"]


def test_held_out_training_items_are_never_trained_on(tmp_path):
    from ssah_tf.data.protocols import checked_split, with_validation
    from tests.training.tiny import tiny_data

    data = tiny_data()
    split = with_validation(
        checked_split(np.arange(12), np.arange(12, 60), np.arange(12, 60), num_items=60, where="t"),
        6,
        seed=0,
    )
    assert split.validation_from == "train"
    trainer = tiny_trainer(tmp_path, one_device(), data=data, split=split, epochs=2)
    drawn = []
    original = trainer.runner.new_pass_table

    def capture():
        original()
        drawn.append(trainer.parts.state.pass_table.numpy().copy())

    trainer.runner.new_pass_table = capture
    trainer.train()
    # Pass tables hold positions in the training items; map them to dataset rows.
    rows = set(
        trainer.parts.inputs.train_index[np.concatenate([t.ravel() for t in drawn])].tolist()
    )
    assert rows and not rows & set(split.validation.tolist())
    assert rows <= set(split.train.tolist())
    # The input statistics come from the training items only (not the held-out ones).
    assert trainer.parts.num_train == len(split.train) == 42


def test_early_stopping_ends_training_and_resume_honours_it(tmp_path):
    validation = [(0.5, 0.5), (0.7, 0.7), (0.6, 0.6), (0.65, 0.65), (0.9, 0.9), (0.9, 0.9)]
    test = [(0.1, 0.1)] * 6
    trainer = tiny_trainer(tmp_path, one_device(), epochs=6, early_stopping_patience=2)
    scripted_evaluations(trainer, validation, test)
    results = trainer.train()
    # Epochs 2 and 3 did not beat epoch 1: stopped after epoch 3, epochs 4-5 never ran.
    assert results["stopped"] == {
        "reason": "early_stopping",
        "patience": 2,
        "best_epoch": 1,
        "last_epoch": 3,
    }
    assert int(trainer.parts.state.epoch.numpy()) == 4 and results["selected_epoch"] == 1
    step = int(trainer.parts.state.global_step.numpy())
    # Resuming the stopped run trains nothing (and evaluates nothing again).
    resumed = tiny_trainer(tmp_path, one_device(), epochs=6, early_stopping_patience=2)
    resumed.restore_or_initialize(resume=True, init_from=None)
    scripted_evaluations(resumed, validation, test)
    again = resumed.train()
    assert (
        int(resumed.parts.state.global_step.numpy()) == step
        and again["stopped"]["reason"] == "early_stopping"
    )
    assert len(list((tmp_path / "eval").iterdir())) == 4
    # A larger patience continues it: epoch 4 is a new best, then 5 runs out the epochs.
    longer = tiny_trainer(tmp_path, one_device(), epochs=6, early_stopping_patience=5)
    longer.restore_or_initialize(resume=True, init_from=None)
    scripted_evaluations(longer, validation, test)
    final = longer.train()
    assert int(longer.parts.state.epoch.numpy()) == 6 and final["selected_epoch"] == 4
    assert final["stopped"] == {"reason": "epochs", "epochs": 6}


def test_divergence_stops_at_the_pass_and_keeps_the_last_finite_checkpoint(tmp_path):
    from ssah_tf.training.loop import Diverged

    trainer = tiny_trainer(tmp_path, one_device(), epochs=1)
    trainer.train()
    before = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    best = tf.train.latest_checkpoint(str(tmp_path / "best"))
    # Resume; TxtNet's weights turn NaN as its stage starts (as a NaN gradient would make
    # them), so its first pass produces non-finite terms.
    resumed = tiny_trainer(tmp_path, one_device(), epochs=2)
    resumed.restore_or_initialize(resume=True, init_from=None)
    pass_chunks = resumed.runner.pass_chunks

    def poisoned(network, start, chunk):
        if network == "txt":
            kernel = resumed.parts.networks.txtnet.hash_head.kernel
            kernel.assign(tf.fill(kernel.shape, np.nan))
        return pass_chunks(network, start, chunk)

    resumed.runner.pass_chunks = poisoned
    with pytest.raises(Diverged) as stop:
        resumed.train()
    message = str(stop.value)
    assert "TxtNet" in message and "stage txt[0] pass 1" in message and "`lr_txt`" in message
    # The lab and img stages of epoch 1 ran and saved before the txt stage diverged.
    good = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert good != before and good in message and stop.value.last_checkpoint == good
    assert tf.train.latest_checkpoint(str(tmp_path / "best")) == best
    reader = tf.train.load_checkpoint(good)
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and "monitor_log" not in name:
            assert np.all(np.isfinite(value)), name  # (monitor_log starts at +inf by design)
    # A save never writes non-finite weights, whatever made them.
    with pytest.raises(Diverged, match="TxtNet"):
        resumed.saves.save("pass")
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) == good
    # --resume from it works once the cause is gone.
    fixed = tiny_trainer(tmp_path, one_device(), epochs=2)
    fixed.restore_or_initialize(resume=True, init_from=None)
    results = fixed.train()
    assert int(fixed.parts.state.epoch.numpy()) == 2 and results["last_epoch"]["epoch"] == 1


def test_jit_compile_matches_and_mixed_precision_is_close(tmp_path):
    """On two replicas, XLA-compiled forward passes train to the same state as plain TF
    (float32 rounding only); bf16 mixed precision really computes in bf16 (the state
    differs) yet stays close, with every variable still float32."""
    strategy = get_strategy(2)
    states = {}
    for name, kwargs in (
        ("plain", {}),
        ("jit", {"jit_compile": True}),
        ("bf16", {"mixed_precision": True}),
    ):
        # N(0, 0.01) biases: the bound below is relative to each tensor's largest value,
        # and zero-initialised biases are still ~1e-3 after these few steps.
        trainer = tiny_trainer(
            tmp_path / name,
            strategy,
            preset="paper",
            schedule="paper",
            passes=2,
            eval_every=0,
            ssah_overrides={"init_scheme": "normal"},
            **kwargs,
        )
        trainer.train()
        states[name] = state(trainer)
        if name == "bf16":
            assert trainer.parts.networks.txtnet.hidden.compute_dtype == "bfloat16"
            assert all(v.dtype == tf.float32 for v in trainer.parts.networks.txtnet.weights)
    plain = states["plain"]
    largest_bf16_gap = 0.0
    for key in plain:
        scale = max(np.abs(plain[key]).max(), 1e-3)
        np.testing.assert_allclose(
            states["jit"][key], plain[key], rtol=0, atol=2e-5 * scale, err_msg=key
        )
        gap = np.abs(states["bf16"][key] - plain[key]).max() / scale
        assert gap < 0.05, key  # bf16 keeps 8 bits of mantissa: ~0.4 % per product
        largest_bf16_gap = max(largest_bf16_gap, gap)
    assert largest_bf16_gap > 1e-4  # bf16 was actually used
