"""ImgNet's backbones: VGG-19 from a local weights file (CNN-F: test_cnnf.py)."""

import numpy as np
import tensorflow as tf

from ssah_tf.models.imgnet import make_backbone


def test_vgg19_backbone_random_then_from_local_file(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        random = make_backbone("vgg19")
    assert "RANDOM weights" in caplog.text
    weights = str(tmp_path / "vgg19.weights.h5")
    random.vgg.save_weights(weights)  # the full model, like Keras' ImageNet file
    loaded = make_backbone("vgg19", weights=weights)
    x = random.preprocess(tf.random.uniform([1, 224, 224, 3], 0, 255, seed=1))
    np.testing.assert_allclose(loaded(x).numpy(), random(x).numpy(), rtol=1e-5, atol=1e-6)
    assert random(x).shape == (1, 4096)


def test_mlp_backbone_standardises_its_inputs_inside_and_the_heads_shape():
    from ssah_tf.models import ImgNet
    from ssah_tf.models.imgnet import MLPBackbone

    mean, scale = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 0.5])
    backbone = MLPBackbone(3, 8, standardize=True)
    backbone.input_scaling.set_statistics(mean, scale)
    plain = MLPBackbone(3, 8)
    plain.hidden.set_weights(backbone.hidden.get_weights())
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(
        backbone(x).numpy(),
        plain(((x - mean) / scale).astype(np.float32)).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    out = ImgNet(backbone=backbone, bits=4, num_labels=2, semantic_dim=5)(x)
    assert out.hash.shape == (4, 4) and out.feature.shape == (4, 5) and out.label.shape == (4, 2)


def test_mlp_on_pictures_reads_small_pictures_scaled_to_unit_range():
    from ssah_tf.models.imgnet import MLPBackbone

    backbone = make_backbone("mlp", hidden_dim=8)  # pictures, at the mlp's default size
    assert isinstance(backbone, MLPBackbone) and backbone.pixel_size == 32
    flat = backbone.preprocess(tf.fill([2, 32, 32, 3], tf.constant(255, tf.uint8)))
    assert flat.shape == (2, 32 * 32 * 3)
    np.testing.assert_allclose(flat.numpy(), 1.0)  # [0, 255] -> [0, 1] before standardising
