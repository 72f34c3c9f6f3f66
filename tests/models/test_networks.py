"""Network shapes, multi-scale fusion against NumPy, initialisation, backbones."""

import numpy as np
import pytest
import scipy.io
import tensorflow as tf

from ssah_tf.config import PAPER_WINDOWS, RELEASE_WINDOWS, make_config
from ssah_tf.errors import UserError
from ssah_tf.models import Discriminator, ImgNet, LabNet, TxtNet
from ssah_tf.models.cnnf import read_cnnf_file
from ssah_tf.models.imgnet import MLPBackbone, make_backbone
from ssah_tf.models.layers import tf1_bilinear_matrix
from ssah_tf.models.networks import build_networks


@pytest.mark.parametrize("bits,labels,text_dim,windows", [
    (16, 24, 60, RELEASE_WINDOWS), (32, 5, 17, PAPER_WINDOWS), (64, 80, 103, (2, 7))])
@pytest.mark.parametrize("batch", [1, 3])
def test_output_shapes(bits, labels, text_dim, windows, batch):
    kwargs = dict(bits=bits, num_labels=labels, semantic_dim=32)
    lab = LabNet(hidden_dim=64, **kwargs)(tf.ones([batch, labels]))
    txt = TxtNet(text_dim=text_dim, windows=windows, hidden_dim=64, **kwargs)(
        tf.ones([batch, text_dim]))
    img = ImgNet(backbone=MLPBackbone(9, 64), **kwargs)(tf.ones([batch, 9]))
    for out in (lab, txt, img):
        assert out.feature.shape == (batch, 32) and out.hash.shape == (batch, bits)
        assert out.label.shape == (batch, labels)
        assert np.all(np.abs(out.hash.numpy()) <= 1) and np.all(out.feature.numpy() >= 0)
    assert Discriminator(semantic_dim=32, hidden=(8, 4))(tf.ones([batch, 32])).shape == (batch,)


def numpy_bilinear_tf1(x, out_len):
    """TF1 resize_bilinear along one axis, written from its definition."""
    in_len = len(x)
    out = np.empty(out_len)
    for i in range(out_len):
        src = i * in_len / out_len
        lo = int(np.floor(src))
        hi = min(lo + 1, in_len - 1)
        out[i] = x[lo] + (x[hi] - x[lo]) * (src - lo)
    return out


def test_tf1_bilinear_matches_the_legacy_kernel():
    x = np.random.default_rng(0).normal(size=(1, 1, 7, 1)).astype(np.float32)
    legacy = tf.raw_ops.ResizeBilinear(images=x, size=[1, 23], align_corners=False,
                                       half_pixel_centers=False).numpy()[0, 0, :, 0]
    np.testing.assert_allclose(tf1_bilinear_matrix(7, 23) @ x[0, 0, :, 0], legacy, atol=1e-6)
    np.testing.assert_allclose(numpy_bilinear_tf1(x[0, 0, :, 0], 23), legacy, atol=1e-6)


