"""ImgNet: an image backbone (cnnf, vgg19 or mlp) then SSAH's fc8 and heads (docs/method.md §2)."""

from __future__ import annotations

import keras
import tensorflow as tf
from absl import logging

from ssah_tf.errors import UserError
from ssah_tf.models.cnnf import CNNFBackbone, read_cnnf_file
from ssah_tf.models.layers import (
    Initialization,
    InputStandardization,
    NetworkOutput,
    check_compute_dtype,
    dense,
    dense_apply,
)

BACKBONES = ("cnnf", "vgg19", "mlp")


class VGG19Backbone(keras.layers.Layer):
    """Keras' VGG-19 up to fc7 (``fc2``: 4096-d), fine-tuned as a whole."""

    def __init__(
        self,
        weights_path: str | None = None,
        input_size: int = 224,
        compute_dtype: str = "float32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_size = input_size
        self.output_dim = 4096
        previous = keras.config.dtype_policy()
        if check_compute_dtype(compute_dtype) == "bfloat16":
            keras.config.set_dtype_policy("mixed_bfloat16")  # only while the model is built
        try:
            vgg = keras.applications.VGG19(
                include_top=True, weights=None, input_shape=(input_size, input_size, 3)
            )
        finally:
            keras.config.set_dtype_policy(previous)
        if weights_path:
            try:
                vgg.load_weights(weights_path)
            except (OSError, ValueError) as error:
                raise UserError(
                    f"cannot load VGG-19 weights from {weights_path}: {error}"
                ) from None
        else:
            logging.warning(
                "VGG-19 backbone has RANDOM weights: no `vgg19_weights` file was "
                "given (download vgg19_weights_tf_dim_ordering_tf_kernels.h5 once)"
            )
        self.vgg = vgg  # the full ImageNet model, the layout of Keras' weight files
        self.trunk = keras.Model(vgg.input, vgg.get_layer("fc2").output, name="vgg19_fc7")

    def preprocess(self, images: tf.Tensor) -> tf.Tensor:
        """RGB in [0, 255] -> Keras' caffe-style VGG preprocessing (BGR, minus means)."""
        return keras.applications.vgg19.preprocess_input(tf.cast(images, tf.float32))

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.trunk(x), tf.float32)


class MLPBackbone(keras.layers.Layer):
    """Precomputed image features d -> hidden (ReLU): ImgNet after its conv trunk.

    ``standardize``: the features pass through (x - mean) / scale first, with the
    training items' statistics (set by the trainer, stored in the checkpoint).
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 4096,
        init: Initialization = Initialization(),
        compute_dtype: str = "float32",
        standardize: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = hidden_dim
        self.input_scaling = (
            InputStandardization(input_dim, name="input_scaling") if standardize else None
        )
        self.hidden = dense(hidden_dim, init, "hidden", compute_dtype=compute_dtype)
        self.hidden.build((None, input_dim))
        self.built = True

    def preprocess(self, features: tf.Tensor) -> tf.Tensor:
        return tf.cast(features, tf.float32)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        if self.input_scaling is not None:
            x = self.input_scaling(x)
        return tf.nn.relu(tf.cast(self.hidden(x), tf.float32))


def make_backbone(
    name: str,
    *,
    cnnf_path: str | None = None,
    vgg19_weights: str | None = None,
    image_feature_dim: int | None = None,
    hidden_dim: int = 4096,
    init: Initialization = Initialization(),
    compute_dtype: str = "float32",
    standardize_features: bool = False,
) -> keras.layers.Layer:
    """Build one of the ImgNet backbones by name (``compute_dtype``: its matmul/conv dtype)."""
    if name == "cnnf":
        if not cnnf_path:
            raise UserError("`backbone=cnnf` needs `cnnf_path=imagenet-vgg-f.mat`")
        return CNNFBackbone(read_cnnf_file(cnnf_path), compute_dtype=compute_dtype, name="cnnf")
    if name == "vgg19":
        return VGG19Backbone(vgg19_weights, compute_dtype=compute_dtype, name="vgg19")
    if name == "mlp":
        if not image_feature_dim:
            raise UserError("`backbone=mlp` needs image features (a dataset with image_features)")
        return MLPBackbone(
            image_feature_dim,
            hidden_dim,
            init,
            compute_dtype=compute_dtype,
            standardize=standardize_features,
            name="mlp",
        )
    raise UserError(f"unknown backbone {name!r}; use one of {', '.join(BACKBONES)}")


class ImgNet(keras.Model):
    """backbone -> semantic_dim (ReLU) = F; heads H (tanh), L_hat (sigmoid)."""

    def __init__(
        self,
        *,
        backbone: keras.layers.Layer,
        num_labels: int,
        bits: int,
        semantic_dim: int = 512,
        init: Initialization = Initialization(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.semantic = dense(semantic_dim, init, "semantic")
        self.hash_head = dense(bits, init, "hash")
        self.label_head = dense(num_labels, init, "label")
        self.semantic.build((None, backbone.output_dim))
        self.hash_head.build((None, semantic_dim))
        self.label_head.build((None, semantic_dim))
        self.built = True

    def preprocess(self, images: tf.Tensor) -> tf.Tensor:
        """Raw images (or features) -> what :meth:`call` expects."""
        return self.backbone.preprocess(images)

    def call(self, images: tf.Tensor) -> NetworkOutput:
        feature = tf.nn.relu(dense_apply(self.semantic, self.backbone(images)))
        return NetworkOutput(
            feature=feature,
            hash=tf.tanh(self.hash_head(feature)),
            label=tf.sigmoid(self.label_head(feature)),
        )
