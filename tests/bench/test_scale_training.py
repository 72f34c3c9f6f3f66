"""Training's scaling inputs: the synthetic collections it trains on."""

import numpy as np

from ssah_tf.bench.scale_training import feature_collection, synthetic_labels


def test_synthetic_labels_give_every_item_a_label_and_features_load(tmp_path):
    rng = np.random.default_rng(0)
    labels = synthetic_labels(rng, 50, 6)
    assert labels.shape == (50, 6) and labels.sum(1).min() >= 1
    path = str(tmp_path / "f.npz")
    feature_collection(path, 40, 5, rng)
    with np.load(path) as data:
        assert data["labels"].shape == (40, 5) and len(data["image_features"]) == 40
