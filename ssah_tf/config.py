"""Frozen configuration objects and the two presets.

``paper`` follows the CVPR 2018 paper; ``release`` reproduces the authors' TF1
code, bugs included. Every difference between the two is one named field, so
a preset only chooses defaults and any field can be overridden (``--preset``
plus per-field flags in the CLIs). The table in README.md lists them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from ssah_tf.errors import UserError

PRESETS = ("paper", "release")
PAPER_WINDOWS = (1, 2, 3, 5, 10)
RELEASE_WINDOWS = (5, 10, 15, 30, 50)


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Shapes and architectural choices of the five SSAH networks."""

    bits: int = 16
    num_labels: int = 24
    text_dim: int = 1386
    semantic_dim: int = 512
    hidden_dim: int = 4096
    # Multi-scale fusion pooling windows (SPEC 2, TxtNet).
    multiscale_windows: tuple[int, ...] = PAPER_WINDOWS
    # Release: both TxtNet heads read LRN(F^t). The paper is silent on LRN
    # placement, so the paper preset follows the release here.
    text_head_lrn: bool = True
    # Discriminator hidden widths: paper 4096-4096, release 512-256.
    discriminator_hidden: tuple[int, ...] = (4096, 4096)
    # Release bug: each discriminator is built twice without sharing weights
    # (four nets D_IL, D_L1, D_TL, D_L2); the paper has two shared nets.
    discriminator_shared: bool = True
    # 'normal': every new kernel, bias and multi-scale scalar N(0, 1) * init_stddev
    # (the release); 'glorot': Glorot-uniform kernels, zero biases, unit multi-scale
    # scalars. The paper does not say; the release's N(0, 0.01) leaves LabNet at the
    # Theta = 0 plateau on most data (docs/training.md).
    init_scheme: str = "glorot"
    init_stddev: float = 0.01
    # Dense inputs as (x - mean) / std with training-item statistics: 'auto' scales
    # unless every training value is 0 or 1 (tag vectors), 'on' / 'off' force it.
    # Image features only (the mlp backbone on a dataset's features); pixels keep their
    # own preprocessing.
    standardize_image_features: str = "auto"
    standardize_text: str = "auto"


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """How the SSAH objectives are computed (SPEC 3)."""

    # 'nll': -sum(S*T - softplus(T)) (paper eq. 3/4, stable);
    # 'squared_residual': l2(S*T - log(1+exp(T))) (release, literal, may overflow).
    pairwise_form: str = "nll"
    # Value of S_ij for similar pairs: 1 (paper) or 0.999 (release).
    similarity_value: float = 1.0
    # 'joint': B = sign(H^v + H^t + H^l) from the banks (paper 3.5);
    # 'own_batch': B = sign(H^x) of the same network's batch (release).
    quantization_target: str = "joint"
    # Factor in front of every sum of squares: 1 (paper's ||.||_F^2) or 0.5
    # (release: tf.nn.l2_loss).
    squares_factor: float = 1.0
    # 'least_squares': paper eq. 5, sum (D(x) - y)^2, generators receive the
    # adversarial gradient; 'release_cross_entropy': mean sigmoid CE, the
    # generator term reads stored features so it moves the discriminator only.
    adversarial_form: str = "least_squares"
    weight_feature_pair: float = 1.0  # alpha
    weight_hash_pair: float = 1.0  # gamma
    weight_quantization: float = 1.0  # eta in the paper (beta in the release code)
    weight_label: float = 1.0  # beta in the paper (eta in the release code)
    weight_adversarial: float = 1.0  # delta


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Adam settings (TF1 defaults: epsilon 1e-8, not Keras' 1e-7)."""

    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    # Decoupled weight decay (AdamW: w <- w - lr * weight_decay * w each step, biases
    # included); 0 = plain Adam, as the release.
    weight_decay: float = 0.0
    # Release: one Adam object for LabNet, ImgNet and TxtNet, so one shared
    # bias-correction counter; the paper preset gives each network its own.
    shared_hash_optimizer: bool = False


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Algorithm 1's state outside the networks."""

    # Initial memory banks: 'normal' N(0, 1) noise (the release) or 'zeros'. Noise
    # banks make the first stage fit random targets (every unwritten row is a random
    # F^l / H^l and enters B = sign(H^v + H^t + H^l)); zero rows add a constant.
    bank_init: str = "zeros"


@dataclasses.dataclass(frozen=True)
class SSAHConfig:
    """Everything that defines the method (not the data or the run)."""

    preset: str = "paper"
    network: NetworkConfig = NetworkConfig()
    loss: LossConfig = LossConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    training: TrainingConfig = TrainingConfig()


SECTIONS = {"network": NetworkConfig, "loss": LossConfig, "optimizer": OptimizerConfig,
            "training": TrainingConfig}


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
        },
        "optimizer": {"shared_hash_optimizer": True},
        "training": {"bank_init": "normal"},
    },
}

