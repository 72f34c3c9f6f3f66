"""Evaluation: retrieval metrics (pure functions)."""

from ssah_tf.evaluation.metrics import (
    hamming_distance,
    mean_average_precision,
    precision_at_n,
    precision_recall_by_radius,
    precision_within_radius,
)

__all__ = [
    "hamming_distance",
    "mean_average_precision",
    "precision_at_n",
    "precision_recall_by_radius",
    "precision_within_radius",
]
