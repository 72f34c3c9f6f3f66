"""ssah-baseline's pieces against hand-worked cases."""

import numpy as np
import pytest

from ssah_tf.data.dataset import CrossModalDataset
from ssah_tf.data.protocols import Split
from ssah_tf.evaluation.baselines import (
    codes_from_scores,
    fit_linear_classifier,
    random_projection,
    run_baseline,
)


def test_codes_from_scores_by_hand():
    # Two classes, prior (0.5, 0.5), R = [[1, -1, 2], [-1, 1, 1]]:
    # P = (0.9, 0.1): (0.4, -0.4) R = (0.8, -0.8, 0.4)  -> (+1, -1, +1)
    # P = (0.2, 0.8): (-0.3, 0.3) R = (-0.6, 0.6, -0.3) -> (-1, +1, -1)
    # P = prior:      zeros                            -> (+1, +1, +1) (0 counts as +1)
    r = np.array([[1.0, -1.0, 2.0], [-1.0, 1.0, 1.0]])
    codes = codes_from_scores(
        np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]), prior=np.array([0.5, 0.5]), projection=r
    )
    np.testing.assert_array_equal(codes, [[1, -1, 1], [-1, 1, -1], [1, 1, 1]])


def test_projection_is_seeded_gaussian():
    a, b = random_projection(4, 16, seed=3), random_projection(4, 16, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 16) and not np.array_equal(a, random_projection(4, 16, seed=4))


def test_softmax_regression_gradient_matches_finite_differences():
    from ssah_tf.evaluation.baselines import _objective

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), np.eye(2)[rng.integers(0, 2, 7)]
    params = rng.normal(size=3 * 2 + 2)
    for multi_label in (False, True):
        _, grad = _objective(params, x, y, 0.1, multi_label)
        numeric = np.array(
            [
                (
                    _objective(params + e, x, y, 0.1, multi_label)[0]
                    - _objective(params - e, x, y, 0.1, multi_label)[0]
                )
                / 2e-6
                for e in np.eye(len(params)) * 1e-6
            ]
        )
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_separable_toy_retrieves_perfectly():
    """Two classes separated along one feature in both views: every direction is exact
    (mAP 1), and the label prior of a 50/50 split is hand-computable."""
    rng = np.random.default_rng(0)
    classes = np.repeat([0, 1], 20)
    labels = np.eye(2, dtype=np.float32)[classes]
    offset = np.where(classes[:, None] == 0, -3.0, 3.0)
    image = (offset * [1, 0] + rng.normal(0, 0.3, (40, 2)) * [1, 1] + [100, 0]).astype(np.float32)
    text = (offset * [0, 1] + rng.normal(0, 0.3, (40, 2))).astype(np.float32) * 1000
    data = CrossModalDataset(name="toy", labels=labels, texts=text, image_features=image)
    query = np.array([0, 1, 20, 21])
    rest = np.setdiff1d(np.arange(40), query)
    results = run_baseline(data, Split(query=query, train=rest, database=rest), bits=8, seed=0)
    for key in ("map_i2t", "map_t2i", "map_i2i", "map_t2t", "map_l2i", "map_l2t"):
        assert results[key] == pytest.approx(1.0), key
    # Ranking ignoring codes: each query has 18 relevant among 36 in database order.
    assert 0.4 < results["label_prior_map"] < 0.7
    assert results["classifiers"]["image"]["query_top1_correct"] == 1.0


def test_multi_label_uses_logistic_outputs():
    labels = np.array([[1, 1], [1, 0], [0, 1], [0, 0]] * 5, np.float64)
    x = labels * 2.0 - 1.0
    model = fit_linear_classifier(x, labels, l2=1e-3)
    assert model.multi_label
    p = model.probabilities(x[:4])
    np.testing.assert_array_equal(p > 0.5, labels[:4] > 0)