# What a run recorded before a field existed did: a config.json without the field
# resumes and evaluates with these values, not with today's defaults.
LEGACY_VALUES = {"init_scheme": "normal", "standardize_image_features": "off",
                 "standardize_text": "off", "bank_init": "normal"}

CHOICES = {
    "pairwise_form": ("nll", "squared_residual"),
    "quantization_target": ("joint", "own_batch"),
    "adversarial_form": ("least_squares", "release_cross_entropy"),
    "init_scheme": ("normal", "glorot"),
    "standardize_image_features": ("auto", "on", "off"),
    "standardize_text": ("auto", "on", "off"),
    "bank_init": ("normal", "zeros"),
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
    sections: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in _PRESET_OVERRIDES[preset].items()}
    fields = preset_fields()
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in fields:
            raise UserError(f"unknown configuration field {name!r}")
        if name in CHOICES and value not in CHOICES[name]:
            raise UserError(
                f"--{name}={value!r} is not valid; use one of {', '.join(CHOICES[name])}")
        sections[fields[name][0]][name] = value
    network = NetworkConfig(**sections["network"])
    if network.bits <= 0 or network.num_labels <= 0 or network.text_dim <= 0:
        raise UserError("bits, num_labels and text_dim must be positive")
    if network.multiscale_windows and max(network.multiscale_windows) > network.text_dim:
        raise UserError(
            f"text dimension {network.text_dim} is smaller than the largest multi-scale "
            f"pooling window {max(network.multiscale_windows)}; use smaller "
            "--multiscale_windows or a larger vocabulary")
    return SSAHConfig(preset=preset, network=network,
                      loss=LossConfig(**sections["loss"]),
                      optimizer=OptimizerConfig(**sections["optimizer"]),
                      training=TrainingConfig(**sections["training"]))


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


def to_dict(config: Any) -> Mapping[str, Any]:
    """A JSON-friendly dict of a (nested) config dataclass."""
    return dataclasses.asdict(config)


def _tuples(cls, values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON gives lists where a dataclass has tuples."""
    out = dict(values)
    for field in dataclasses.fields(cls):
        if field.name in out and isinstance(out[field.name], list):
            out[field.name] = tuple(out[field.name])
    return out


def from_dict(values: Mapping[str, Any]) -> SSAHConfig:
    """Inverse of :func:`to_dict` (e.g. a run's config.json). Fields a run recorded
    before they existed take :data:`LEGACY_VALUES` (what that code did)."""
    sections = {}
    for section, cls in SECTIONS.items():
        stored = dict(values.get(section, {}))
        for field in dataclasses.fields(cls):
            if field.name not in stored and field.name in LEGACY_VALUES:
                stored[field.name] = LEGACY_VALUES[field.name]
        sections[section] = cls(**_tuples(cls, stored))
    return SSAHConfig(preset=values["preset"], **sections)
