"""Keras Applications as ImgNet backbones: random weights, a local weights file, frozen."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.errors import UserError
from ssah_tf.models.imgnet import make_backbone, resolve_weights
from ssah_tf.models.keras_backbones import KerasBackbone


def test_small_network_from_random_then_from_a_weights_file(tmp_path):
    tf.keras.utils.set_random_seed(0)
    random = make_backbone("mobilenet_v2", weights="random", image_size=32)
    assert random.output_dim == 1280
    path = str(tmp_path / "mobilenet.weights.h5")
    random.model.save_weights(path)  # a weights file of the application without its top
    tf.keras.utils.set_random_seed(1)
    loaded = make_backbone("mobilenet_v2", weights=path, image_size=32, frozen=True)
    pixels = tf.random.uniform([2, 32, 32, 3], 0, 255, seed=3)
    x = random.preprocess(pixels)
    np.testing.assert_allclose(loaded(x).numpy(), random(x).numpy(), rtol=1e-5, atol=1e-5)
    assert loaded.trainable_weights == [] and len(random.trainable_weights) > 0  # frozen
    # The application's own preprocessing: MobileNetV2 reads [-1, 1].
    assert float(tf.reduce_min(random.preprocess(tf.zeros([1, 2, 2, 3])))) == -1.0
    assert float(tf.reduce_max(random.preprocess(tf.fill([1, 2, 2, 3], 255.0)))) == 1.0


def test_resnet_class_network_builds_at_a_small_size():
    backbone = make_backbone("resnet50", weights="random", image_size=32)
    out = backbone(backbone.preprocess(tf.zeros([1, 32, 32, 3], tf.uint8)))
    assert out.shape == (1, 2048) and out.dtype == tf.float32


def test_batch_normalisation_uses_stored_statistics():
    """Inference-mode BN: an item's output does not depend on the rest of its batch."""
    backbone = make_backbone("efficientnet_b0", weights="random", image_size=32)
    x = backbone.preprocess(tf.random.uniform([3, 32, 32, 3], 0, 255, seed=4))
    np.testing.assert_allclose(backbone(x[:1]).numpy(), backbone(x).numpy()[:1], atol=1e-5)


def test_errors_name_the_fix(tmp_path):
    with pytest.raises(UserError, match="at least 32 px"):
        KerasBackbone("mobilenet_v2", weights="random", input_size=16)
    bad = tmp_path / "other.weights.h5"
    make_backbone("mobilenet_v2", weights="random", image_size=32).model.save_weights(str(bad))
    with pytest.raises(UserError, match="cannot load resnet50 weights"):
        make_backbone("resnet50", weights=str(bad), image_size=32)
    assert resolve_weights("resnet50", weights=None, cnnf_path=None, vgg19_weights=None) == (
        "imagenet"
    )
    with pytest.raises(UserError, match="mlp backbone always starts from scratch"):
        resolve_weights("mlp", weights="imagenet", cnnf_path=None, vgg19_weights=None)


def test_random_cnnf_and_vgg19_say_that_ssah_assumes_pretrained_weights(caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        backbone = make_backbone("cnnf", weights="random")
    assert "RANDOM weights" in caplog.text and "ImageNet-trained" in caplog.text
    out = backbone(backbone.preprocess(tf.zeros([1, 224, 224, 3], tf.uint8)))
    assert out.shape == (1, 4096)
