"""Keras Applications as ImgNet backbones: networks a user can obtain today.

Each is the application without its classifier, global-average pooled, with its own
input preprocessing. ImageNet weights come from Keras' own download and cache on the
user's machine (``~/.keras/models``), or from a local weights file of the same
network without its top (``*_notop.h5``); ``random`` trains it from scratch.
Batch-normalisation layers always use their stored statistics (inference mode): what
Keras advises for fine-tuning, and what keeps the replicas of a MirroredStrategy
computing the single-device result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import tensorflow as tf

from ssah_tf.errors import UserError
from ssah_tf.models.layers import check_compute_dtype


@dataclasses.dataclass(frozen=True)
class KerasApplication:
    """How to build one application and preprocess its input."""

    build: Callable[..., keras.Model]
    preprocess: Callable[[tf.Tensor], tf.Tensor]
    min_size: int  # smallest input side Keras accepts
    description: str


def _applications() -> dict[str, KerasApplication]:
    apps = keras.applications
    return {
        "mobilenet_v2": KerasApplication(
            apps.MobileNetV2,
            apps.mobilenet_v2.preprocess_input,
            32,
            "MobileNetV2 (3.5M weights, 1280-d): small and fast",
        ),
        "efficientnet_b0": KerasApplication(
            apps.EfficientNetB0,
            apps.efficientnet.preprocess_input,
            32,
            "EfficientNetB0 (5.3M weights, 1280-d)",
        ),
        "resnet50": KerasApplication(
            apps.ResNet50,
            apps.resnet50.preprocess_input,
            32,
            "ResNet-50 (25.6M weights, 2048-d)",
        ),
    }


KERAS_BACKBONES = ("mobilenet_v2", "efficientnet_b0", "resnet50")


class KerasBackbone(keras.layers.Layer):
    """A Keras application without its top, average pooled: [batch, features]."""

    def __init__(
        self,
        name: str,
        *,
        weights: str,
        input_size: int,
        frozen: bool = False,
        compute_dtype: str = "float32",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        application = _applications()[name]
        if input_size < application.min_size:
            raise UserError(
                f"`backbone={name}` needs pictures of at least {application.min_size} px; "
                f"raise `image_size` (now {input_size})"
            )
        previous = keras.config.dtype_policy()
        if check_compute_dtype(compute_dtype) == "bfloat16":
            keras.config.set_dtype_policy("mixed_bfloat16")  # only while the model is built
        try:
            model = application.build(
                include_top=False,
                weights="imagenet" if weights == "imagenet" else None,
                input_shape=(input_size, input_size, 3),
                pooling="avg",
            )
        except Exception as error:  # a failed download raises many types
            if weights != "imagenet":
                raise
            raise UserError(
                f"cannot get the ImageNet weights of {name} ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:120]}); download them on a machine with "
                "internet access (Keras caches them in ~/.keras/models) and pass the file "
                "as `backbone_weights`, or use `backbone_weights=random`"
            ) from None
        finally:
            keras.config.set_dtype_policy(previous)
        if weights not in ("imagenet", "random"):
            try:
                model.load_weights(weights)
            except (OSError, ValueError, KeyError) as error:
                raise UserError(
                    f"cannot load {name} weights from {weights} ({type(error).__name__}: "
                    f"{str(error).splitlines()[0][:120]}); give the application's weights "
                    "file without its top (e.g. *_notop.h5)"
                ) from None
        self.model = model
        self.model.trainable = not frozen
        self.input_size = input_size
        self.output_dim = int(model.output_shape[-1])
        self._preprocess = application.preprocess

    def preprocess(self, images: tf.Tensor) -> tf.Tensor:
        """uint8 RGB [0, 255] -> the application's own input scaling."""
        return self._preprocess(tf.cast(images, tf.float32))

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.model(x, training=False), tf.float32)


def describe_keras_backbones() -> str:
    """One line per application, for help texts and docs."""
    return "; ".join(f"{n}: {a.description}" for n, a in _applications().items())
