"""Building blocks shared by the SSAH networks."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf


class NetworkOutput(NamedTuple):
    """What every generator network returns for a batch."""

    feature: tf.Tensor  # F: [batch, semantic_dim], ReLU output
    hash: tf.Tensor  # H: [batch, bits], tanh output
    label: tf.Tensor  # L_hat: [batch, num_labels], sigmoid output


def normal_init(stddev: float) -> keras.initializers.Initializer:
    """The release initialises every new weight and bias as N(0, 1) * stddev."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)


INIT_SCHEMES = ("normal", "glorot")


@dataclasses.dataclass(frozen=True)
class Initialization:
    """How the new (not pretrained) weights start.

    'normal' (the release): every kernel, bias and multi-scale scalar N(0, 1) * stddev.
    'glorot': Glorot-uniform kernels, zero biases, multi-scale scalars 1. With the
    release's 0.01 every pre-activation of a 4096-wide layer is ~0.01, the pairwise
    inner products start at ~1e-4 and gradients push the ReLU features to zero
    before they separate the classes (docs/training.md); Glorot keeps each layer's
    activations at the scale of its input.
    """

    scheme: str = "normal"
    stddev: float = 0.01

    def __post_init__(self):
        if self.scheme not in INIT_SCHEMES:
            raise ValueError(f"init scheme must be one of {INIT_SCHEMES}, got {self.scheme!r}")

    def kernel(self) -> keras.initializers.Initializer:
        if self.scheme == "glorot":
            return keras.initializers.GlorotUniform()
        return normal_init(self.stddev)

    def bias(self) -> keras.initializers.Initializer:
        if self.scheme == "glorot":
            return keras.initializers.Zeros()
        return normal_init(self.stddev)

    def scale(self) -> keras.initializers.Initializer:
        """The multi-scale branch scalars: with N(0, 0.01) about half start negative,
        and relu(negative * pooled tags) is 0 with zero gradient: a dead branch."""
        if self.scheme == "glorot":
            return keras.initializers.Ones()
        return normal_init(self.stddev)


COMPUTE_DTYPES = ("float32", "bfloat16")


def check_compute_dtype(compute_dtype: str) -> str:
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute_dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
    return compute_dtype


def dense(
    units: int, init: Initialization, name: str, activation=None, compute_dtype: str = "float32"
) -> keras.layers.Dense:
    """A dense layer initialised by ``init`` (the release: N(0, 0.01) kernel and bias).

    ``compute_dtype="bfloat16"``: float32 weights, bf16 matmul (Keras' mixed policy);
    the output is bf16 and callers cast back to float32.
    """
    policy = "mixed_bfloat16" if check_compute_dtype(compute_dtype) == "bfloat16" else "float32"
    return keras.layers.Dense(
        units,
        activation=activation,
        name=name,
        dtype=policy,
        kernel_initializer=init.kernel(),
        bias_initializer=init.bias(),
    )


@tf.custom_gradient
def wide_matmul(x: tf.Tensor, kernel: tf.Tensor):
    """``x @ kernel`` for a wide kernel [d_in, d_out], with a faster input gradient.

    TF's MatMul gradient computes dx = g @ kernel^T with ``transpose_b``, on CPU much
    slower than the forward pass for wide kernels (RESULTS.md); (kernel @
    g^T)^T is the same product (same sums) at the forward pass's speed.
    """

    def grad(g):
        return (
            tf.transpose(tf.matmul(kernel, g, transpose_b=True)),
            tf.matmul(x, g, transpose_a=True),
        )

    return tf.matmul(x, kernel), grad


def dense_apply(layer: keras.layers.Dense, x: tf.Tensor) -> tf.Tensor:
    """A built Dense layer's ``x @ W + b`` through :func:`wide_matmul`, in the layer's
    compute dtype (output in that dtype, like the layer's own call). For the
    4,096 -> 512 semantic layers, where TF's own input gradient is far slower than their
    forward pass (experiments/RESULTS.md)."""
    dtype = layer.compute_dtype
    y = wide_matmul(tf.cast(x, dtype), tf.cast(layer.kernel, dtype))
    return tf.nn.bias_add(y, tf.cast(layer.bias, dtype))


def _lrn_window_sum(values: tf.Tensor, depth_radius: int) -> tf.Tensor:
    """sum of ``values`` over the 2r+1 neighbouring channels (last axis), zero outside."""
    depth = values.shape[-1]
    padded = tf.pad(values, [[0, 0]] * (values.shape.rank - 1) + [[depth_radius, depth_radius]])
    return tf.add_n([padded[..., k : k + depth] for k in range(2 * depth_radius + 1)])


def _lrn_forward(x, depth_radius, bias, alpha, beta):
    return x * tf.pow(bias + alpha * _lrn_window_sum(tf.square(x), depth_radius), -beta)


def _lrn_backward(x, grad, depth_radius, bias, alpha, beta):
    # TF's LRNGrad formula: with base_j = bias + alpha * sum_{k in N(j)} x_k^2,
    # dx_i = g_i base_i^-beta - 2 alpha beta x_i sum_{j in N(i)} g_j x_j base_j^(-beta-1).
    # The base is recomputed rather than stored: no extra activation-sized buffers.
    base = bias + alpha * _lrn_window_sum(tf.square(x), depth_radius)
    scale = tf.pow(base, -beta)
    neighbours = _lrn_window_sum(grad * x * scale / base, depth_radius)
    return grad * scale - (2.0 * alpha * beta) * x * neighbours


