"""The embedded demo dataset: synthetic multi-label images and tag vectors.

Deterministic from a seed, no files. Each item has 1-3 labels; its image
draws each label's shape in that label's colour on a noisy background, and its
tag vector draws tags from each label's own vocabulary block plus noise tags,
so both modalities carry the labels, imperfectly.
"""

from __future__ import annotations

import numpy as np

from ssah_tf.data.dataset import ArrayImages, CrossModalDataset, validate
from ssah_tf.errors import UserError

_SHAPES = ("square", "disk", "cross", "ring", "hbar", "vbar", "triangle", "diamond")


def _palette(num_labels: int) -> np.ndarray:
    hues = np.arange(num_labels) / num_labels
    out = []
    for h in hues:  # HSV (h, 0.9, 0.95) -> RGB
        i = int(h * 6) % 6
        f = h * 6 - int(h * 6)
        v, s = 0.95, 0.9
        p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
        out.append([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])
    return (np.array(out) * 255).astype(np.float32)


def _mask(kind: str, size: int, cy: float, cx: float, radius: float) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    dy, dx = y - cy, x - cx
    if kind == "square":
        return (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
    if kind == "disk":
        return dy**2 + dx**2 <= radius**2
    if kind == "cross":
        return ((np.abs(dy) <= radius / 3) & (np.abs(dx) <= radius)) | (
            (np.abs(dx) <= radius / 3) & (np.abs(dy) <= radius)
        )
    if kind == "ring":
        r2 = dy**2 + dx**2
        return (r2 <= radius**2) & (r2 >= (radius * 0.55) ** 2)
    if kind == "hbar":
        return (np.abs(dy) <= radius / 3) & (np.abs(dx) <= radius * 1.3)
    if kind == "vbar":
        return (np.abs(dx) <= radius / 3) & (np.abs(dy) <= radius * 1.3)
    if kind == "triangle":
        return (dy <= radius) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) / 2)
    return np.abs(dy) + np.abs(dx) <= radius  # diamond


def make_demo_dataset(
    *,
    num_items: int = 2000,
    num_labels: int = 8,
    image_size: int = 32,
    vocab_size: int = 200,
    seed: int = 0,
) -> CrossModalDataset:
    """Generate the demo dataset (see module docstring)."""
    if num_labels < 2 or num_items < 10 or image_size < 8:
        raise UserError("demo needs `demo_labels` >= 2, `demo_items` >= 10, `demo_image_size` >= 8")
    block = vocab_size // (num_labels + 1)
    if block < 3:
        raise UserError(
            f"`demo_vocab` {vocab_size} is too small for {num_labels} labels "
            f"(need at least {3 * (num_labels + 1)})"
        )
    rng = np.random.default_rng(seed)
    labels = np.zeros((num_items, num_labels), np.float32)
    for row in range(num_items):
        count = rng.integers(1, 4)
        labels[row, rng.choice(num_labels, size=min(count, num_labels), replace=False)] = 1.0
    palette = _palette(num_labels)
    images = np.empty((num_items, image_size, image_size, 3), np.uint8)
    texts = np.zeros((num_items, vocab_size), np.float32)
    noise_block = np.arange(num_labels * block, vocab_size)
    for row in range(num_items):
        canvas = rng.normal(60.0, 25.0, size=(image_size, image_size, 3))
        for label in np.flatnonzero(labels[row]):
            radius = rng.uniform(0.12, 0.22) * image_size
            cy, cx = rng.uniform(radius, image_size - radius, size=2)
            mask = _mask(_SHAPES[label % len(_SHAPES)], image_size, cy, cx, radius)
            colour = palette[label] + rng.normal(0, 12.0, size=3)
            canvas[mask] = colour
            own = np.arange(label * block, (label + 1) * block)
            texts[row, rng.choice(own, size=min(block, 1 + rng.poisson(2)), replace=False)] = 1.0
        texts[row, rng.choice(noise_block, size=rng.integers(1, 4), replace=False)] = 1.0
        if rng.random() < 0.15:  # a misleading tag from another label's block
            texts[row, rng.integers(0, num_labels * block)] = 1.0
        images[row] = np.clip(canvas + rng.normal(0, 10.0, size=canvas.shape), 0, 255)
    return validate(
        CrossModalDataset(
            name="demo",
            labels=labels,
            texts=texts,
            images=ArrayImages(images, name="demo images"),
            label_names=tuple(f"{_SHAPES[i % len(_SHAPES)]}_{i}" for i in range(num_labels)),
            tag_names=tuple(f"tag{i}" for i in range(vocab_size)),
            source=f"synthetic seed {seed}",
        ),
        "demo",
    )
