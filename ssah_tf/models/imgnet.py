"""ImgNet: an image backbone (cnnf, vgg19, mlp or a Keras application) then SSAH's fc8 and
heads (docs/method.md §2; docs/pictures.md says which backbone to choose)."""

from __future__ import annotations

import keras
import tensorflow as tf
from absl import logging

from ssah_tf.config import DEFAULT_IMAGE_SIZE
from ssah_tf.errors import UserError
from ssah_tf.models.cnnf import CNNFBackbone, random_cnnf_spec, read_cnnf_file
from ssah_tf.models.keras_backbones import KERAS_BACKBONES, KerasBackbone
from ssah_tf.models.layers import (
    Initialization,
    InputStandardization,
    NetworkOutput,
    check_compute_dtype,
    dense,
    dense_apply,
)

BACKBONES = ("cnnf", "vgg19", "mlp", *KERAS_BACKBONES)


class VGG19Backbone(keras.layers.Layer):
    """Keras' VGG-19 up to fc7 (``fc2``: 4096-d), fine-tuned as a whole (or frozen)."""

    def __init__(
        self,
        weights: str = "random",
        input_size: int = 224,
        compute_dtype: str = "float32",
        frozen: bool = False,
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
                include_top=True,
                weights="imagenet" if weights == "imagenet" else None,
                input_shape=(input_size, input_size, 3),
            )
        except Exception as error:  # a failed download raises many types
            if weights != "imagenet":
                raise
            raise UserError(
                f"cannot get VGG-19's ImageNet weights ({type(error).__name__}); download "
                "vgg19_weights_tf_dim_ordering_tf_kernels.h5 on a machine with internet "
                "access and pass it as `vgg19_weights`"
            ) from None
        finally:
            keras.config.set_dtype_policy(previous)
        if weights not in ("imagenet", "random"):
            try:
                vgg.load_weights(weights)
            except (OSError, ValueError) as error:
                raise UserError(f"cannot load VGG-19 weights from {weights}: {error}") from None
        self.vgg = vgg  # the full ImageNet model, the layout of Keras' weight files
        self.trunk = keras.Model(vgg.input, vgg.get_layer("fc2").output, name="vgg19_fc7")
        self.trunk.trainable = not frozen

    def preprocess(self, images: tf.Tensor) -> tf.Tensor:
        """RGB in [0, 255] -> Keras' caffe-style VGG preprocessing (BGR, minus means)."""
        return keras.applications.vgg19.preprocess_input(tf.cast(images, tf.float32))

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.trunk(x), tf.float32)