# XLA fuses each pass into one loop over the tensor; as separate TF ops (pad, five
# slices, add_n, pow, and their gradients) the same arithmetic is several times slower,
# and TF's own CPU LRN and LRNGrad kernels are as slow as the unfused ops.
_lrn_forward_xla = tf.function(_lrn_forward, jit_compile=True)
_lrn_backward_xla = tf.function(_lrn_backward, jit_compile=True)


def local_response_norm(
    x: tf.Tensor, depth_radius: int = 2, bias: float = 2.0, alpha: float = 1e-4, beta: float = 0.75
) -> tf.Tensor:
    """LRN over the last axis (TF semantics, docs/method.md §2): x / (bias + alpha * sum of
    x^2 over the 2r+1 neighbouring channels)^beta, any rank."""
    params = (int(depth_radius), float(bias), float(alpha), float(beta))

    @tf.custom_gradient
    def lrn(x):
        return _lrn_forward_xla(x, *params), lambda grad: _lrn_backward_xla(x, grad, *params)

    return lrn(x)


def tf1_bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """[out_size, in_size] matrix of TF1 ``resize_bilinear`` along one axis.

    TF1 semantics (align_corners=False, half_pixel_centers=False): output
    position x samples input coordinate x * in/out, interpolating between
    floor and floor + 1 (clamped to the last input).
    """
    scale = in_size / out_size
    matrix = np.zeros((out_size, in_size), np.float64)
    for x in range(out_size):
        source = x * scale
        lower = int(np.floor(source))
        upper = min(lower + 1, in_size - 1)
        lerp = source - lower
        matrix[x, lower] += 1.0 - lerp
        matrix[x, upper] += lerp
    return matrix.astype(np.float32)


class MultiScaleFusion(keras.layers.Layer):
    """SSAH's multi-scale text fusion (docs/method.md §2, TxtNet).

    For each window s: average-pool the text vector with window and stride s
    (VALID, remainder dropped), multiply by one learned scalar, ReLU, resize
    bilinearly (TF1 semantics) back to the text length. Output [batch, d_t,
    1 + len(windows)]: channel 0 the raw text, then one channel per window in
    the given order.
    """

    def __init__(
        self,
        text_dim: int,
        windows: Sequence[int],
        init: Initialization = Initialization(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        if windows and max(windows) > text_dim:
            raise ValueError(f"text_dim {text_dim} < largest pooling window {max(windows)}")
        self.text_dim = int(text_dim)
        self.windows = tuple(int(w) for w in windows)
        # One attribute per scalar: Keras wraps list attributes in a tracker that
        # tf.train.Checkpoint does not see, so a list would not be checkpointed.
        for w in self.windows:
            setattr(
                self,
                f"scale_w{w}",
                self.add_weight(shape=(), initializer=init.scale(), name=f"scale_w{w}"),
            )
        self._resize = [tf1_bilinear_matrix(text_dim // w, text_dim).T for w in self.windows]

    @property
    def scales(self) -> list:
        """The learned branch scalars, in window order."""
        return [getattr(self, f"scale_w{w}") for w in self.windows]

    def resize_matrix(self, index: int) -> np.ndarray:
        """[d_t // window, d_t]: branch ``index``'s TF1 bilinear resize as a matrix."""
        return self._resize[index]

    def pooled(self, text: tf.Tensor, index: int) -> tf.Tensor:
        """Branch ``index`` before its resize: relu(avg_pool_w(text) * scale), [batch, d_t // w]."""
        window = self.windows[index]
        pooled_len = self.text_dim // window
        pooled = tf.reduce_mean(
            tf.reshape(text[:, : pooled_len * window], [-1, pooled_len, window]), axis=-1
        )
        return tf.nn.relu(pooled * self.scales[index])

    def branch(self, text: tf.Tensor, index: int) -> tf.Tensor:
        """One multi-scale branch, [batch, d_t]."""
        activated = self.pooled(text, index)
        return tf.matmul(activated, tf.constant(self._resize[index], dtype=activated.dtype))

    def call(self, text: tf.Tensor) -> tf.Tensor:
        channels = [text] + [self.branch(text, i) for i in range(len(self.windows))]
        return tf.stack(channels, axis=-1)


class InputStandardization(keras.layers.Layer):
    """(x - mean) / scale per input column, with non-trainable statistics that the
    trainer sets from the training items and checkpoints with the network, so every
    user of the network (evaluation, export, encoding) applies what training used."""

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.mean = self.add_weight(
            shape=(self.dim,), initializer="zeros", trainable=False, name="mean"
        )
        self.scale = self.add_weight(
            shape=(self.dim,), initializer="ones", trainable=False, name="scale"
        )

    def set_statistics(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.mean.assign(np.asarray(mean, np.float32))
        self.scale.assign(np.asarray(scale, np.float32))

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return (tf.cast(x, tf.float32) - self.mean) / self.scale
