import numpy as np
import tensorflow as tf

from ssah_tf.config import make_config
from ssah_tf.models.cnnf import CNNFBackbone, read_cnnf_file
from ssah_tf.models.networks import build_networks
from tests.helpers import run_cli


def import_golden(golden_dir, out, bits):
    """Run ssah-import-release on the golden checkpoint with the given --bits."""
    return run_cli(
        "ssah_tf.cli.import_release",
        f"--checkpoint={golden_dir / 'checkpoint/Flickr_16/SSAH-0'}",
        f"--cnnf={golden_dir / 'fake_vgg_f_small.mat'}",
        f"--bits={bits}",
        "--num_labels=24",
        "--text_dim=60",
        f"--output_dir={out}",
    )


def test_import_then_restore_gives_release_outputs(tmp_path, golden_dir):
    out = tmp_path / "imported"
    result = import_golden(golden_dir, out, bits=16)
    assert result.returncode == 0, result.stderr[-2000:]
    config = make_config("release", bits=16, num_labels=24, text_dim=60)
    backbone = CNNFBackbone(read_cnnf_file(str(golden_dir / "fake_vgg_f_small.mat")))
    networks = build_networks(config.network, imgnet_backbone=backbone)
    tf.train.Checkpoint(**networks.checkpoint_items()).read(
        tf.train.latest_checkpoint(str(out))
    ).assert_existing_objects_matched()
    g = np.load(golden_dir / "golden.npz")
    np.testing.assert_allclose(
        networks.txtnet(g["in__text_input"].reshape(8, 60)).hash.numpy(),
        g["init__Hsh_T"],
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        networks.discriminators["L2"](g["in__L_fea_batch"].reshape(8, 512)).numpy(),
        g["init__isfrom_L2"],
        rtol=1e-5,
        atol=1e-7,
    )


def test_import_bad_input(tmp_path, golden_dir):
    out = tmp_path / "imported"
    result = import_golden(golden_dir, out, bits=64)  # the checkpoint has 16
    last = result.stderr.strip().splitlines()[-1]  # TF's C++ start-up banner may precede it
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error:" in last and "shape mismatch" in last
    assert not out.exists()
    result = run_cli("ssah_tf.cli.import_release", f"--output_dir={out}")
    assert result.returncode == 2 and "--checkpoint" in result.stderr


def test_positional_arguments_are_rejected_by_every_tool(tmp_path):
    for module in ("import_release", "train", "evaluate", "export", "encode", "search", "prepare"):
        result = run_cli(f"ssah_tf.cli.{module}", "stray")
        assert result.returncode == 2, module
        assert "unexpected arguments ['stray']" in result.stderr.strip().splitlines()[-1], module
