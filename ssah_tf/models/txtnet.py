"""TxtNet: multi-scale fusion on bag-of-words text, then an MLP (docs/method.md §2)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from ssah_tf.models.layers import (
    Initialization,
    InputStandardization,
    MultiScaleFusion,
    NetworkOutput,
    dense,
    dense_apply,
    local_response_norm,
)
from ssah_tf.models.text_folding import FoldedFirstLayer


class TxtNet(keras.Model):
    """MS(t) -> 4096 (ReLU, LRN) -> semantic_dim (ReLU) = F; heads H, L_hat.

    ``text_head_lrn``: the release feeds LRN(F) to both heads while F itself
    (used by losses and discriminators) stays the un-normalised ReLU output.
    ``standardize``: dense text vectors pass through (x - mean) / scale first, with
    the training items' statistics (set by the trainer, stored in the checkpoint).
    """

    def __init__(
        self,
        *,
        text_dim: int,
        num_labels: int,
        bits: int,
        windows: Sequence[int],
        semantic_dim: int = 512,
        hidden_dim: int = 4096,
        text_head_lrn: bool = True,
        init: Initialization = Initialization(),
        compute_dtype: str = "float32",
        standardize: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.text_dim = text_dim
        self.text_head_lrn = text_head_lrn
        self.input_scaling = (
            InputStandardization(text_dim, name="input_scaling") if standardize else None
        )
        self.fusion = MultiScaleFusion(text_dim, windows, init, name="fusion")
        channels = 1 + len(self.fusion.windows)
        # Mixed precision covers the d_t * channels -> hidden matmul, almost all the work.
        self.hidden = dense(hidden_dim, init, "hidden", compute_dtype=compute_dtype)
        self.semantic = dense(semantic_dim, init, "semantic")
        self.hash_head = dense(bits, init, "hash")
        self.label_head = dense(num_labels, init, "label")
        self.hidden.build((None, text_dim * channels))
        self.semantic.build((None, hidden_dim))
        self.hash_head.build((None, semantic_dim))
        self.label_head.build((None, semantic_dim))
        self.fusion.build((None, text_dim))
        self.folding = FoldedFirstLayer(
            text_dim, [self.fusion.resize_matrix(i) for i in range(len(self.fusion.windows))]
        )
        self.built = True

    def scaled_input(self, text: tf.Tensor) -> tf.Tensor:
        """The text as the network sees it (standardised when ``standardize``)."""
        text = tf.convert_to_tensor(text, tf.float32)
        return self.input_scaling(text) if self.input_scaling is not None else text

    def multiscale(self, text: tf.Tensor) -> tf.Tensor:
        """The fused [batch, d_t, 1 + windows] map (the release's formulation)."""
        return self.fusion(self.scaled_input(text))

    def call(self, text: tf.Tensor) -> NetworkOutput:
        # The release multiplies the fused map, flattened row-major, by the
        # [d_t * channels, hidden] kernel; the folded form (text_folding.py) is the
        # same product with 4.2x fewer multiply-adds, forward and backward.
        return self.call_folded(text, self.folded_weights())

    def _heads(self, pre_activation: tf.Tensor) -> NetworkOutput:
        """Everything after the hidden layer's pre-activation."""
        hidden = local_response_norm(tf.nn.relu(tf.cast(pre_activation, tf.float32)))
        feature = tf.nn.relu(dense_apply(self.semantic, hidden))
        head_input = local_response_norm(feature) if self.text_head_lrn else feature
        return NetworkOutput(
            feature=feature,
            hash=tf.tanh(self.hash_head(head_input)),
            label=tf.sigmoid(self.label_head(head_input)),
        )

    def folded_weights(self, transposed: bool = False) -> dict[str, tf.Tensor]:
        """The first layer's kernel folded with the branch resizes (differentiable).

        ``raw`` [d_t, hidden]: the raw-text rows; ``branches`` [sum_w d_t // w,
        hidden]: R_c @ K_c per branch, stacked; ``bias``. Compute once and pass
        to :meth:`call_folded` when the weights are fixed (bulk encoding), with
        ``transposed=True``: [hidden, rows] copies, for which TF's CPU matmul (many
        output rows, few columns) runs faster than in the training layout (experiments/RESULTS.md).
        """
        raw, branches = self.folding.fold(tf.convert_to_tensor(self.hidden.kernel))
        folded = {"bias": tf.convert_to_tensor(self.hidden.bias)}
        if transposed:
            folded.update(raw_t=tf.transpose(raw), branches_t=tf.transpose(branches))
        else:
            folded.update(raw=raw, branches=branches)
        return folded

    def call_folded(self, text: tf.Tensor, folded: dict[str, tf.Tensor]) -> NetworkOutput:
        """The network with :meth:`folded_weights` given (either layout)."""
        dtype = self.hidden.compute_dtype  # bfloat16 under mixed precision
        text = self.scaled_input(text)
        parts = [(text, "raw")]
        if self.fusion.windows:
            parts.append(
                (
                    tf.concat(
                        [
                            self.fusion.pooled(text, index)
                            for index in range(len(self.fusion.windows))
                        ],
                        axis=1,
                    ),
                    "branches",
                )
            )
        if "raw_t" in folded:  # (W^T x^T)^T: the same sums in the faster orientation
            pre = tf.transpose(
                tf.add_n(
                    [
                        tf.matmul(
                            tf.cast(folded[name + "_t"], dtype), tf.cast(x, dtype), transpose_b=True
                        )
                        for x, name in parts
                    ]
                )
            )
        else:
            pre = tf.add_n(
                [tf.matmul(tf.cast(x, dtype), tf.cast(folded[name], dtype)) for x, name in parts]
            )
        return self._heads(tf.nn.bias_add(pre, tf.cast(folded["bias"], dtype)))
