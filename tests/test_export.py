"""SavedModel export: the networks reproduced, every backbone passing the vetting."""

import json

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.config import make_config
from ssah_tf.export import export_saved_model
from ssah_tf.models.imgnet import MLPBackbone, make_backbone
from ssah_tf.models.networks import build_networks
from ssah_tf.vetting import check_trusted, unexpected_ops


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    config = make_config(
        "paper",
        bits=8,
        num_labels=3,
        text_dim=20,
        hidden_dim=16,
        semantic_dim=8,
        discriminator_hidden=(4,),
    )
    nets = build_networks(
        config.network, imgnet_backbone=MLPBackbone(5, 16, standardize=True), standardize_text=True
    )
    path = str(tmp_path_factory.mktemp("export") / "model")
    export_saved_model(
        nets, path, num_labels=3, text_dim=20, image_shape=(5,), pixels=False, bits=8
    )
    return path, nets


def test_our_export_is_trusted_and_reproduces_the_networks(small_export):
    path, nets = small_export
    assert unexpected_ops(path) == []
    check_trusted(path)
    model = tf.saved_model.load(path)
    features = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    out = model.signatures["encode_image"](images=tf.constant(features))
    np.testing.assert_allclose(out["hash"].numpy(), nets.imgnet(features).hash.numpy(), atol=1e-6)
    assert set(np.unique(out["code"].numpy())) <= {-1, 1}
    info = json.load(open(f"{path}/ssah_export.json"))
    assert info["image_input"] == "features" and info["bits"] == 8


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "efficientnet_b0", "resnet50"])
def test_exports_of_keras_backbones_are_trusted_and_take_pictures(tmp_path, backbone):
    config = make_config("paper", bits=8, num_labels=3, text_dim=20, hidden_dim=16, semantic_dim=8)
    image_net = make_backbone(backbone, weights="random", image_size=32)
    nets = build_networks(config.network, imgnet_backbone=image_net)
    path = str(tmp_path / "model")
    export_saved_model(
        nets, path, num_labels=3, text_dim=20, image_shape=(32, 32, 3), pixels=True, bits=8
    )
    assert unexpected_ops(path) == []
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    out = tf.saved_model.load(path).signatures["encode_image"](images=tf.constant(pixels))
    expected = nets.imgnet(image_net.preprocess(tf.constant(pixels))).hash.numpy()
    np.testing.assert_allclose(out["hash"].numpy(), expected, atol=1e-5)
