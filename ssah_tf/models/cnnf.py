"""Reading MatConvNet CNN-F files (``imagenet-vgg-f.mat``) and the CNN-F trunk.

Layer shapes, pads and strides come from the file (docs/method.md §2). Two layouts load:
the old one (top-level ``layers`` and ``normalization``, read by the release)
and the newer vlfeat download (``layers`` and ``meta.normalization``). Fields
are read by name; the release's positional convention is the fallback.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keras
import numpy as np
import scipy.io
import tensorflow as tf

from ssah_tf.errors import UserError
from ssah_tf.models.layers import check_compute_dtype, local_response_norm, wide_matmul


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One layer of the CNN-F trunk as stored in the file."""

    index: int  # position in the file's layer list (names the release's w<i>)
    name: str
    kind: str  # 'conv', 'relu', 'lrn', 'pool'
    kernel: np.ndarray | None = None  # HWIO
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right
    pool_size: tuple[int, int] = (1, 1)
    lrn: tuple[int, float, float, float] = (2, 2.0, 1e-4, 0.75)  # radius, bias, alpha, beta


@dataclasses.dataclass(frozen=True)
class CNNFSpec:
    """The trunk (everything before the file's final classifier) and the mean image."""

    layers: tuple[LayerSpec, ...]
    mean_image: np.ndarray  # [H, W, 3] float32 (broadcastable, e.g. [1, 1, 3])
    input_size: int

    @property
    def output_dim(self) -> int:
        convs = [layer for layer in self.layers if layer.kind == "conv"]
        return int(convs[-1].kernel.shape[-1])


# The real CNN-F's layer list (the layout of imagenet-vgg-f.mat): per layer its kind,
# name and, for conv (kernel side, input and output widths by position in the widths
# below, stride, pad top/bottom/left/right) and pool (pad) layers, their geometry.
CONV_WIDTHS = (64, 256, 256, 256, 256)
FC_WIDTHS = (4096, 4096, 1000)
LAYOUT = (
    ("conv", "conv1", 11, 4, (0, 0, 0, 0)),
    ("relu", "relu1"),
    ("lrn", "norm1"),
    ("pool", "pool1", (0, 1, 0, 1)),
    ("conv", "conv2", 5, 1, (2, 2, 2, 2)),
    ("relu", "relu2"),
    ("lrn", "norm2"),
    ("pool", "pool2", (0, 0, 0, 0)),
    ("conv", "conv3", 3, 1, (1, 1, 1, 1)),
    ("relu", "relu3"),
    ("conv", "conv4", 3, 1, (1, 1, 1, 1)),
    ("relu", "relu4"),
    ("conv", "conv5", 3, 1, (1, 1, 1, 1)),
    ("relu", "relu5"),
    ("pool", "pool5", (0, 0, 0, 0)),
    ("conv", "fc6", 6, 1, (0, 0, 0, 0)),
    ("relu", "relu6"),
    ("conv", "fc7", 1, 1, (0, 0, 0, 0)),
    ("relu", "relu7"),
    ("conv", "fc8", 1, 1, (0, 0, 0, 0)),
)
LRN = (2, 2.0, 1e-4, 0.75)  # radius, bias, alpha, beta (MatConvNet's [5 2 1e-4 0.75])
# ImageNet's per-channel mean: the input scaling of a CNN-F trained from scratch.
IMAGENET_MEAN = (123.68, 116.779, 103.939)


def layout_widths(conv_widths=CONV_WIDTHS, fc_widths=FC_WIDTHS) -> list[tuple[int, int]]:
    """(input, output) channels of each conv layer of :data:`LAYOUT`, in order."""
    outputs = list(conv_widths) + list(fc_widths)
    inputs = [3] + outputs[:-1]
    return list(zip(inputs, outputs))


def random_cnnf_spec(seed: int = 0) -> CNNFSpec:
    """The CNN-F trunk with Glorot-uniform kernels and zero biases (training from
    scratch: SSAH itself starts CNN-F from ImageNet weights)."""
    rng = np.random.default_rng(seed)
    widths = iter(layout_widths())
    layers = []
    for index, entry in enumerate(LAYOUT[:-1]):  # fc8, ImageNet's classifier, left out
        kind, name = entry[:2]
        if kind == "conv":
            side, stride, pad = entry[2:]
            cin, cout = next(widths)
            limit = np.sqrt(6.0 / (side * side * (cin + cout)))
            kernel = rng.uniform(-limit, limit, (side, side, cin, cout)).astype(np.float32)
            layers.append(
                LayerSpec(
                    index,
                    name,
                    "conv",
                    kernel=kernel,
                    bias=np.zeros(cout, np.float32),
                    stride=(stride, stride),
                    pad=pad,
                )  # fmt: skip
            )
        elif kind == "pool":
            layers.append(
                LayerSpec(index, name, "pool", stride=(2, 2), pad=entry[2], pool_size=(3, 3))
            )
        elif kind == "lrn":
            layers.append(LayerSpec(index, name, "lrn", lrn=LRN))
        else:
            layers.append(LayerSpec(index, name, kind))
    mean = np.asarray(IMAGENET_MEAN, np.float32).reshape(1, 1, 3)
    return CNNFSpec(layers=tuple(layers), mean_image=mean, input_size=224)


