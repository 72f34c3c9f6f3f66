"""Standardisation of dense inputs with statistics of the training items only.

SSAH's networks (and ``ssah-baseline``) see dense feature vectors as
(x - mean) / scale, with mean and scale from the training split; 0/1 tag
vectors keep their form. The statistics are stored with a run (inside the
networks' weights), so evaluation, export, encoding and search apply exactly
what training used.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ssah_tf.errors import UserError
from ssah_tf.vocabulary import SWITCH_CHOICES

SCALING_CHOICES = SWITCH_CHOICES


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Per-column ``(x - mean) / scale``; constant columns get scale 1."""

    mean: np.ndarray
    scale: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float32) - self.mean) / self.scale).astype(np.float32)


def is_binary(x: np.ndarray) -> bool:
    """Whether every entry is 0 or 1 (a bag-of-words / tag vector)."""
    x = np.asarray(x)
    return bool(np.all((x == 0) | (x == 1)))


def fit_standardizer(x: np.ndarray) -> Standardizer:
    """Column means and standard deviations of ``x`` (the training items' rows)."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"need a non-empty [items, dims] matrix, got shape {x.shape}")
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    # A column that is constant on the training items carries no information there;
    # scale 1 keeps it finite (it becomes 0 for those items).
    scale = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return Standardizer(mean.astype(np.float32), scale.astype(np.float32))


def standardizer_from_moments(total: np.ndarray, squares: np.ndarray, count: int) -> Standardizer:
    """The :func:`fit_standardizer` of rows known only by their column sums and sums of
    squares (a streamed pass)."""
    if not count:
        raise ValueError("no rows")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    scale = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return Standardizer(mean.astype(np.float32), scale.astype(np.float32))


def wants_scaling(setting: str, train_values: np.ndarray, what: str) -> bool:
    """Resolve an 'auto' / 'on' / 'off' setting: auto scales unless the values are 0/1."""
    if setting not in SCALING_CHOICES:
        raise UserError(
            f"`standardize_{what}={setting!r}`; use one of {', '.join(SCALING_CHOICES)}"
        )
    if setting == "auto":
        return not is_binary(train_values)
    return setting == "on"
