"""Precision/recall curves and the distance histogram against brute force."""

import numpy as np
import pytest

from ssah_tf.evaluation.curves import distance_histogram, precision_at_n, precision_recall_by_radius
from tests.evaluation.test_metrics import random_case


def test_precision_curves_equal_brute_force():
    qb, db, ql, dl = random_case(5, distinct_codes=4, bits=8)
    kw = dict(query_codes=qb, database_codes=db, query_labels=ql, database_labels=dl, block_size=5)
    dist = (qb[:, None, :] != db[None, :, :]).sum(-1)
    rel = (ql @ dl.T) > 0
    ns = [1, 3, 40, 99]
    expected = []
    for n in ns:
        values = []
        for i in range(len(qb)):
            order = sorted(range(len(db)), key=lambda j: (dist[i, j], j))[:n]
            values.append(rel[i, order].sum() / min(n, len(db)))
        expected.append(np.mean(values))
    np.testing.assert_allclose(precision_at_n(**kw, n_values=ns), expected)
    _, precision, recall = precision_recall_by_radius(**kw)
    for r in range(9):
        retrieved = dist <= r
        p = [rel[i, retrieved[i]].mean() for i in range(len(qb)) if retrieved[i].any()]
        rc = [rel[i, retrieved[i]].sum() / rel[i].sum() for i in range(len(qb)) if rel[i].any()]
        assert precision[r] == pytest.approx(np.mean(p) if p else 0.0)
        assert recall[r] == pytest.approx(np.mean(rc))


def test_distance_histogram_equals_brute_force():
    qb, db, ql, dl = random_case(6, distinct_codes=3)
    kw = dict(query_codes=qb, database_codes=db, query_labels=ql, database_labels=dl)
    relevant, irrelevant = distance_histogram(**kw, block_size=4)
    dist = (qb[:, None, :] != db[None, :, :]).sum(-1)
    rel = (ql @ dl.T) > 0
    np.testing.assert_array_equal(relevant, np.bincount(dist[rel], minlength=17))
    np.testing.assert_array_equal(irrelevant, np.bincount(dist[~rel], minlength=17))