def _field(struct: Any, name: str, position: int | None, path: str, layer: int) -> Any:
    names = struct.dtype.names or ()
    if name in names:
        return struct[name]
    if position is not None and position < len(names):
        return struct[position]
    raise UserError(
        f"{path}: layer {layer} has no field {name!r} (fields: {', '.join(names) or 'none'}); "
        "is this a MatConvNet SimpleNN CNN-F file?"
    )


def _ints(value: Any, count: int) -> tuple[int, ...]:
    flat = _unwrap(value).astype(np.int64).ravel()
    if flat.size == 1:
        flat = np.repeat(flat, count)
    if flat.size != count:
        raise ValueError(f"expected {count} integers, got {flat.size}")
    return tuple(int(v) for v in flat)


def _unwrap(value: Any) -> np.ndarray:
    """scipy wraps MATLAB cells and struct fields in 1-element object arrays."""
    value = np.asarray(value)
    while value.dtype == object and value.size == 1:
        value = np.asarray(value.ravel()[0])
    return value


def _text(value: Any) -> str:
    flat = _unwrap(value).ravel()
    return str(flat[0]) if flat.size else ""


def read_cnnf_file(path: str) -> CNNFSpec:
    """Parse a MatConvNet SimpleNN CNN-F file into a :class:`CNNFSpec`."""
    if not os.path.isfile(path):
        raise UserError(
            f"CNN-F file {path} does not exist; give `cnnf_path` the path of MatConvNet's "
            "imagenet-vgg-f.mat (data/README.md says where to get it), or choose another "
            "`backbone`"
        )
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:
        raise UserError(
            f"{path} is a MATLAB v7.3 file; MatConvNet model files are v5, "
            "re-save it with save(..., '-v7')"
        ) from None
    except Exception as error:  # scipy raises several types for non-MAT files
        raise UserError(f"{path} is not a readable MATLAB file ({error})") from None
    if "layers" not in mat:
        keys = ", ".join(k for k in mat if not k.startswith("__"))
        raise UserError(f"{path} has no 'layers' variable (variables: {keys}); not a CNN-F file")
    if "normalization" in mat:
        normalization = mat["normalization"][0][0]
    elif "meta" in mat and "normalization" in (mat["meta"].dtype.names or ()):
        normalization = _unwrap(mat["meta"][0][0]["normalization"]).ravel()[0]
    else:
        raise UserError(
            f"{path} has neither 'normalization' nor 'meta.normalization'; "
            "the mean image cannot be found"
        )
    if "averageImage" not in (normalization.dtype.names or ()):
        raise UserError(f"{path}: normalization has no 'averageImage' field")
    mean_image = _unwrap(normalization["averageImage"]).astype(np.float32)
    if mean_image.ndim == 1:
        mean_image = mean_image.reshape(1, 1, -1)
    elif mean_image.ndim == 2:
        mean_image = mean_image.reshape(1, 1, -1)
    input_size = 224
    if "imageSize" in (normalization.dtype.names or ()):
        input_size = int(_unwrap(normalization["imageSize"]).ravel()[0])

    raw_layers = mat["layers"].ravel()
    specs = []
    for index, cell in enumerate(raw_layers):
        struct = cell[0][0] if cell.dtype == object else cell
        kind = _text(_field(struct, "type", None, path, index))
        name = _text(struct["name"]) if "name" in (struct.dtype.names or ()) else f"layer{index}"
        try:
            if kind == "conv":
                names = struct.dtype.names or ()
                if "weights" in names or "filters" not in names:
                    weights = _unwrap(_field(struct, "weights", 0, path, index)).ravel()
                    kernel, bias = weights[0], weights[1]
                else:
                    kernel, bias = struct["filters"], struct["biases"]
                kernel = _unwrap(kernel).astype(np.float32)
                if kernel.ndim == 3:  # MATLAB drops a trailing singleton dimension
                    kernel = kernel[..., None]
                specs.append(
                    LayerSpec(
                        index,
                        name,
                        "conv",
                        kernel=kernel,
                        bias=_unwrap(bias).astype(np.float32).ravel(),
                        pad=_ints(_field(struct, "pad", 1, path, index), 4),
                        stride=_ints(_field(struct, "stride", 4, path, index), 2),
                    )
                )
            elif kind == "relu":
                specs.append(LayerSpec(index, name, "relu"))
            elif kind in ("normalize", "lrn"):
                param = (
                    _unwrap(_field(struct, "param", None, path, index)).astype(np.float64).ravel()
                )
                specs.append(
                    LayerSpec(
                        index,
                        name,
                        "lrn",
                        lrn=(
                            int(param[0] - 1) // 2,
                            float(param[1]),
                            float(param[2]),
                            float(param[3]),
                        ),
                    )
                )
            elif kind == "pool":
                method = (
                    _text(struct["method"]) if "method" in (struct.dtype.names or ()) else "max"
                )
                if method != "max":
                    raise UserError(
                        f"{path}: layer {index} uses {method} pooling; only max is supported"
                    )
                specs.append(
                    LayerSpec(
                        index,
                        name,
                        "pool",
                        stride=_ints(_field(struct, "stride", 1, path, index), 2),
                        pad=_ints(_field(struct, "pad", 2, path, index), 4),
                        pool_size=_ints(_field(struct, "pool", 5, path, index), 2),
                    )
                )
            elif kind in ("softmax", "softmaxloss", "dropout"):
                continue
            else:
                raise UserError(f"{path}: layer {index} has unsupported type {kind!r}")
        except (ValueError, IndexError, TypeError) as error:
            raise UserError(f"{path}: layer {index} ({name}) is malformed: {error}") from None
    conv_positions = [i for i, s in enumerate(specs) if s.kind == "conv"]
    if len(conv_positions) < 2:
        raise UserError(f"{path}: fewer than two conv layers; not a CNN-F file")
    # The last conv layer is ImageNet's classifier (fc8); SSAH replaces it.
    trunk = tuple(specs[: conv_positions[-1]])
    while trunk and trunk[-1].kind not in ("relu",):
        trunk = trunk[:-1]
    return CNNFSpec(layers=trunk, mean_image=mean_image, input_size=input_size)


