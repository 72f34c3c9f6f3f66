"""The method's configuration: network, loss, optimizer and training sections, and the
two presets.

``paper`` follows the CVPR 2018 paper; ``release`` reproduces the authors' TF1
code, bugs included. Every difference between the two is one named field, so
a preset only chooses defaults and any field can be overridden (``--preset``
plus per-field flags in the CLIs). The table in README.md lists them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ssah_tf.errors import UserError
from ssah_tf.fields import check_fields, setting
from ssah_tf.vocabulary import SWITCH_CHOICES

PRESETS = ("paper", "release")
PAPER_WINDOWS = (1, 2, 3, 5, 10)
RELEASE_WINDOWS = (5, 10, 15, 30, 50)


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Shapes and architectural choices of the five SSAH networks."""

    bits: int = setting(16, "Code length K in bits.", rule="positive_int")
    num_labels: int = setting(24, "Label classes (default: the data's).", rule="positive_int")
    text_dim: int = setting(1386, "Text vector length (default: the data's).", rule="positive_int")
    semantic_dim: int = setting(512, "Width of the semantic features F.", rule="positive_int")
    hidden_dim: int = setting(
        4096, "Width of the hidden layers (LabNet, TxtNet, mlp backbone).", rule="positive_int"
    )
    multiscale_windows: tuple[int, ...] = setting(
        PAPER_WINDOWS,
        "TxtNet's multi-scale pooling windows (docs/method.md §2).",
        rule="positive_ints",
    )
    # The paper is silent on LRN placement, so the paper preset follows the release here.
    text_head_lrn: bool = setting(True, "TxtNet's heads read LRN(F^t), as the release.")
    discriminator_hidden: tuple[int, ...] = setting(
        (4096, 4096),
        "Discriminator hidden widths (paper 4096,4096; release 512,256).",
        rule="positive_ints",
    )
    discriminator_shared: bool = setting(
        True,
        "Two shared discriminators (paper); False: the release bug, each built twice "
        "(D_IL, D_L1, D_TL, D_L2).",
    )
    # The release's N(0, 0.01) leaves LabNet at the Theta = 0 plateau on most data
    # (docs/training.md).
    init_scheme: str = setting(
        "glorot",
        "New weights: glorot (Glorot-uniform kernels, zero biases, unit multi-scale "
        "scalars) or normal (the release: N(0, 1) * init_stddev everywhere).",
        choices=("normal", "glorot"),
    )
    init_stddev: float = setting(0.01, "Standard deviation of init_scheme=normal.", rule="positive")
    # Image features only (the mlp backbone on a dataset's features); pixels keep their
    # own preprocessing.
    standardize_image_features: str = setting(
        "auto",
        "Dense image features as (x - mean) / std with training-item statistics: "
        "auto (unless every value is 0/1), on, off.",
        choices=SWITCH_CHOICES,
    )
    # Pictures the mlp backbone reads (flattened pixels): the statistics of the training
    # items' pictures, computed in one streamed pass.
    standardize_pixels: str = setting(
        "auto",
        "Pictures read by the mlp backbone (flattened pixels) as (x - mean) / std with "
        "training-item statistics: auto (= on), on, off. Other backbones use their "
        "own input scaling.",
        choices=SWITCH_CHOICES,
    )
    standardize_text: str = setting(
        "auto",
        "Dense texts as (x - mean) / std with training-item statistics: auto (0/1 "
        "tag vectors kept), on, off.",
        choices=SWITCH_CHOICES,
    )

    def __post_init__(self):
        check_fields(self)
        if self.multiscale_windows and max(self.multiscale_windows) > self.text_dim:
            raise UserError(
                f"text dimension {self.text_dim} is smaller than the largest multi-scale "
                f"pooling window {max(self.multiscale_windows)}; use smaller "
                "`multiscale_windows` or a larger vocabulary"
            )


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """How the SSAH objectives are computed (docs/method.md §3)."""

    pairwise_form: str = setting(
        "nll",
        "Pairwise terms: nll, -sum(S*T - softplus(T)) (paper eq. 3/4, stable), or "
        "squared_residual, l2(S*T - log(1+exp(T))) (the release, literal, may overflow).",
        choices=("nll", "squared_residual"),
    )
    similarity_value: float = setting(
        1.0, "S_ij of similar pairs (release: 0.999).", rule="unit_open_left"
    )
    quantization_target: str = setting(
        "joint",
        "B of the quantisation term: joint, sign(H^v + H^t + H^l) from the banks "
        "(paper 3.5), or own_batch, sign of the network's own batch output (release).",
        choices=("joint", "own_batch"),
    )
    squares_factor: float = setting(
        1.0, "Factor of every sum of squares (release: 0.5, tf.nn.l2_loss).", rule="positive"
    )
    adversarial_form: str = setting(
        "least_squares",
        "least_squares: paper eq. 5 with gradients to the generators; "
        "release_cross_entropy: mean sigmoid CE on stored features (moves the discriminator "
        "only).",
        choices=("least_squares", "release_cross_entropy"),
    )
    # The release feeds, in the image stage, the whole (just updated) image feature bank,
    # in the text stage the batch's stored features (constants); and because its
    # generator optimizers cover every variable, the generator steps update D_IL / D_TL
    # at the generator's learning rate (docs/method.md).
    adversarial_image_input: str = setting(
        "batch",
        "What the image step feeds D_IL: the batch's features, or the release's "
        "whole image feature bank.",
        choices=("batch", "bank"),
    )
    adversarial_text_input: str = setting(
        "batch",
        "What the text step feeds D_TL: the batch's features, or the release's "
        "stored copy (constants).",
        choices=("batch", "stored_batch"),
    )
    generator_moves_discriminator: bool = setting(
        False, "The release: the image and text optimizers also update D_IL / D_TL."
    )
    weight_feature_pair: float = setting(
        1.0, "alpha: weight of the feature pairwise term.", rule="non_negative"
    )
    weight_hash_pair: float = setting(
        1.0, "gamma: weight of the hash pairwise term.", rule="non_negative"
    )
    weight_quantization: float = setting(
        1.0, "eta (the release's beta): weight of the quantisation term.", rule="non_negative"
    )
    weight_label: float = setting(
        1.0, "beta (the release's eta): weight of the label prediction term.", rule="non_negative"
    )
    weight_adversarial: float = setting(
        1.0, "delta: weight of the adversarial term.", rule="non_negative"
    )

    def __post_init__(self):
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Adam settings (TF1 defaults: epsilon 1e-8, not Keras' 1e-7)."""

    adam_beta1: float = setting(0.9, "Adam beta1.", rule="unit_open_right")
    adam_beta2: float = setting(0.999, "Adam beta2.", rule="unit_open_right")
    adam_epsilon: float = setting(1e-8, "Adam epsilon (TF1's 1e-8).", rule="positive")
    weight_decay: float = setting(
        0.0,
        "Decoupled weight decay (AdamW: w <- w - lr * weight_decay * w each step, "
        "biases included); 0 = plain Adam, as the release.",
        rule="non_negative",
    )
    shared_hash_optimizer: bool = setting(
        False,
        "The release: one Adam (one bias-correction counter) for LabNet, ImgNet and "
        "TxtNet; the paper preset gives each network its own.",
    )

    def __post_init__(self):
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Algorithm 1's state outside the networks."""

    # Noise banks make the first stage fit random targets (every unwritten row is a random
    # F^l / H^l and enters B = sign(H^v + H^t + H^l)); zero rows add a constant.
    bank_init: str = setting(
        "zeros",
        "Initial memory banks: zeros, or the release's N(0, 1) noise (normal).",
        choices=("normal", "zeros"),
    )

    def __post_init__(self):
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class SSAHConfig:
    """Everything that defines the method (not the data or the run)."""

    preset: str = "paper"
    network: NetworkConfig = NetworkConfig()
    loss: LossConfig = LossConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    training: TrainingConfig = TrainingConfig()

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise UserError(
                f"`preset={self.preset!r}` is not valid; use one of {', '.join(PRESETS)}"
            )


SECTIONS = {
    "network": NetworkConfig,
    "loss": LossConfig,
    "optimizer": OptimizerConfig,
    "training": TrainingConfig,
}


_PRESET_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"network": {}, "loss": {}, "optimizer": {}, "training": {}},
    "release": {
        "network": {
            "multiscale_windows": RELEASE_WINDOWS,
            "text_head_lrn": True,
            "discriminator_hidden": (512, 256),
            "discriminator_shared": False,
            "init_scheme": "normal",
        },
        "loss": {
            "pairwise_form": "squared_residual",
            "similarity_value": 0.999,
            "quantization_target": "own_batch",
            "squares_factor": 0.5,
            "adversarial_form": "release_cross_entropy",
            "adversarial_image_input": "bank",
            "adversarial_text_input": "stored_batch",
            "generator_moves_discriminator": True,
        },
        "optimizer": {"shared_hash_optimizer": True},
        "training": {"bank_init": "normal"},
    },
}


