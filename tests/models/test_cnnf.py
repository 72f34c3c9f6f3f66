"""The MatConvNet CNN-F reader and backbone: both file layouts, and its errors."""

import numpy as np
import pytest
import scipy.io
import tensorflow as tf

from ssah_tf.errors import UserError
from ssah_tf.models.cnnf import read_cnnf_file
from ssah_tf.models.imgnet import make_backbone, resolve_weights


def fake_cnnf_new_layout(path, mean_shape=(1, 1, 3)):
    """A tiny CNN-F in the newer vlfeat layout (meta.normalization), written by scipy."""
    rng = np.random.default_rng(0)

    def conv(name, k, cin, cout, stride, pad):
        weights = np.empty((1, 2), dtype=object)
        weights[0, 0] = rng.normal(0, 0.01, (k, k, cin, cout)).astype(np.float32)
        weights[0, 1] = np.zeros((cout, 1), np.float32)
        return {
            "name": name,
            "type": "conv",
            "stride": np.array([stride, stride], float),
            "pad": np.array(pad, float),
            "weights": weights,
        }

    layers = [
        conv("conv1", 11, 3, 4, 4, [0, 0, 0, 0]),
        {"name": "relu1", "type": "relu"},
        {"name": "norm1", "type": "lrn", "param": np.array([5, 2, 1e-4, 0.75])},
        {
            "name": "pool1",
            "type": "pool",
            "method": "max",
            "pool": np.array([3, 3], float),
            "stride": np.array([2, 2], float),
            "pad": np.array([0, 1, 0, 1], float),
        },
        conv("fc6", 27, 4, 6, 1, 0),
        {"name": "relu6", "type": "relu"},
        conv("fc8", 1, 6, 2, 1, 0),
        {"name": "prob", "type": "softmax"},
    ]
    cells = np.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cells[0, i] = layer
    meta = {
        "normalization": {
            "averageImage": np.reshape([120.0, 110.0, 100.0], mean_shape),
            "imageSize": np.array([224, 224, 3], float),
        }
    }
    scipy.io.savemat(path, {"layers": cells, "meta": meta})


def test_cnnf_new_layout_loads(tmp_path):
    path = str(tmp_path / "imagenet-vgg-f-new.mat")
    fake_cnnf_new_layout(path)
    spec = read_cnnf_file(path)
    assert [layer.kind for layer in spec.layers] == ["conv", "relu", "lrn", "pool", "conv", "relu"]
    assert spec.layers[3].pad == (0, 1, 0, 1) and spec.output_dim == 6
    backbone = make_backbone("cnnf", weights=path)
    out = backbone(backbone.preprocess(tf.zeros([2, 224, 224, 3], tf.uint8)))
    assert out.shape == (2, 6)
    # The file's weights live only in the variables (no second, NumPy copy kept).
    np.testing.assert_array_equal(backbone.kernels[0].numpy(), spec.layers[0].kernel)
    assert all(layer.kernel is None and layer.bias is None for layer in backbone.spec.layers)


def test_cnnf_old_layout_golden_file(golden_dir):
    spec = read_cnnf_file(str(golden_dir / "fake_vgg_f_small.mat"))
    assert [layer.index for layer in spec.layers if layer.kind == "conv"] == [
        0,
        4,
        8,
        10,
        12,
        15,
        17,
    ]
    assert spec.mean_image.shape == (224, 224, 3) and spec.output_dim == 4096


def test_cnnf_errors_name_the_problem(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_cnnf_file(str(tmp_path / "missing.mat"))
    path = str(tmp_path / "nomean.mat")
    scipy.io.savemat(path, {"layers": np.zeros((1, 1))})
    with pytest.raises(UserError, match="normalization"):
        read_cnnf_file(path)
    with pytest.raises(UserError, match="cnnf_path"):
        resolve_weights("cnnf", weights=None, cnnf_path=None, vgg19_weights=None)