class MLPBackbone(keras.layers.Layer):
    """Feature vectors (or small pictures, flattened) d -> hidden (ReLU): ImgNet after
    its conv trunk.

    ``pixel_size``: the input is uint8 pictures of that side, flattened and scaled to
    [0, 1] by :meth:`preprocess`. ``standardize``: the input passes through
    (x - mean) / scale first, with the training items' statistics (set by the trainer,
    stored in the checkpoint).
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 4096,
        init: Initialization = Initialization(),
        compute_dtype: str = "float32",
        standardize: bool = False,
        pixel_size: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = hidden_dim
        self.pixel_size = pixel_size
        self.input_size = pixel_size
        self.input_scaling = (
            InputStandardization(input_dim, name="input_scaling") if standardize else None
        )
        self.hidden = dense(hidden_dim, init, "hidden", compute_dtype=compute_dtype)
        self.hidden.build((None, input_dim))
        self.built = True

    def preprocess(self, inputs: tf.Tensor) -> tf.Tensor:
        if self.pixel_size is None:
            return tf.cast(inputs, tf.float32)
        flat = tf.reshape(inputs, [-1, self.input_dim])
        return tf.cast(flat, tf.float32) / 255.0

    def call(self, x: tf.Tensor) -> tf.Tensor:
        if self.input_scaling is not None:
            x = self.input_scaling(x)
        return tf.nn.relu(tf.cast(self.hidden(x), tf.float32))


def resolve_weights(backbone: str, *, weights: str | None, cnnf_path, vgg19_weights) -> str:
    """What a picture backbone starts from: 'imagenet' (Keras' download), 'random', or
    a file; UserError for a backbone without them or a combination that cannot be."""
    if backbone == "mlp":
        if weights not in (None, "random"):
            raise UserError(
                "`backbone_weights` applies to picture networks (cnnf, vgg19, "
                f"{', '.join(KERAS_BACKBONES)}); the mlp backbone always starts from scratch"
            )
        return "random"
    if backbone == "cnnf":
        if weights == "imagenet":
            raise UserError(
                "CNN-F's ImageNet weights are MatConvNet's imagenet-vgg-f.mat: pass it as "
                "`cnnf_path` (Keras has no CNN-F)"
            )
        if weights not in (None, "random") and cnnf_path:
            raise UserError("give CNN-F's weights once: `cnnf_path` or `backbone_weights`")
        chosen = weights or cnnf_path
        if not chosen:
            raise UserError(
                "`backbone=cnnf` needs its ImageNet weights: `cnnf_path=imagenet-vgg-f.mat` "
                "(or `backbone_weights=random` to train it from scratch)"
            )
        return chosen
    if backbone == "vgg19":
        if weights is not None and vgg19_weights:
            raise UserError("give VGG-19's weights once: `vgg19_weights` or `backbone_weights`")
        chosen = weights or vgg19_weights
        if not chosen:
            raise UserError(
                "`backbone=vgg19` needs weights: `vgg19_weights=FILE.h5`, "
                "`backbone_weights=imagenet` (Keras downloads them) or "
                "`backbone_weights=random` (from scratch)"
            )
        return chosen
    if backbone in KERAS_BACKBONES:
        return weights or "imagenet"
    raise UserError(f"unknown backbone {backbone!r}; use one of {', '.join(BACKBONES)}")


def make_backbone(
    name: str,
    *,
    weights: str = "random",
    image_size: int | None = None,
    image_feature_dim: int | None = None,
    hidden_dim: int = 4096,
    init: Initialization = Initialization(),
    compute_dtype: str = "float32",
    standardize_input: bool = False,
    frozen: bool = False,
    pretrained: bool = True,
    seed: int = 0,
) -> keras.layers.Layer:
    """Build one of the ImgNet backbones by name (``compute_dtype``: its matmul/conv
    dtype). ``weights``: resolve_weights' answer; ``pretrained=False`` skips loading
    them (a checkpoint restores every weight next). The mlp backbone reads
    ``image_feature_dim`` features, or pictures of ``image_size`` when that is None."""
    file_weights = weights if name == "cnnf" and weights not in ("random", "imagenet") else None
    weights = weights if pretrained else "random"
    if weights == "random" and name != "mlp" and pretrained:
        logging.warning(
            "the %s backbone starts from RANDOM weights (`backbone_weights=random`): SSAH "
            "assumes an ImageNet-trained image network; expect weaker image codes",
            name,
        )
    if name == "cnnf":
        # The file is read even when a checkpoint restores the weights: its mean image is
        # the input scaling, not a weight.
        spec = read_cnnf_file(chosen) if (chosen := file_weights or weights) != "random" else None
        spec = spec or random_cnnf_spec(seed)
        backbone = CNNFBackbone(spec, compute_dtype=compute_dtype, name="cnnf")
        backbone.trainable = not frozen
        return backbone
    if name == "vgg19":
        return VGG19Backbone(
            weights, image_size or 224, compute_dtype=compute_dtype, frozen=frozen, name="vgg19"
        )
    if name in KERAS_BACKBONES:
        return KerasBackbone(
            name,
            weights=weights,
            input_size=image_size or DEFAULT_IMAGE_SIZE[name],
            frozen=frozen,
            compute_dtype=compute_dtype,
        )
    if name == "mlp":
        pixel_size = None if image_feature_dim else (image_size or DEFAULT_IMAGE_SIZE["mlp"])
        return MLPBackbone(
            image_feature_dim or pixel_size * pixel_size * 3,
            hidden_dim,
            init,
            compute_dtype=compute_dtype,
            standardize=standardize_input,
            pixel_size=pixel_size,
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
