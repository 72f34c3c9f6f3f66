"""The random CNN-F file: the real file's structure, and the FLOP count by hand."""

import numpy as np
import pytest

from ssah_tf.bench.random_cnnf import cnnf_forward_flops, write_random_cnnf
from ssah_tf.models.cnnf import CNNFBackbone, read_cnnf_file


@pytest.mark.parametrize("layout", ["old", "new"])
def test_random_cnnf_has_the_real_structure(tmp_path, layout):
    path = str(tmp_path / "f.mat")
    write_random_cnnf(path, conv_widths=(5, 6, 7, 8, 9), fc_widths=(11, 12, 3), layout=layout)
    spec = read_cnnf_file(path)
    kernels = [layer.kernel.shape for layer in spec.layers if layer.kind == "conv"]
    # conv1..5 then fc6, fc7 (the trunk stops at relu7: fc8 is not read).
    assert kernels[:7] == [
        (11, 11, 3, 5),
        (5, 5, 5, 6),
        (3, 3, 6, 7),
        (3, 3, 7, 8),
        (3, 3, 8, 9),
        (6, 6, 9, 11),
        (1, 1, 11, 12),
    ]
    backbone = CNNFBackbone(spec)
    assert backbone(np.zeros((2, 224, 224, 3), np.float32)).shape == (2, 12)


def test_forward_flops_by_hand():
    # Full CNN-F: 2 x (54*54*64*363 + 27*27*256*1600 + 13*13*(256*2304*3) + 9216*4096
    # + 4096*4096) = 2 x 719,909,632 = 1,439,819,264 (the "about 1.44 GFLOP" of issue 6).
    assert cnnf_forward_flops() == 1_439_819_264
