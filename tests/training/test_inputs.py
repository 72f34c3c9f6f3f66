"""Training inputs: both batch samplings, and one batch form for every modality."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.errors import UserError
from ssah_tf.training.inputs import batch_geometry, draw_pass_table
from tests.conftest import get_strategy
from tests.training.tiny import tiny_trainer


def test_shuffled_pass_has_no_repeats_and_permutation_prefix_may_repeat():
    rng = tf.random.Generator.from_seed(0)
    table = draw_pass_table(rng, num_items=20, steps=4, batch_size=5, sampling="shuffled_pass")
    assert table.shape == (4, 5) and len(np.unique(table.numpy())) == 20
    table = draw_pass_table(
        rng, num_items=20, steps=50, batch_size=5, sampling="permutation_prefix"
    ).numpy()
    assert all(len(np.unique(row)) == 5 for row in table)  # within a step: a permutation
    assert len(np.unique(table)) == 20 and table.size == 250  # across steps: repeats
    with pytest.raises(ValueError):
        draw_pass_table(rng, num_items=4, steps=1, batch_size=2, sampling="random")


def test_batch_geometry():
    assert batch_geometry(1000, 128, 2) == (128, 7)
    assert batch_geometry(50, 128, 1) == (50, 1)
    with pytest.raises(UserError, match="not divisible by the 2 replicas"):
        batch_geometry(1000, 127, 2)


def test_every_network_gets_the_same_batch_form(tmp_path):
    trainer = tiny_trainer(tmp_path, get_strategy(1), eval_every=0)
    row = tf.constant([4, 1, 0, 6, 2, 3, 5, 7], tf.int64)
    strategy = trainer.strategy
    data, train = trainer.data, trainer.parts.inputs.train_index
    for network, source in (
        ("lab", data.labels),
        ("txt", data.texts),
        ("img", trainer.parts.built.feature_matrix),
        ("dis", None),
    ):
        batch = strategy.run(lambda network=network: trainer.parts.inputs.batch(network, row))
        np.testing.assert_array_equal(batch["index"], row)
        np.testing.assert_array_equal(batch["labels"], data.labels[train[row.numpy()]])
        if source is None:
            assert "input" not in batch
        else:
            np.testing.assert_array_equal(batch["input"], source[train[row.numpy()]])


def test_two_replicas_take_their_own_halves(tmp_path):
    strategy = get_strategy(2)
    trainer = tiny_trainer(tmp_path, strategy, eval_every=0)
    row = tf.constant(np.arange(8), tf.int64)
    parts = strategy.experimental_local_results(
        strategy.run(lambda: trainer.parts.inputs.batch("lab", row)["index"])
    )
    assert [p.numpy().tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6, 7]]
