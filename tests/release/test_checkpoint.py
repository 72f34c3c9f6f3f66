"""A TF1-layout checkpoint of another configuration, written by TF1 graph code here,
loads and reproduces the TF1 graph's outputs: the loader is not tied to the golden one."""

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf.models.cnnf import read_cnnf_file
from ssah_tf.release import load_release_checkpoint
from tests.helpers import write_fake_cnnf

K, C, D_T, E, H, DIS = 32, 10, 80, 24, 64, (20, 12)
WINDOWS_IN_CREATION_ORDER = (50, 30, 15, 10, 5)


def build_release_graph(cnnf_path, rng):
    """The release's networks in tf.compat.v1 graph style (conv kernels, creation-order names)."""
    v1 = tf.compat.v1
    var = lambda shape, name=None: v1.Variable(
        rng.normal(0, 0.05, shape).astype(np.float32), name=name
    )
    lrn = lambda x: tf.nn.local_response_normalization(x, 2, 2.0, 1e-4, 0.75)
    conv = lambda x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "VALID")
    ph = {
        "label": v1.placeholder(tf.float32, [None, 1, C, 1]),
        "text": v1.placeholder(tf.float32, [None, 1, D_T, 1]),
        "image": v1.placeholder(tf.float32, [None, 224, 224, 3]),
        "feature": v1.placeholder(tf.float32, [None, 1, E, 1]),
    }
    out = {}
    # LabNet: Variable .. Variable_7
    w1, b1, w2, b2 = var([1, C, 1, H]), var([1, H]), var([1, 1, H, E]), var([1, E])
    w3, b3, w4, b4 = var([1, 1, E, K]), var([1, K]), var([1, 1, E, C]), var([1, C])
    x = lrn(tf.nn.relu(conv(ph["label"], w1) + tf.squeeze(b1)))
    fea = tf.nn.relu(conv(x, w2) + tf.squeeze(b2))
    out["lab"] = (
        tf.squeeze(fea, [1, 2]),
        tf.squeeze(tf.tanh(conv(fea, w3) + tf.squeeze(b3)), [1, 2]),
        tf.squeeze(tf.sigmoid(conv(fea, w4) + tf.squeeze(b4)), [1, 2]),
    )
    # ImgNet: w<i>/bias<i> from the .mat, then w20..w22
    spec = read_cnnf_file(cnnf_path)
    x = ph["image"]
    for layer in spec.layers:
        if layer.kind in ("conv", "pool") and any(layer.pad):
            top, bottom, left, right = layer.pad
            x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        if layer.kind == "conv":
            w = v1.Variable(layer.kernel, name=f"w{layer.index}")
            bias = v1.Variable(layer.bias, name=f"bias{layer.index}")
            x = tf.nn.conv2d(x, w, [1, *layer.stride, 1], "VALID") + bias
        elif layer.kind == "relu":
            x = tf.nn.relu(x)
        elif layer.kind == "lrn":
            x = lrn(x)
        else:
            x = tf.nn.max_pool2d(x, [1, 3, 3, 1], [1, *layer.stride, 1], "VALID")
    fc7 = x.shape[-1]
    fea = tf.nn.relu(conv(x, var([1, 1, fc7, E], "w20")) + var([E], "bias20"))
    out["img"] = (
        tf.squeeze(fea, [1, 2]),
        tf.squeeze(tf.tanh(conv(fea, var([1, 1, E, K], "w21")) + var([K], "bias21")), [1, 2]),
        tf.squeeze(tf.sigmoid(conv(fea, var([1, 1, E, C], "w22")) + var([C], "bias22")), [1, 2]),
    )
    # TxtNet: Variable_8.. (scales for windows 50, 30, 15, 10, 5), then Variable_13..20
    branches = {}
    for window in WINDOWS_IN_CREATION_ORDER:
        scale = v1.Variable(rng.uniform(-1, 1, [1, 1, 1, 1]).astype(np.float32))
        pooled = tf.nn.avg_pool2d(ph["text"], [1, 1, window, 1], [1, 1, window, 1], "VALID")
        branches[window] = v1.image.resize_bilinear(tf.nn.relu(conv(pooled, scale)), [1, D_T])
    ms = tf.concat([ph["text"]] + [branches[w] for w in (5, 10, 15, 30, 50)], axis=3)
    w1, b1, w2, b2 = var([1, D_T, 6, H]), var([1, H]), var([1, 1, H, E]), var([1, E])
    w3, b3, w4, b4 = var([1, 1, E, K]), var([K]), var([1, 1, E, C]), var([C])
    x = lrn(tf.nn.relu(conv(ms, w1) + tf.squeeze(b1)))
    fea = tf.nn.relu(conv(x, w2) + tf.squeeze(b2))
    norm = lrn(fea)
    out["txt"] = (
        tf.squeeze(fea, [1, 2]),
        tf.squeeze(tf.tanh(conv(norm, w3) + b3), [1, 2]),
        tf.squeeze(tf.sigmoid(conv(norm, w4) + b4), [1, 2]),
    )
    out["ms"] = tf.squeeze(ms, 1)
    # Discriminators: the release's unshared scopes
    for key, scope in (
        ("IL", "disnet_IL"),
        ("L1", "disnet_IL_1"),
        ("TL", "disnet_TL"),
        ("L2", "disnet_TL_1"),
    ):
        base = scope.replace("_1", "")
        x = ph["feature"]
        for suffix, shape in (
            ("fc1", [1, E, 1, DIS[0]]),
            ("fc2", [1, 1, DIS[0], DIS[1]]),
            ("out", [1, 1, DIS[1], 1]),
        ):
            with v1.name_scope(f"{scope}/{base}_{suffix}/"):
                w, b = var(shape), var([shape[-1]])
            x = conv(x, w) + b
            if suffix != "out":
                x = tf.nn.relu(x)
        out[key] = tf.reshape(x, [-1])
    return ph, out


