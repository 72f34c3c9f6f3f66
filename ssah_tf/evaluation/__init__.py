"""Evaluation: retrieval metrics (pure functions)."""

from ssah_tf.evaluation.curves import (
    precision_at_n,
    precision_recall_by_radius,
    precision_within_radius,
)
from ssah_tf.evaluation.hamming import hamming_distance
from ssah_tf.evaluation.metrics import mean_average_precision

__all__ = [
    "hamming_distance",
    "mean_average_precision",
    "precision_at_n",
    "precision_recall_by_radius",
    "precision_within_radius",
]
