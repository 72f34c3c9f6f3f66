"""Evaluator: encoding (plain and folded), directions, the label prior, selection, records."""

import json

import numpy as np
import pytest

from ssah_tf.evaluation.evaluator import load_history, results_summary
from ssah_tf.evaluation.selection import ModelSelection
from tests.conftest import get_strategy
from tests.training.tiny import tiny_trainer


def one_device():
    return get_strategy(1)


def test_bulk_text_encoding_uses_the_folded_layer_and_agrees(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), preset="release", schedule="paper", eval_every=0)
    trainer.train()
    rows = np.tile(np.arange(trainer.data.num_items), 2048 // trainer.data.num_items + 1)
    bulk = trainer.evaluator.encode(rows, "text")  # >= 2048 rows: the folded path
    assert ("text", True, "hash") in trainer.evaluator._encoders
    few = trainer.evaluator.encode(np.arange(trainer.data.num_items), "text")
    np.testing.assert_allclose(bulk[: trainer.data.num_items], few, rtol=0, atol=1e-5)
    net = trainer.parts.networks.txtnet
    texts = trainer.data.texts[:20]
    plain = net(texts).hash.numpy()
    transposed = net.call_folded(texts, net.folded_weights(transposed=True)).hash.numpy()
    np.testing.assert_allclose(transposed, plain, rtol=0, atol=1e-6)
    assert np.abs(plain).max() > 1e-3  # a non-trivial output


def test_record_encodes_once_and_scores_validation_against_the_rest_of_the_database(tmp_path):
    trainer = tiny_trainer(tmp_path, one_device(), eval_every=0)
    trainer.train()
    evaluator, split = trainer.evaluator, trainer.split
    record, hashes = evaluator.record(3)
    assert record["epoch"] == 3 and set(hashes) == {"label", "image", "text"}
    test, _ = evaluator.evaluate(split.query, split.database)
    validation, _ = evaluator.evaluate(split.validation, split.validation_database)
    assert record["test"] == pytest.approx(test, abs=1e-12)
    assert record["validation"] == pytest.approx(validation, abs=1e-12)
    assert not set(split.validation_database) & set(split.validation)


def test_results_summary_layout(tmp_path):
    from ssah_tf.data.protocols import make_split, with_validation

    split = with_validation(make_split(100, query_size=10, train_size=40), 10, seed=0)
    history = [
        {
            "epoch": e,
            "test": {"map_i2t": t, "map_t2i": t},
            "validation": {"map_i2t": v, "map_t2i": v},
        }
        for e, t, v in ((0, 0.5, 0.6), (1, 0.4, 0.8), (2, 0.7, 0.7))
    ]
    summary = results_summary(
        history,
        selection=ModelSelection("validation", "min"),
        label_prior=0.1,
        split=split,
        stopped={"reason": "epochs"},
    )
    assert summary["map_i2t"] == 0.4 and summary["selected_epoch"] == 1
    assert summary["last_epoch"] == {"epoch": 2, "map_i2t": 0.7, "map_t2i": 0.7}
    assert summary["selection"]["value"] == 0.8 and summary["selection"]["criterion"] == "min"
    assert summary["selection"]["validation_queries"] == 10
    assert summary["validation"] == {"map_i2t": 0.8, "map_t2i": 0.8}
    assert summary["label_prior_map"] == 0.1 and summary["evaluations"] == 3
    last = results_summary(history, selection=ModelSelection("last"), label_prior=0.1, split=split)
    assert last["selected_epoch"] == 2 and "value" not in last["selection"]


def test_load_history_reads_earlier_epochs_and_names_damaged_files(tmp_path):
    from ssah_tf.errors import UserError

    (tmp_path / "eval").mkdir()
    for epoch in (0, 1, 2):
        (tmp_path / "eval" / f"epoch_{epoch:04d}.json").write_text(json.dumps({"epoch": epoch}))
    assert [r["epoch"] for r in load_history(str(tmp_path), 2)] == [0, 1]
    (tmp_path / "eval" / "epoch_0003.json").write_text("[]")
    with pytest.raises(UserError, match="epoch_0003.json is damaged"):
        load_history(str(tmp_path), 5)
