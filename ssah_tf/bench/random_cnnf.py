"""A MatConvNet CNN-F file (``imagenet-vgg-f.mat`` layout) with random weights.

Benchmarks (and tests) need the real file's structure — its 21-layer list, field
names, padding/stride/LRN parameters and mean image — but not its trained values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.io

from ssah_tf.models.cnnf import CONV_WIDTHS, FC_WIDTHS, LAYOUT, layout_widths

# Channel widths of the real CNN-F: conv1..conv5, then fc6, fc7, fc8.
FULL_CONV_WIDTHS = CONV_WIDTHS
FULL_FC_WIDTHS = FC_WIDTHS


def cnnf_forward_flops(
    conv_widths: Sequence[int] = FULL_CONV_WIDTHS, fc_widths: Sequence[int] = FULL_FC_WIDTHS
) -> int:
    """2 x multiply-adds of the trunk up to fc7 for one 224 x 224 image: conv1 54x54
    outputs of 11x11x3, conv2 27x27 of 5x5, conv3-5 13x13 of 3x3, fc6 of 6x6, fc7.
    Full size: about 1.44 GFLOP."""
    c1, c2, c3, c4, c5 = conv_widths
    fc6, fc7 = fc_widths[:2]
    return 2 * (
        54 * 54 * c1 * 11 * 11 * 3
        + 27 * 27 * c2 * 5 * 5 * c1
        + 13 * 13 * (c3 * 9 * c2 + c4 * 9 * c3 + c5 * 9 * c4)
        + 6 * 6 * c5 * fc6
        + fc6 * fc7
    )


def write_random_cnnf(
    path: str,
    *,
    conv_widths: Sequence[int] = FULL_CONV_WIDTHS,
    fc_widths: Sequence[int] = FULL_FC_WIDTHS,
    layout: str = "old",
    seed: int = 0,
    mean_shape=(224, 224, 3),
    stddev: float = 0.01,
) -> None:
    """Write a CNN-F ``.mat`` with N(0, stddev) weights in the real layer layout.

    ``layout="old"``: top-level ``normalization`` (the file the release used);
    ``"new"``: ``meta.normalization`` (later MatConvNet releases).
    """

    rng = np.random.default_rng(seed)

    def normal(shape):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(stddev)

    def conv(name, k, cin, cout, stride, pad):
        weights = np.empty((1, 2), dtype=object)  # MATLAB's {W, b} cell
        weights[0, 0] = normal((k, k, cin, cout))
        weights[0, 1] = normal((cout, 1))
        return {
            "weights": weights,
            "pad": np.array([pad], np.uint8).reshape(1, -1),
            "type": "conv",
            "name": name,
            "stride": np.array([[stride, stride]], np.uint8),
        }

    def pool(name, pad):
        return {
            "name": name,
            "stride": np.array([[2, 2]], np.uint8),
            "pad": np.array([pad], np.uint8),
            "type": "pool",
            "method": "max",
            "pool": np.array([[3, 3]], np.uint8),
        }

    def relu(name):
        return {"type": "relu", "name": name}

    def norm(name):
        return {"name": name, "param": np.array([[5, 2, 1e-4, 0.75]]), "type": "normalize"}

    widths = iter(layout_widths(conv_widths, fc_widths))
    layers = []
    for kind, name, *geometry in LAYOUT:
        if kind == "conv":
            side, stride, pad = geometry
            layers.append(conv(name, side, *next(widths), stride, list(pad)))
        elif kind == "pool":
            layers.append(pool(name, list(geometry[0])))
        elif kind == "lrn":
            layers.append(norm(name))
        else:
            layers.append(relu(name))
    layers.append({"type": "softmax", "name": "prob"})
    cells = np.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cells[0, i] = layer
    normalization = {
        "averageImage": rng.uniform(90, 130, mean_shape).astype(np.float32),
        "imageSize": np.array([[224, 224, 3]], np.uint8),
    }
    if layout == "old":
        scipy.io.savemat(path, {"layers": cells, "normalization": normalization})
    elif layout == "new":
        scipy.io.savemat(path, {"layers": cells, "meta": {"normalization": normalization}})
    else:
        raise ValueError(f"layout must be 'old' or 'new', got {layout!r}")
