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
    # Multi-scale fusion pooling windows (docs/method.md §2, TxtNet).
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
    """How the SSAH objectives are computed (docs/method.md §3)."""

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
    # What the image and text generator steps feed their discriminator, and whether
    # those steps also move it. Paper: the batch's features, with gradients to the
    # generator. Release: in the image stage the whole (just updated) image feature
    # bank, in the text stage the batch's stored features (constants); and because
    # its generator optimizers cover every variable, the generator steps update
    # D_IL / D_TL at the generator's learning rate (docs/method.md).
    adversarial_image_input: str = "batch"
    adversarial_text_input: str = "batch"
    generator_moves_discriminator: bool = False
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


# Run fields whose default follows the preset: the release selects its best epoch on
# the test queries (kept for parity, and said in its results).
_PRESET_RUN_DEFAULTS: dict[str, dict[str, Any]] = {"paper": {}, "release": {"select_on": "test"}}


def preset_run_defaults(preset: str) -> dict[str, Any]:
    """RunConfig values a preset changes from the RunConfig defaults."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    return dict(_PRESET_RUN_DEFAULTS[preset])


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

# What a run recorded before a field existed did: a config.json without the field
# resumes and evaluates with these values, not with today's defaults.
LEGACY_VALUES = {"init_scheme": "normal", "standardize_image_features": "off",
                 "standardize_text": "off", "bank_init": "normal"}
# Fields that earlier code derived from adversarial_form.
_LEGACY_FROM_ADVERSARIAL_FORM = {
    "release_cross_entropy": {"adversarial_image_input": "bank",
                              "adversarial_text_input": "stored_batch",
                              "generator_moves_discriminator": True},
    "least_squares": {"adversarial_image_input": "batch", "adversarial_text_input": "batch",
                      "generator_moves_discriminator": False},
}

CHOICES = {
    "pairwise_form": ("nll", "squared_residual"),
    "quantization_target": ("joint", "own_batch"),
    "adversarial_form": ("least_squares", "release_cross_entropy"),
    "init_scheme": ("normal", "glorot"),
    "standardize_image_features": ("auto", "on", "off"),
    "standardize_text": ("auto", "on", "off"),
    "bank_init": ("normal", "zeros"),
    "adversarial_image_input": ("batch", "bank"),
    "adversarial_text_input": ("batch", "stored_batch"),
}


def check_map_variant(map_variant: str | None, top_k: int | None) -> None:
    """UserError when an mAP variant and its k do not go together (metrics.map_variant_and_k)."""
    from ssah_tf.evaluation.metrics import map_variant_and_k

    try:
        map_variant_and_k(map_variant, top_k)
    except ValueError as error:
        message = str(error).replace("map_variant=", "--map_variant=").replace(
            "top_k=", "--map_top_k=").replace("needs top_k", "needs --map_top_k")
        raise UserError(message) from None


# Model selection's choices (evaluation/selection.py): the split the best checkpoint is
# chosen on, and how the selection directions combine.
SELECT_ON = ("validation", "test", "last")
SELECTION_CRITERIA = ("mean", "min")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Where and how a run executes (not the method)."""

    model_dir: str
    modalities: tuple[str, ...] = ("image", "text")
    backbone: str = "cnnf"
    cnnf_path: str | None = None
    vgg19_weights: str | None = None
    image_size: int = 224
    seed: int = 0
    eval_every: int = 1
    eval_batch_size: int = 256
    save_every_passes: int = 1
    # A pass-level checkpoint is also skipped until this many seconds passed since the
    # last one (stage and epoch ends always save), bounding I/O for short passes.
    checkpoint_interval_seconds: float = 60.0
    keep_checkpoints: int = 3
    steps_per_loop: int = 100
    # Model selection (README "What best means"): the split the best checkpoint is
    # chosen on ('validation', 'test' as the release does, or 'last'), how many
    # validation queries the split holds (split.npz keeps which), how the selection
    # directions combine ('mean' or 'min') and early stopping (evaluations without
    # improvement before training ends; 0 = never).
    select_on: str = "validation"
    val_size: int | None = None  # None: protocols.automatic_validation_size
    selection_criterion: str = "mean"
    early_stopping_patience: int = 0
    # The mAP variant evaluation and selection use (evaluation/metrics.py): 'all',
    # 'top_k' or 'first_k_relevant' with map_top_k as the k; None: 'top_k' when
    # map_top_k is set, else 'all'.
    map_variant: str | None = None
    map_top_k: int | None = None
    # Execution only (results equal within rounding): bf16 mixed precision for the
    # heavy matmuls/convolutions, and XLA compilation of every network's forward pass
    # (its gradient is compiled with it).
    mixed_precision: bool = False
    jit_compile: bool = False

    def __post_init__(self):
        for name, choices in (("select_on", SELECT_ON),
                              ("selection_criterion", SELECTION_CRITERIA)):
            if getattr(self, name) not in choices:
                raise UserError(f"--{name}={getattr(self, name)!r} is not valid; use one of "
                                f"{', '.join(choices)}")
        for name in ("val_size", "early_stopping_patience"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise UserError(f"--{name}={getattr(self, name)} must be >= 0")
        check_map_variant(self.map_variant, self.map_top_k)

    @property
    def compute_dtype(self) -> str:
        return "bfloat16" if self.mixed_precision else "float32"


# What a run recorded before a field existed did (see LEGACY_VALUES): it selected on
# validation queries when it had some, else on the test queries, by the mean, and
# never stopped early.
def legacy_run_values(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {"select_on": "validation" if stored.get("val_size") else "test",
            "selection_criterion": "mean", "early_stopping_patience": 0}


def run_from_dict(values: Mapping[str, Any], **overrides: Any) -> RunConfig:
    """A stored run record (config.json); fields it predates take their legacy values."""
    known = {f.name for f in dataclasses.fields(RunConfig)}
    stored = {k: v for k, v in values.items() if k in known}
    for name, value in legacy_run_values(stored).items():
        stored.setdefault(name, value)
    stored["modalities"] = tuple(stored.get("modalities", ()))
    stored.update(overrides)
    return RunConfig(**stored)


SCHEDULES = ("paper", "release")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """The training schedule as the user sets it: ``name`` selects a table of stages
    (:func:`schedule_table`); the paper table is built from the knobs below, the
    release's is fixed (its setting.py)."""

    name: str = "paper"
    epochs: int = 20
    batch_size: int = 128
    # Paper schedule knobs (ignored by the release schedule).
    lr_lab: float = 1e-3
    lr_img: float = 3e-4
    lr_txt: float = 3e-4
    lr_dis: float = 1e-4
    lr_decay: float = 0.9  # multiplied in once per epoch
    passes_lab: int = 2
    passes_img: int = 2
    passes_txt: int = 2
    passes_dis: int = 1
    # Paper schedule: a generator stage runs at least this many steps (whole passes),
    # so small training sets get as many updates per epoch as large ones: 2 passes of
    # 1,000 items at batch 128 are 14 steps, too few for LabNet to leave its start.
    min_stage_steps: int = 100


@dataclasses.dataclass(frozen=True)
class ScheduleTable:
    """Every choice a schedule makes, as data; the training loop reads only this."""

    stage_order: tuple[str, ...]  # the networks' stages in epoch order
    stage_passes: Mapping[str, tuple[int, ...]]  # per network: passes of each of its stages
    early_break: Mapping[str, str]  # per network: 'none', 'lab' or 'hash' (monitors.py)
    # 'decay': base_rates[x] * lr_decay ** epoch; 'release_lists': the release's
    # 0.1 ** (base_rates[x] + 0.5 * (epoch + stage)), its lists ending below 100.
    learning_rates: str
    base_rates: Mapping[str, float]
    lr_decay: float
    # 'shuffled_pass': a pass is a prefix of one shuffled permutation; 'permutation_prefix'
    # (release): every step takes the first batch_size of its own fresh permutation.
    batch_sampling: str
    min_stage_steps: int  # generator stages run at least this many steps


RELEASE_SCHEDULE = ScheduleTable(
    stage_order=("lab", "dis", "img", "txt"),
    stage_passes={"lab": (10, 5), "dis": (1, 1), "img": (15, 7, 5), "txt": (15, 7, 5)},
    early_break={"lab": "lab", "dis": "none", "img": "hash", "txt": "hash"},
    learning_rates="release_lists",
    base_rates={"lab": 2.0, "img": 4.5, "txt": 3.5, "dis": 3.0},
    lr_decay=1.0, batch_sampling="permutation_prefix", min_stage_steps=0)


def schedule_table(config: ScheduleConfig) -> ScheduleTable:
    """The table of ``config``: the only place a schedule's name is read."""
    if config.name == "release":
        return RELEASE_SCHEDULE
    if config.name != "paper":
        raise UserError(f"unknown schedule {config.name!r}; use paper or release")
    networks = ("lab", "img", "txt", "dis")  # Algorithm 1: discriminators last
    return ScheduleTable(
        stage_order=networks,
        stage_passes={n: (getattr(config, f"passes_{n}"),) for n in networks},
        early_break={n: "none" for n in networks}, learning_rates="decay",
        base_rates={n: getattr(config, f"lr_{n}") for n in networks}, lr_decay=config.lr_decay,
        batch_sampling="shuffled_pass", min_stage_steps=config.min_stage_steps)


# What a run recorded before a schedule field existed did (see LEGACY_VALUES).
LEGACY_SCHEDULE_VALUES = {"min_stage_steps": 0}


def schedule_from_dict(values: Mapping[str, Any]) -> ScheduleConfig:
    """A stored schedule (config.json); fields it predates take their legacy values."""
    known = {f.name for f in dataclasses.fields(ScheduleConfig)}
    stored = {k: v for k, v in values.items() if k in known}
    for name, value in LEGACY_SCHEDULE_VALUES.items():
        stored.setdefault(name, value)
    return ScheduleConfig(**stored)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs: the method, its schedule and the run."""

    ssah: SSAHConfig
    schedule: ScheduleConfig
    run: RunConfig


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
        legacy = dict(LEGACY_VALUES)
        if section == "loss":
            legacy.update(_LEGACY_FROM_ADVERSARIAL_FORM.get(stored.get("adversarial_form"), {}))
        for field in dataclasses.fields(cls):
            if field.name not in stored and field.name in legacy:
                stored[field.name] = legacy[field.name]
        sections[section] = cls(**_tuples(cls, stored))
    return SSAHConfig(preset=values["preset"], **sections)