def preset_fields() -> dict[str, tuple[str, dataclasses.Field]]:
    """Map every overridable field name to (section, dataclass field)."""
    out = {}
    for section, cls in SECTIONS.items():
        for field in dataclasses.fields(cls):
            out[field.name] = (section, field)
    return out


def make_config(preset: str = "paper", **overrides: Any) -> SSAHConfig:
    """Build a config from a preset plus per-field overrides (flat names)."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    sections: dict[str, dict[str, Any]] = {k: dict(v) for k, v in _PRESET_OVERRIDES[preset].items()}
    fields = preset_fields()
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in fields:
            raise UserError(f"unknown configuration field {name!r}")
        sections[fields[name][0]][name] = tuple(value) if isinstance(value, list) else value
    return SSAHConfig(
        preset=preset,
        network=NetworkConfig(**sections["network"]),
        loss=LossConfig(**sections["loss"]),
        optimizer=OptimizerConfig(**sections["optimizer"]),
        training=TrainingConfig(**sections["training"]),
    )


def preset_differences() -> list[tuple[str, Any, Any]]:
    """(field, paper default, release default) for every field that differs."""
    paper, release = make_config("paper"), make_config("release")
    rows = []
    for name, (section, _) in preset_fields().items():
        a = getattr(getattr(paper, section), name)
        b = getattr(getattr(release, section), name)
        if a != b:
            rows.append((name, a, b))
    return rows
