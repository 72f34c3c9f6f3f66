"""TxtNet's first layer with the multi-scale resizes folded into the kernel.

The release's first TxtNet layer multiplies the fused [d_t, 1 + branches] map,
flattened row-major, by an [d_t * channels, hidden] kernel. Channel c >= 1 of
the map is z_c @ R_c, where z_c = relu(avg_pool_w(t) * s_c) has only d_t / w
entries and R_c is the [d_t / w, d_t] bilinear resize matrix. Hence

    fused_flat @ kernel = t @ K_0 + sum_c z_c @ (R_c @ K_c)

with K_c the kernel rows of channel c (rows c, c + channels, ...). The folded
kernel [d_t + sum_c d_t / w_c, hidden] is 4.2x smaller with the release's
windows, and so are the forward product and both of its gradients.

R_c is banded (each output position interpolates two neighbouring inputs), so
R_c @ K_c and its adjoint R_c^T @ G_c are computed blockwise: a gather of the
few kernel rows a block of positions touches and one small batched matmul,
about 10 multiply-adds per kernel entry instead of d_t / w. The same sums as
the dense products, so training matches the unfolded network up to float
rounding (tests/models/test_text_folding.py checks outputs and gradients).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

# Positions per block: the fold gathers ~(1 + 2 / FOLD_BLOCK) times the branch
# rows; the unfold multiplies by ~UNFOLD_BLOCK / w + 2 columns per row.
FOLD_BLOCK = 8
UNFOLD_BLOCK = 32


def _band_tables(matrix: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Blockwise form of ``matrix @ x`` for a banded [rows, cols] ``matrix``.

    Returns ``columns`` [blocks, width] (int32) and ``coefficients`` [blocks,
    block, width] (float32) such that ``(coefficients @ x[columns]).reshape(-1,
    ...)[:rows] == matrix @ x``: block b holds rows [b * block, (b + 1) * block)
    and the contiguous column range they touch, padded to a common width with
    zero coefficients (padding columns repeat the last valid column).
    """
    rows, cols = matrix.shape
    blocks = -(-rows // block)
    ranges = []
    for b in range(blocks):
        part = matrix[b * block : (b + 1) * block]
        used = np.nonzero(np.any(part != 0, axis=0))[0]
        first = int(used[0]) if used.size else 0
        ranges.append((first, int(used[-1]) + 1 if used.size else 1))
    width = max(stop - start for start, stop in ranges)
    columns = np.zeros((blocks, width), np.int32)
    coefficients = np.zeros((blocks, block, width), np.float32)
    for b, (start, stop) in enumerate(ranges):
        columns[b] = np.minimum(start + np.arange(width), cols - 1)
        part = matrix[b * block : (b + 1) * block, start:stop]
        coefficients[b, : part.shape[0], : stop - start] = part
    return columns, coefficients


class FoldedFirstLayer:
    """Fold/unfold of TxtNet's first-layer kernel for fixed resize matrices.

    ``resize_matrices``: branch c's [d_t // w_c, d_t] resize matrix, in channel
    order (channel 0 is the raw text). Everything is precomputed as constants;
    :meth:`fold` is differentiable with :meth:`unfold` as its exact adjoint.
    """

    def __init__(self, text_dim: int, resize_matrices: Sequence[np.ndarray]):
        self.text_dim = int(text_dim)
        self.channels = 1 + len(resize_matrices)
        self.branch_sizes = [int(m.shape[0]) for m in resize_matrices]
        self._fold = []
        self._unfold = []
        for index, matrix in enumerate(resize_matrices):
            if matrix.shape[1] != self.text_dim:
                raise ValueError(
                    f"resize matrix {index} has {matrix.shape[1]} columns, "
                    f"expected text_dim {self.text_dim}"
                )
            columns, coefficients = _band_tables(matrix, FOLD_BLOCK)
            # Kernel row of text position i in channel index + 1 (row-major [d_t, channels]).
            kernel_rows = columns * self.channels + index + 1
            self._fold.append((tf.constant(kernel_rows.reshape(-1)), tf.constant(coefficients)))
            columns, coefficients = _band_tables(np.ascontiguousarray(matrix.T), UNFOLD_BLOCK)
            self._unfold.append((tf.constant(columns.reshape(-1)), tf.constant(coefficients)))
        self._raw_rows = tf.constant(np.arange(self.text_dim, dtype=np.int32) * self.channels)

    def fold(self, kernel: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``kernel`` [d_t * channels, hidden] -> (raw [d_t, hidden],
        branches [sum_c d_t / w_c, hidden])."""
        return _fold(self, kernel)

    def _fold_forward(self, kernel: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        hidden = tf.shape(kernel)[1]
        raw = tf.gather(kernel, self._raw_rows)
        branches = []
        for (rows, coefficients), size in zip(self._fold, self.branch_sizes):
            gathered = tf.reshape(
                tf.gather(kernel, rows), [coefficients.shape[0], coefficients.shape[2], hidden]
            )
            branches.append(tf.reshape(tf.matmul(coefficients, gathered), [-1, hidden])[:size])
        return raw, tf.concat(branches, axis=0)

    def unfold(self, raw_grad: tf.Tensor, branch_grad: tf.Tensor) -> tf.Tensor:
        """Adjoint of :meth:`fold`: the kernel gradient [d_t * channels, hidden]."""
        hidden = tf.shape(branch_grad)[1]
        per_channel = [raw_grad]
        offset = 0
        for (rows, coefficients), size in zip(self._unfold, self.branch_sizes):
            gathered = tf.reshape(
                tf.gather(branch_grad[offset : offset + size], rows),
                [coefficients.shape[0], coefficients.shape[2], hidden],
            )
            per_channel.append(
                tf.reshape(tf.matmul(coefficients, gathered), [-1, hidden])[: self.text_dim]
            )
            offset += size
        # [d_t, channels, hidden] row-major is the kernel's own row order.
        return tf.reshape(tf.stack(per_channel, axis=1), [self.text_dim * self.channels, hidden])


def _fold(layer: FoldedFirstLayer, kernel: tf.Tensor):
    @tf.custom_gradient
    def fold(kernel):
        def grad(raw_grad, branch_grad):
            return layer.unfold(raw_grad, branch_grad)

        return layer._fold_forward(kernel), grad

    return fold(kernel)
