"""Evaluation: retrieval metrics (pure functions) and encoding."""

from ssah_tf.evaluation.metrics import hamming_distance, mean_average_precision

__all__ = ["hamming_distance", "mean_average_precision"]