@pytest.mark.parametrize("layout", ["old", "new"])
def test_loader_reproduces_a_tf1_graph_of_another_configuration(tmp_path, layout):
    cnnf = str(tmp_path / "cnnf.mat")
    write_fake_cnnf(cnnf, layout=layout, widths=(5, 7, 6, 4, 3), fc6=9, fc7=11)
    rng = np.random.default_rng(3)
    feeds_np = {
        "label": (rng.random((3, C)) < 0.3).astype(np.float32),
        "text": (rng.random((3, D_T)) < 0.2).astype(np.float32),
        "image": rng.normal(0, 60, (3, 224, 224, 3)).astype(np.float32),
        "feature": rng.random((3, E)).astype(np.float32),
    }
    graph = tf.Graph()
    with graph.as_default():
        ph, out = build_release_graph(cnnf, rng)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            feed = {
                ph["label"]: feeds_np["label"][:, None, :, None],
                ph["text"]: feeds_np["text"][:, None, :, None],
                ph["image"]: feeds_np["image"],
                ph["feature"]: feeds_np["feature"][:, None, :, None],
            }
            expected = sess.run(out, feed)
            prefix = saver.save(sess, str(tmp_path / "Flickr_32" / "SSAH"), global_step=0)
    models = load_release_checkpoint(prefix, cnnf, bits=K, num_labels=C, text_dim=D_T)
    for name, net, x in (
        ("lab", models.labnet, feeds_np["label"]),
        ("img", models.imgnet, feeds_np["image"]),
        ("txt", models.txtnet, feeds_np["text"]),
    ):
        got = net(x)
        for ours, theirs in zip((got.feature, got.hash, got.label), expected[name]):
            np.testing.assert_allclose(
                ours.numpy(), theirs, rtol=1e-5, atol=1e-6 * np.abs(theirs).max()
            )
    np.testing.assert_allclose(
        models.txtnet.multiscale(feeds_np["text"]).numpy(), expected["ms"], rtol=1e-5, atol=1e-7
    )
    for key in ("IL", "L1", "TL", "L2"):
        np.testing.assert_allclose(
            models.discriminators[key](feeds_np["feature"]).numpy(),
            expected[key],
            rtol=1e-5,
            atol=1e-7,
        )
    assert models.config.network.semantic_dim == E and models.config.network.hidden_dim == H
    assert models.config.network.discriminator_hidden == DIS


def test_wrong_dimensions_list_every_mismatch(golden_dir):
    from ssah_tf.errors import UserError

    with pytest.raises(UserError) as info:
        load_release_checkpoint(
            str(golden_dir / "checkpoint/Flickr_16/SSAH-0"),
            str(golden_dir / "fake_vgg_f_small.mat"),
            bits=32,
            num_labels=24,
            text_dim=60,
        )
    message = str(info.value)
    assert "Variable_4 [1, 1, 512, 16]" in message and "w21" in message and "\n" not in message
    with pytest.raises(UserError, match="SSAH-7.index is missing"):
        load_release_checkpoint(
            str(golden_dir / "checkpoint/Flickr_16/SSAH-7"),
            str(golden_dir / "fake_vgg_f_small.mat"),
            bits=16,
            num_labels=24,
            text_dim=60,
        )