def test_multiscale_map_matches_numpy_rederivation():
    text_dim, windows = 61, RELEASE_WINDOWS
    net = TxtNet(text_dim=text_dim, windows=windows, bits=8, num_labels=3, semantic_dim=8,
                 hidden_dim=16)
    scales = [0.7, -0.2, 1.3, 0.05, 2.0]
    for variable, value in zip(net.fusion.scales, scales):
        variable.assign(value)
    text = (np.random.default_rng(1).random((4, text_dim)) < 0.3).astype(np.float32)
    fused = net.multiscale(text).numpy()
    for row in range(4):
        expected = [text[row]]
        for w, scale in zip(windows, scales):
            pooled = text[row, :(text_dim // w) * w].reshape(-1, w).mean(1)
            expected.append(numpy_bilinear_tf1(np.maximum(pooled * scale, 0), text_dim))
        np.testing.assert_allclose(fused[row], np.stack(expected, 1), rtol=1e-5, atol=1e-7)
    assert np.all(fused[:, :, 2] == 0)  # the negative scale's branch is dead after ReLU


def test_initialisation_is_normal_with_stddev_0_01():
    net = LabNet(num_labels=50, bits=16, semantic_dim=512, hidden_dim=4096)
    for variable in net.trainable_variables:
        values = variable.numpy()
        if values.size > 2000:
            assert abs(values.std() - 0.01) < 5e-4 and abs(values.mean()) < 5e-4, variable.path


def test_presets_build_their_discriminators():
    for preset, hidden, distinct in (("paper", (4096, 4096), 2), ("release", (512, 256), 4)):
        cfg = make_config(preset, bits=8, num_labels=3, text_dim=60, hidden_dim=16,
                          semantic_dim=8)
        nets = build_networks(cfg.network, imgnet_backbone=MLPBackbone(5, 16))
        d = nets.discriminators
        assert len({id(v) for v in d.values()}) == distinct
        assert tuple(layer.units for layer in d["IL"].hidden_layers) == hidden


def fake_cnnf_new_layout(path, mean_shape=(1, 1, 3)):
    """A tiny CNN-F in the newer vlfeat layout (meta.normalization), written by scipy."""
    rng = np.random.default_rng(0)

    def conv(name, k, cin, cout, stride, pad):
        weights = np.empty((1, 2), dtype=object)
        weights[0, 0] = rng.normal(0, .01, (k, k, cin, cout)).astype(np.float32)
        weights[0, 1] = np.zeros((cout, 1), np.float32)
        return {"name": name, "type": "conv", "stride": np.array([stride, stride], float),
                "pad": np.array(pad, float), "weights": weights}

    layers = [conv("conv1", 11, 3, 4, 4, [0, 0, 0, 0]), {"name": "relu1", "type": "relu"},
              {"name": "norm1", "type": "lrn", "param": np.array([5, 2, 1e-4, .75])},
              {"name": "pool1", "type": "pool", "method": "max", "pool": np.array([3, 3], float),
               "stride": np.array([2, 2], float), "pad": np.array([0, 1, 0, 1], float)},
              conv("fc6", 27, 4, 6, 1, 0), {"name": "relu6", "type": "relu"},
              conv("fc8", 1, 6, 2, 1, 0), {"name": "prob", "type": "softmax"}]
    cells = np.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cells[0, i] = layer
    meta = {"normalization": {"averageImage": np.reshape([120.0, 110.0, 100.0], mean_shape),
                              "imageSize": np.array([224, 224, 3], float)}}
    scipy.io.savemat(path, {"layers": cells, "meta": meta})


def test_cnnf_new_layout_loads(tmp_path):
    path = str(tmp_path / "imagenet-vgg-f-new.mat")
    fake_cnnf_new_layout(path)
    spec = read_cnnf_file(path)
    assert [layer.kind for layer in spec.layers] == ["conv", "relu", "lrn", "pool", "conv", "relu"]
    assert spec.layers[3].pad == (0, 1, 0, 1) and spec.output_dim == 6
    backbone = make_backbone("cnnf", cnnf_path=path)
    out = backbone(backbone.preprocess(tf.zeros([2, 224, 224, 3], tf.uint8)))
    assert out.shape == (2, 6)
    # The file's weights live only in the variables (no second, NumPy copy kept).
    np.testing.assert_array_equal(backbone.kernels[0].numpy(), spec.layers[0].kernel)
    assert all(layer.kernel is None and layer.bias is None for layer in backbone.spec.layers)


def test_cnnf_old_layout_golden_file(golden_dir):
    spec = read_cnnf_file(str(golden_dir / "fake_vgg_f_small.mat"))
    assert [layer.index for layer in spec.layers if layer.kind == "conv"] == [0, 4, 8, 10, 12, 15, 17]
    assert spec.mean_image.shape == (224, 224, 3) and spec.output_dim == 4096


def test_cnnf_errors_name_the_problem(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_cnnf_file(str(tmp_path / "missing.mat"))
    path = str(tmp_path / "nomean.mat")
    scipy.io.savemat(path, {"layers": np.zeros((1, 1))})
    with pytest.raises(UserError, match="normalization"):
        read_cnnf_file(path)
    with pytest.raises(UserError, match="cnnf_path"):
        make_backbone("cnnf")


def test_vgg19_backbone_random_then_from_local_file(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        random = make_backbone("vgg19")
    assert "RANDOM weights" in caplog.text
    weights = str(tmp_path / "vgg19.weights.h5")
    random.vgg.save_weights(weights)  # the full model, like Keras' ImageNet file
    loaded = make_backbone("vgg19", vgg19_weights=weights)
    x = random.preprocess(tf.random.uniform([1, 224, 224, 3], 0, 255, seed=1))
    np.testing.assert_allclose(loaded(x).numpy(), random(x).numpy(), rtol=1e-5, atol=1e-6)
    assert random(x).shape == (1, 4096)


@pytest.mark.parametrize("backbone", ["cnnf", "mlp"])
def test_checkpoint_round_trip_covers_every_weight(tmp_path, golden_dir, backbone):
    """Every weight (including multi-scale scalars and CNN-F kernels) is checkpointed."""
    cfg = make_config("release", bits=8, num_labels=3, text_dim=60, hidden_dim=16,
                      semantic_dim=8)

    def build(seed):
        tf.keras.utils.set_random_seed(seed)
        trunk = (make_backbone("cnnf", cnnf_path=str(golden_dir / "fake_vgg_f_small.mat"))
                 if backbone == "cnnf" else MLPBackbone(5, 16))
        return build_networks(cfg.network, imgnet_backbone=trunk)

    first, second = build(1), build(2)
    if backbone == "cnnf":
        second.imgnet.backbone.w0.assign(second.imgnet.backbone.w0 + 1.0)
    path = first.checkpoint().write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(**second.checkpoint_items()).read(path).assert_existing_objects_matched()
    pairs = [(a, b) for name in first.checkpoint_items()
             for a, b in zip(first.checkpoint_items()[name].weights,
                             second.checkpoint_items()[name].weights)]
    assert len(pairs) == sum(len(n.weights) for n in first.checkpoint_items().values())
    for a, b in pairs:
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


