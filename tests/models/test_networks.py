"""Network shapes, multi-scale fusion against NumPy, initialisation, backbones."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.config import PAPER_WINDOWS, RELEASE_WINDOWS, make_config
from ssah_tf.models import Discriminator, ImgNet, LabNet, TxtNet
from ssah_tf.models.imgnet import MLPBackbone, make_backbone
from ssah_tf.models.networks import build_networks


@pytest.mark.parametrize(
    "bits,labels,text_dim,windows",
    [(16, 24, 60, RELEASE_WINDOWS), (32, 5, 17, PAPER_WINDOWS), (64, 80, 103, (2, 7))],
)
@pytest.mark.parametrize("batch", [1, 3])
def test_output_shapes(bits, labels, text_dim, windows, batch):
    kwargs = dict(bits=bits, num_labels=labels, semantic_dim=32)
    lab = LabNet(hidden_dim=64, **kwargs)(tf.ones([batch, labels]))
    txt = TxtNet(text_dim=text_dim, windows=windows, hidden_dim=64, **kwargs)(
        tf.ones([batch, text_dim])
    )
    img = ImgNet(backbone=MLPBackbone(9, 64), **kwargs)(tf.ones([batch, 9]))
    for out in (lab, txt, img):
        assert out.feature.shape == (batch, 32) and out.hash.shape == (batch, bits)
        assert out.label.shape == (batch, labels)
        assert np.all(np.abs(out.hash.numpy()) <= 1) and np.all(out.feature.numpy() >= 0)
    assert Discriminator(semantic_dim=32, hidden=(8, 4))(tf.ones([batch, 32])).shape == (batch,)


def test_presets_build_their_discriminators():
    for preset, hidden, distinct in (("paper", (4096, 4096), 2), ("release", (512, 256), 4)):
        cfg = make_config(preset, bits=8, num_labels=3, text_dim=60, hidden_dim=16, semantic_dim=8)
        nets = build_networks(cfg.network, imgnet_backbone=MLPBackbone(5, 16))
        d = nets.discriminators
        assert len({id(v) for v in d.values()}) == distinct
        assert tuple(layer.units for layer in d["IL"].hidden_layers) == hidden


@pytest.mark.parametrize("backbone", ["cnnf", "mlp"])
def test_checkpoint_round_trip_covers_every_weight(tmp_path, golden_dir, backbone):
    """Every weight (including multi-scale scalars and CNN-F kernels) is checkpointed."""
    cfg = make_config("release", bits=8, num_labels=3, text_dim=60, hidden_dim=16, semantic_dim=8)

    def build(seed):
        tf.keras.utils.set_random_seed(seed)
        trunk = (
            make_backbone("cnnf", weights=str(golden_dir / "fake_vgg_f_small.mat"))
            if backbone == "cnnf"
            else MLPBackbone(5, 16)
        )
        return build_networks(cfg.network, imgnet_backbone=trunk)

    first, second = build(1), build(2)
    if backbone == "cnnf":
        second.imgnet.backbone.w0.assign(second.imgnet.backbone.w0 + 1.0)
    path = first.checkpoint().write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(**second.checkpoint_items()).read(path).assert_existing_objects_matched()
    pairs = [
        (a, b)
        for name in first.checkpoint_items()
        for a, b in zip(
            first.checkpoint_items()[name].weights, second.checkpoint_items()[name].weights
        )
    ]
    assert len(pairs) == sum(len(n.weights) for n in first.checkpoint_items().values())
    for a, b in pairs:
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
