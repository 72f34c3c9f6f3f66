"""Evaluator: encoding (plain and folded), directions, the label prior, selection, records."""

import json

import numpy as np
import pytest

from ssah_tf.evaluation.evaluator import (load_history, results_summary, selection_metric,
                                          selection_of)
from tests.conftest import get_strategy
from tests.training.tiny import tiny_trainer


def one_device():
    return get_strategy(1)


def test_bulk_text_encoding_uses_the_folded_layer_and_agrees(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), preset="release", schedule="paper",
                           eval_every=0)
    trainer.train()
    rows = np.tile(np.arange(trainer.data.num_items), 2048 // trainer.data.num_items + 1)
    bulk = trainer.encode(rows, "text")  # >= 2048 rows: the folded path
    assert "text_folded" in trainer.evaluator._encoders
    few = trainer.encode(np.arange(trainer.data.num_items), "text")
    np.testing.assert_allclose(bulk[:trainer.data.num_items], few, rtol=0, atol=1e-5)
    net = trainer.networks.txtnet
    texts = trainer.data.texts[:20]
    plain = net(texts).hash.numpy()
    transposed = net.call_folded(texts, net.folded_weights(transposed=True)).hash.numpy()
    np.testing.assert_allclose(transposed, plain, rtol=0, atol=1e-6)
    assert np.abs(plain).max() > 1e-3  # a non-trivial output
