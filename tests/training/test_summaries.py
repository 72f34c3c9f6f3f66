"""TensorBoard summaries and the run's JSON files, read back."""

import json

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.training.summaries import SummaryWriter, code_statistics, write_json_atomic


def read_scalars(folder):
    """{(tag, step): value} of the scalars in a folder's event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return {
        (tag, event.step): float(tf.make_ndarray(event.tensor_proto))
        for tag in events.Tags()["tensors"]
        for event in events.Tensors(tag)
        if tf.make_ndarray(event.tensor_proto).ndim == 0
    }


def test_code_statistics_by_hand():
    hashes = np.array([[0.95, -0.2], [0.5, -0.99], [0.1, 0.3], [-0.4, 0.2]])
    stats = code_statistics(hashes)
    # bit means: (1 + 1 + 1 - 1) / 4 = 0.5 and (-1 - 1 + 1 + 1) / 4 = 0 -> imbalance 0.25
    assert stats["bit_imbalance"] == pytest.approx(0.25)
    assert stats["saturation"] == pytest.approx(2 / 8)  # |h| > 0.9: 0.95 and -0.99


def test_nothing_is_written_until_the_first_summary_then_scalars_read_back(tmp_path):
    writer = SummaryWriter(str(tmp_path / "tb"))
    assert not (tmp_path / "tb").exists()
    writer.pass_done(
        "img",
        {"hash_pair": 1.5, "total": 2.0},
        learning_rate=1e-3,
        steps_per_second=4.0,
        monitored=None,
        accuracy={"IL": 0.75},
        step=7,
    )
    writer.evaluation(
        {"test": {"map_i2t": 0.6}, "validation": {"map_i2t": 0.7}},
        {"image": np.array([[0.5, -0.5]])},
        step=9,
    )
    writer.flush()
    scalars = read_scalars(tmp_path / "tb")
    assert scalars[("img/hash_pair", 7)] == pytest.approx(1.5)
    assert scalars[("img/learning_rate", 7)] == pytest.approx(1e-3)
    assert scalars[("img/accuracy_IL", 7)] == pytest.approx(0.75)
    assert scalars[("eval/map_i2t", 9)] == pytest.approx(0.6)
    assert scalars[("eval_validation/map_i2t", 9)] == pytest.approx(0.7)
    assert ("codes/image_bit_imbalance", 9) in scalars


def test_json_files_are_written_whole(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_json_atomic(str(path), {"a": np.float32(0.5), "b": np.arange(2), "c": (1, 2)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1], "c": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary left