class CNNFBackbone(keras.layers.Layer):
    """The CNN-F trunk (conv1 ... relu7) with weights from the file; output [batch, fc7 width].

    Explicit zero padding then VALID conv/pool, as the release does.
    Weights are named ``w<i>``/``bias<i>`` after the file's layer index.
    """

    def __init__(self, spec: CNNFSpec, compute_dtype: str = "float32", **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        # bfloat16: convolutions and pooling in bf16 on float32 weights (cast per call);
        # LRN and the output stay float32.
        self.conv_dtype = tf.dtypes.as_dtype(check_compute_dtype(compute_dtype))
        self.mean_image = spec.mean_image
        self.input_size = spec.input_size
        self.output_dim = spec.output_dim
        self._conv_indices = tuple(layer.index for layer in spec.layers if layer.kind == "conv")
        for layer in spec.layers:
            if layer.kind == "conv":
                # Attributes (not a dict): Keras' dict tracker is invisible to tf.train.Checkpoint.
                kernel = self.add_weight(
                    shape=layer.kernel.shape, initializer="zeros", name=f"w{layer.index}"
                )
                kernel.assign(layer.kernel)
                bias = self.add_weight(
                    shape=layer.bias.shape, initializer="zeros", name=f"bias{layer.index}"
                )
                bias.assign(layer.bias)
                setattr(self, f"w{layer.index}", kernel)
                setattr(self, f"bias{layer.index}", bias)
        # The weights now live in the variables: keep only the layer geometry, or the
        # file's NumPy arrays (244 MB for CNN-F) stay resident for the whole run.
        self.spec = dataclasses.replace(
            spec,
            layers=tuple(
                dataclasses.replace(layer, kernel=None, bias=None) for layer in spec.layers
            ),
        )
        self.built = True

    @property
    def kernels(self) -> dict[int, Any]:
        """Conv kernels by the file's layer index."""
        return {i: getattr(self, f"w{i}") for i in self._conv_indices}

    @property
    def biases(self) -> dict[int, Any]:
        return {i: getattr(self, f"bias{i}") for i in self._conv_indices}

    def preprocess(self, images: tf.Tensor) -> tf.Tensor:
        """RGB in [0, 255] (uint8 or float) -> minus the file's mean image."""
        return tf.cast(images, tf.float32) - tf.constant(self.mean_image, tf.float32)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        x = tf.cast(x, self.conv_dtype)
        for layer in self.spec.layers:
            if layer.kind in ("conv", "pool") and any(layer.pad):
                top, bottom, left, right = layer.pad
                x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
            if layer.kind == "conv":
                kernel = tf.cast(self.kernels[layer.index], self.conv_dtype)
                if tuple(x.shape[1:3]) == tuple(kernel.shape[:2]):
                    # fc6/fc7: a VALID conv whose kernel covers the whole input is a
                    # matmul on the (h, w, c)-flattened input; TF's CPU conv gradient
                    # for this shape is far slower than the matmul's (RESULTS.md).
                    flat = tf.reshape(x, [-1, x.shape[1] * x.shape[2] * x.shape[3]])
                    x = wide_matmul(flat, tf.reshape(kernel, [-1, kernel.shape[3]]))[
                        :, None, None, :
                    ]
                else:
                    x = tf.nn.conv2d(x, kernel, [1, *layer.stride, 1], "VALID")
                x = tf.nn.bias_add(x, tf.cast(self.biases[layer.index], self.conv_dtype))
            elif layer.kind == "relu":
                x = tf.nn.relu(x)
            elif layer.kind == "lrn":
                x = tf.cast(
                    local_response_norm(tf.cast(x, tf.float32), *layer.lrn), self.conv_dtype
                )
            elif layer.kind == "pool":
                x = tf.nn.max_pool2d(x, [1, *layer.pool_size, 1], [1, *layer.stride, 1], "VALID")
        return tf.reshape(tf.cast(x, tf.float32), [-1, self.output_dim])
