"""All five SSAH networks built from one configuration."""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from ssah_tf.config import NetworkConfig
from ssah_tf.models.discriminator import Discriminator
from ssah_tf.models.imgnet import ImgNet
from ssah_tf.models.labnet import LabNet
from ssah_tf.models.layers import Initialization
from ssah_tf.models.txtnet import TxtNet
from ssah_tf.vocabulary import (
    DISCRIMINATOR_KEYS,
    IMAGE_D,
    IMAGE_LABEL_D,
    NETWORK_OF,
    TEXT_D,
    TEXT_LABEL_D,
)


@dataclasses.dataclass
class SSAHNetworks:
    """LabNet, ImgNet, TxtNet and the discriminators.

    ``discriminators`` always has the release's four keys: IL (sees F^v), L1
    (sees F^l for the image game), TL (sees F^t), L2 (sees F^l for the text
    game). With shared discriminators (paper) IL is L1 and TL is L2.
    """

    labnet: LabNet
    imgnet: ImgNet | None
    txtnet: TxtNet | None
    discriminators: dict[str, Discriminator]

    def hash_network(self, network: str):
        """LabNet, ImgNet or TxtNet by its key (vocabulary.HASH_NETWORKS)."""
        return {"lab": self.labnet, "img": self.imgnet, "txt": self.txtnet}[network]

    def for_modality(self, modality: str):
        """The network that encodes ``modality`` (label, image, text)."""

        return self.hash_network(NETWORK_OF[modality])

    def checkpoint_items(self) -> dict[str, object]:
        """Trackables for ``tf.train.Checkpoint`` (each distinct net once)."""
        items: dict[str, object] = {"labnet": self.labnet}
        if self.imgnet is not None:
            items["imgnet"] = self.imgnet
        if self.txtnet is not None:
            items["txtnet"] = self.txtnet
        seen = set()
        for key in DISCRIMINATOR_KEYS:
            net = self.discriminators.get(key)
            if net is not None and id(net) not in seen:
                seen.add(id(net))
                items[f"discriminator_{key}"] = net
        return items

    def checkpoint(self) -> tf.train.Checkpoint:
        """A checkpoint of the network weights alone (what import/export write)."""
        return tf.train.Checkpoint(**self.checkpoint_items())


def initialization(config: NetworkConfig) -> Initialization:
    """The configured initialisation of every new (not pretrained) weight."""
    return Initialization(scheme=config.init_scheme, stddev=config.init_stddev)


def build_networks(
    config: NetworkConfig,
    *,
    imgnet_backbone: keras.layers.Layer | None,
    with_text: bool = True,
    compute_dtype: str = "float32",
    standardize_text: bool = False,
) -> SSAHNetworks:
    """Construct every network a configuration needs (call under ``strategy.scope()``).

    ``compute_dtype="bfloat16"``: mixed precision for TxtNet's hidden layer (the image
    backbone takes its own argument); the discriminators stay float32 — the release's
    are tiny, and bf16 adversarial logits moved the demo's mAP by up to 0.03 — as do
    weights, heads, losses and banks. ``standardize_text``: TxtNet standardises its
    input (dense texts; statistics set by the trainer).
    """
    init = initialization(config)
    common = dict(
        bits=config.bits, num_labels=config.num_labels, semantic_dim=config.semantic_dim, init=init
    )
    labnet = LabNet(hidden_dim=config.hidden_dim, name="labnet", **common)
    imgnet = (
        ImgNet(backbone=imgnet_backbone, name="imgnet", **common)
        if imgnet_backbone is not None
        else None
    )
    txtnet = (
        TxtNet(
            text_dim=config.text_dim,
            windows=config.multiscale_windows,
            hidden_dim=config.hidden_dim,
            text_head_lrn=config.text_head_lrn,
            compute_dtype=compute_dtype,
            standardize=standardize_text,
            name="txtnet",
            **common,
        )
        if with_text
        else None
    )

    def make(name: str) -> Discriminator:
        return Discriminator(
            semantic_dim=config.semantic_dim,
            hidden=config.discriminator_hidden,
            init=init,
            name=f"discriminator_{name}",
        )

    discriminators: dict[str, Discriminator] = {}
    if imgnet is not None:
        discriminators[IMAGE_D] = make(IMAGE_D)
        discriminators[IMAGE_LABEL_D] = (
            discriminators[IMAGE_D] if config.discriminator_shared else make(IMAGE_LABEL_D)
        )
    if txtnet is not None:
        discriminators[TEXT_D] = make(TEXT_D)
        discriminators[TEXT_LABEL_D] = (
            discriminators[TEXT_D] if config.discriminator_shared else make(TEXT_LABEL_D)
        )
    return SSAHNetworks(labnet, imgnet, txtnet, discriminators)
