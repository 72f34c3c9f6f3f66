"""Reading checkpoints written by the original TF1 release (docs/method.md §7).

The release's ``tf.train.Saver`` names variables by creation order
(``Variable``, ``Variable_1``, ...), ImgNet's by CNN-F layer index (``w0``,
``bias0``, ...) and the discriminators by scope. Kernels are stored as
convolutions; every one of them is a dense kernel after a row-major reshape
([1, a, 1, b] and [1, 1, a, b] -> [a, b]; TxtNet's [1, d_t, 6, H] -> [d_t * 6, H]),
and biases [1, b] -> [b]. Every dimension is read from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
import tensorflow as tf

from ssah_tf.config import RELEASE_WINDOWS, SSAHConfig, make_config
from ssah_tf.errors import UserError
from ssah_tf.models.cnnf import CNNFBackbone, read_cnnf_file
from ssah_tf.models.networks import SSAHNetworks, build_networks

# Scope of each release discriminator (docs/method.md §7) -> our key.
RELEASE_DISCRIMINATOR_SCOPES = {
    "IL": "disnet_IL/disnet_IL",
    "L1": "disnet_IL_1/disnet_IL",
    "TL": "disnet_TL/disnet_TL",
    "L2": "disnet_TL_1/disnet_TL",
}


@dataclasses.dataclass
class ReleaseModels:
    """A release checkpoint loaded into this project's networks.

    ``labnet``, ``imgnet``, ``txtnet`` map a batch to a result with fields
    ``hash``, ``feature``, ``label``; ``discriminators`` maps 'IL', 'L1', 'TL',
    'L2' to callables from [batch, 512] features to logits [batch].
    """

    networks: SSAHNetworks
    config: SSAHConfig
    # Release variable name -> our variable (for deltas and re-export).
    variables: dict[str, tf.Variable] = dataclasses.field(default_factory=dict)

    @property
    def labnet(self):
        return self.networks.labnet

    @property
    def imgnet(self):
        return self.networks.imgnet

    @property
    def txtnet(self):
        return self.networks.txtnet

    @property
    def discriminators(self):
        return self.networks.discriminators


def _variable_map(
    networks: SSAHNetworks, image_names: list[tuple[str, str]]
) -> list[tuple[str, tf.Variable]]:
    """(release name, our variable) for every variable of the release graph."""
    lab, txt, img = networks.labnet, networks.txtnet, networks.imgnet
    pairs: list[tuple[str, tf.Variable]] = []
    lab_layers = [lab.hidden, lab.semantic, lab.hash_head, lab.label_head]
    for i, layer in enumerate(lab_layers):
        pairs += [
            (f"Variable_{2 * i}" if i else "Variable", layer.kernel),
            (f"Variable_{2 * i + 1}", layer.bias),
        ]
    backbone: CNNFBackbone = img.backbone
    for index in sorted(backbone.kernels):
        pairs += [(f"w{index}", backbone.kernels[index]), (f"bias{index}", backbone.biases[index])]
    for (w_name, b_name), layer in zip(image_names, [img.semantic, img.hash_head, img.label_head]):
        pairs += [(w_name, layer.kernel), (b_name, layer.bias)]
    # The multi-scale scalars were created for windows 50, 30, 15, 10, 5.
    fusion = txt.fusion
    for offset, window in enumerate(sorted(fusion.windows, reverse=True)):
        pairs.append((f"Variable_{8 + offset}", fusion.scales[fusion.windows.index(window)]))
    for i, layer in enumerate([txt.hidden, txt.semantic, txt.hash_head, txt.label_head]):
        pairs += [(f"Variable_{13 + 2 * i}", layer.kernel), (f"Variable_{14 + 2 * i}", layer.bias)]
    for key, scope in RELEASE_DISCRIMINATOR_SCOPES.items():
        net = networks.discriminators[key]
        for layer, suffix in zip(net.hidden_layers + [net.out], ["fc1", "fc2", "out"]):
            pairs += [
                (f"{scope}_{suffix}/Variable", layer.kernel),
                (f"{scope}_{suffix}/Variable_1", layer.bias),
            ]
    return pairs


def _image_head_names(
    shapes: dict[str, list[int]], trunk_indices: list[int]
) -> list[tuple[str, str]]:
    """The release names its fc8/hash/label layers w<j> after the CNN-F layers: find them."""
    extra = sorted(
        int(m.group(1))
        for name in shapes
        if (m := re.fullmatch(r"w(\d+)", name)) and int(m.group(1)) not in trunk_indices
    )
    if len(extra) != 3:
        raise UserError(
            f"release checkpoint: expected 3 ImgNet head kernels after the CNN-F "
            f"layers, found {[f'w{j}' for j in extra]}"
        )
    return [(f"w{j}", f"bias{j}") for j in extra]


def load_release_checkpoint(
    checkpoint_prefix: str, cnnf_path: str, *, bits: int, num_labels: int, text_dim: int
) -> ReleaseModels:
    """Load a checkpoint written by the original release's ``SSAH.save``.

    Inputs of the returned networks follow the release's conventions: images
    N x 224 x 224 x 3 already mean-subtracted, texts N x d_t, labels N x c.
    """
    if not tf.io.gfile.exists(checkpoint_prefix + ".index"):
        raise UserError(
            f"no release checkpoint at {checkpoint_prefix} "
            f"({checkpoint_prefix}.index is missing); pass the prefix, e.g. .../SSAH-0"
        )
    reader = tf.train.load_checkpoint(checkpoint_prefix)
    shapes = reader.get_variable_to_shape_map()
    for required in (
        "Variable",
        "Variable_2",
        "Variable_3",
        "disnet_IL/disnet_IL_fc1/Variable_1",
        "disnet_IL/disnet_IL_fc2/Variable_1",
    ):
        if required not in shapes:
            raise UserError(
                f"{checkpoint_prefix}: variable {required!r} is missing; "
                "not a checkpoint of the SSAH release"
            )
    hidden_dim = shapes["Variable"][-1]
    semantic_dim = shapes["Variable_3"][-1]
    discriminator_hidden = (
        shapes["disnet_IL/disnet_IL_fc1/Variable_1"][-1],
        shapes["disnet_IL/disnet_IL_fc2/Variable_1"][-1],
    )
    config = make_config(
        "release",
        bits=bits,
        num_labels=num_labels,
        text_dim=text_dim,
        hidden_dim=hidden_dim,
        semantic_dim=semantic_dim,
        discriminator_hidden=discriminator_hidden,
        multiscale_windows=RELEASE_WINDOWS,
    )
    backbone = CNNFBackbone(read_cnnf_file(cnnf_path), name="cnnf")
    networks = build_networks(config.network, imgnet_backbone=backbone)
    image_names = _image_head_names(shapes, sorted(backbone.kernels))
    pairs = _variable_map(networks, image_names)
    missing, mismatched = [], []
    for name, variable in pairs:
        if name not in shapes:
            missing.append(name)
        elif int(np.prod(shapes[name])) != int(np.prod(variable.shape)):
            mismatched.append(f"{name} {shapes[name]} vs expected {list(variable.shape)}")
    if missing or mismatched:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if mismatched:
            problems.append("shape mismatch " + "; ".join(mismatched))
        raise UserError(
            f"{checkpoint_prefix} does not fit bits={bits}, num_labels={num_labels}, "
            f"text_dim={text_dim} and {os.path.basename(cnnf_path)}: " + " | ".join(problems)
        )
    for name, variable in pairs:
        variable.assign(np.reshape(reader.get_tensor(name), variable.shape))
    return ReleaseModels(networks=networks, config=config, variables=dict(pairs))
