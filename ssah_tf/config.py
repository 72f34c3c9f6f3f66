"""Frozen configuration objects and the two presets.

``paper`` follows the CVPR 2018 paper; ``release`` reproduces the authors' TF1
code, bugs included. Every difference between the two is one named field, so
a preset only chooses defaults and any field can be overridden (``--preset``
plus per-field flags in the CLIs). The table in README.md lists them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ssah_tf.errors import UserError
from ssah_tf.fields import check_fields, declared, setting
from ssah_tf.vocabulary import NETWORKS

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
        choices=("auto", "on", "off"),
    )
    # Pictures the mlp backbone reads (flattened pixels): the statistics of the training
    # items' pictures, computed in one streamed pass.
    standardize_pixels: str = setting(
        "auto",
        "Pictures read by the mlp backbone (flattened pixels) as (x - mean) / std with "
        "training-item statistics: auto (= on), on, off. Other backbones use their "
        "own input scaling.",
        choices=("auto", "on", "off"),
    )
    standardize_text: str = setting(
        "auto",
        "Dense texts as (x - mean) / std with training-item statistics: auto (0/1 "
        "tag vectors kept), on, off.",
        choices=("auto", "on", "off"),
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


# Run fields whose default follows the preset: the release selects its best epoch on
# the test queries (kept for parity, and said in its results), by the plain criterion.
_PRESET_RUN_DEFAULTS: dict[str, dict[str, Any]] = {
    "paper": {},
    "release": {"select_on": "test", "selection_tolerance": 0.0},
}


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
LEGACY_VALUES = {
    "init_scheme": "normal",
    "standardize_image_features": "off",
    "standardize_pixels": "off",
    "standardize_text": "off",
    "bank_init": "normal",
}
# Fields that earlier code derived from adversarial_form.
_LEGACY_FROM_ADVERSARIAL_FORM = {
    "release_cross_entropy": {
        "adversarial_image_input": "bank",
        "adversarial_text_input": "stored_batch",
        "generator_moves_discriminator": True,
    },
    "least_squares": {
        "adversarial_image_input": "batch",
        "adversarial_text_input": "batch",
        "generator_moves_discriminator": False,
    },
}


def _choices() -> dict[str, tuple]:
    return {
        name: field.metadata["choices"]
        for cls in SECTIONS.values()
        for name, field in declared(cls).items()
        if field.metadata.get("choices")
    }


# field -> the values it accepts, for every method field that has a fixed set.
CHOICES = _choices()


def check_map_variant(map_variant: str | None, top_k: int | None) -> None:
    """UserError when an mAP variant and its k do not go together (metrics.map_variant_and_k)."""
    # The metric owns the definition; it sits above this module, so it is imported here.
    from ssah_tf.evaluation.metrics import map_variant_and_k

    try:
        map_variant_and_k(map_variant, top_k)
    except ValueError:
        if map_variant == "all":
            raise UserError(
                f"`map_top_k={top_k}` is given with `map_variant='all'`, which "
                "ranks the whole database; choose `map_variant=top_k` or "
                "`map_variant=first_k_relevant`, or drop `map_top_k`"
            ) from None
        if top_k is None:
            raise UserError(f"`map_variant={map_variant!r}` needs `map_top_k` (the k)") from None
        raise UserError(
            f"`map_variant={map_variant!r}`, `map_top_k={top_k}`: the variant is "
            "one of all, top_k, first_k_relevant and the k positive"
        ) from None


SCHEDULES = ("paper", "release")
# ImgNet's backbones (models/imgnet.py builds them); auto picks one from the data.
BACKBONE_CHOICES = ("auto", "cnnf", "vgg19", "mlp", "mobilenet_v2", "efficientnet_b0", "resnet50")
# Each backbone's picture side when image_size is not given: CNN-F's fc6 needs 224, the
# MLP reads small pictures (224 x 224 x 3 inputs would give it 150k weights per unit).
DEFAULT_IMAGE_SIZE = {name: 224 for name in BACKBONE_CHOICES if name != "auto"} | {"mlp": 32}

# Model selection's choices (evaluation/selection.py): the split the best checkpoint is
# chosen on, and how the selection directions combine.
SELECT_ON = ("validation", "test", "last")
SELECTION_CRITERIA = ("mean", "min")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Where and how a run executes (not the method)."""

    model_dir: str = setting(
        None,
        "Run directory (default: workspace/runs/<dataset>_<preset>_<bits>b_<time>).",
        flag=False,
    )
    modalities: tuple[str, ...] = setting(
        ("image", "text"),
        "What trains besides labels: image and text, or one of them (text: LabNet + TxtNet only).",
        flag=False,
    )
    backbone: str = setting(
        "auto",
        "ImgNet backbone (docs/pictures.md): cnnf, vgg19, mlp (image features, or small "
        "pictures flattened), or a Keras application: mobilenet_v2, efficientnet_b0, "
        "resnet50. auto = cnnf with cnnf_path, else mlp.",
        choices=BACKBONE_CHOICES,
    )
    cnnf_path: str | None = setting(None, "MatConvNet imagenet-vgg-f.mat for backbone=cnnf.")
    vgg19_weights: str | None = setting(None, "Keras VGG-19 ImageNet weights (.h5) for vgg19.")
    backbone_weights: str | None = setting(
        None,
        "What a picture backbone starts from: imagenet (Keras downloads the weights once "
        "into ~/.keras/models), a local weights file (Keras applications: the *_notop.h5 "
        "file), or random (from scratch; SSAH assumes pre-trained weights). Default: "
        "cnnf_path / vgg19_weights, imagenet for the Keras applications.",
    )
    freeze_backbone: bool = setting(
        False,
        "Keep the picture backbone's weights fixed and train only ImgNet's layers after "
        "it (default: fine-tune it, as SSAH does).",
    )
    image_size: int | None = setting(
        None,
        "Picture side the image network reads (default: 224 for cnnf, vgg19 and the Keras "
        "applications, 32 for mlp on pictures).",
        rule="positive_int",
    )
    seed: int = setting(0, "Seed of weights, banks and batch sampling.", rule="non_negative_int")
    eval_every: int = setting(
        1, "Evaluate every N epochs (0: only at the end).", rule="non_negative_int"
    )
    eval_batch_size: int = setting(
        256, "Batch size of encoding for evaluation.", rule="positive_int"
    )
    save_every_passes: int = setting(
        1, "Checkpoint after every N passes of a stage.", rule="non_negative_int"
    )
    checkpoint_interval_seconds: float = setting(
        60.0,
        "Pass checkpoints are skipped until this long since the last save (0: every "
        "save_every_passes passes); epoch ends always save.",
        rule="non_negative",
    )
    # Each checkpoint holds the weights, their Adam moments and the banks (the paper
    # preset's 4096-wide discriminators: about 0.75 GB); the run says how much at its
    # first save.
    keep_checkpoints: int = setting(
        2,
        "Recent checkpoints to keep in checkpoints/ (plus one in best/): the run's disk "
        "use is about (keep_checkpoints + 1) checkpoints.",
        rule="positive_int",
    )
    steps_per_loop: int = setting(
        100,
        "Steps per tf.function call (stop signals are checked between).",
        rule="non_negative_int",
    )
    # Model selection (README "What best means").
    select_on: str = setting(
        "validation",
        "Where the best checkpoint (best/, the default of ssah-eval and "
        "ssah-export) is chosen: validation queries, the test queries as the release does "
        "(its preset; optimistic), or the last epoch.",
        choices=SELECT_ON,
    )
    val_size: int | None = setting(
        None,
        "Validation queries (default: as many as the test queries, from the database "
        "items outside the training set; where the database is the training set, a tenth "
        "of the training items are held out of training instead). 0: none. Kept in "
        "split.npz.",
        rule="non_negative_int",
    )
    # min: a checkpoint is only as good as its weaker direction (docs/training.md, "Model
    # selection": the mean let one direction fall below the linear baseline).
    selection_criterion: str = setting(
        "min",
        "How the selection directions (image<->text, else label/self retrieval) "
        "combine: their mean or the smaller of them.",
        choices=SELECTION_CRITERIA,
    )
    # 0.005: about one of 200 validation queries going from right to wrong; the demo and
    # MIRFLICKR-25K runs that `min` alone cut short (docs/training.md, "Model selection").
    selection_tolerance: float = setting(
        0.005,
        "min criterion: an evaluation whose weaker direction is within this much of the "
        "best weaker direction so far and whose mean of the directions is higher becomes "
        "the best (0: the plain min).",
        rule="non_negative",
    )
    # 5: on the tuning runs with these defaults no later best came after more than 2
    # evaluations without one (docs/training.md, "Model selection").
    early_stopping_patience: int = setting(
        5,
        "Stop after this many evaluations in a row without a new best on the validation "
        "queries (0: never).",
        rule="non_negative_int",
    )
    map_variant: str | None = setting(
        None,
        "mAP definition (README: How to report a number): all, top_k, "
        "first_k_relevant; default: top_k with map_top_k, else all. Evaluation and "
        "selection use it.",
        choices=("all", "top_k", "first_k_relevant"),
    )
    map_top_k: int | None = setting(
        None,
        "The k of map_variant (alone: mAP@k, top_k), under map_<direction>@<k>.",
        rule="positive_int",
    )
    # Execution only (results equal within rounding).
    mixed_precision: bool = setting(
        False, "bf16 matmuls/convolutions on float32 weights (image backbone, TxtNet hidden layer)."
    )
    jit_compile: bool = setting(False, "XLA-compile every network's forward pass.")

    def __post_init__(self):
        check_fields(self)
        if (
            isinstance(self.modalities, str)
            or not set(self.modalities) <= {"image", "text"}
            or not self.modalities
        ):
            raise UserError(f"`modalities={self.modalities!r}` is not valid; use image and/or text")
        check_map_variant(self.map_variant, self.map_top_k)

    @property
    def compute_dtype(self) -> str:
        return "bfloat16" if self.mixed_precision else "float32"

    @property
    def picture_size(self) -> int:
        """The picture side the image network reads: ``image_size``, else the backbone's."""
        return self.image_size or DEFAULT_IMAGE_SIZE.get(self.backbone, 224)


# What a run recorded before a field existed did (see LEGACY_VALUES): it selected on
# validation queries when it had some, else on the test queries, by the mean (or, before
# selection_tolerance existed, by the plain criterion it names), and never stopped early.
def legacy_run_values(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "select_on": "validation" if stored.get("val_size") else "test",
        "selection_criterion": "mean",
        "selection_tolerance": 0.0,
        "early_stopping_patience": 0,
    }


def legacy_run_record(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored run record completed with what the code of its time did."""
    out = {**legacy_run_values(stored), **stored}
    if "backbone_weights" not in stored:
        # Before backbone_weights existed the mlp backbone read pictures (the demo's) at
        # 32 x 32 whatever image_size said, and image_size meant 224 for the others.
        out["image_size"] = 32 if stored.get("backbone") == "mlp" else stored.get("image_size")
    return out


def run_from_dict(values: Mapping[str, Any], **overrides: Any) -> RunConfig:
    """A stored run record (config.json); fields it predates take their legacy values."""
    known = {f.name for f in dataclasses.fields(RunConfig)}
    stored = {k: v for k, v in legacy_run_record(values).items() if k in known}
    stored["modalities"] = tuple(stored.get("modalities", ()))
    stored.update(overrides)
    return RunConfig(**stored)


# Epochs of each schedule when not given: the paper preset's 20; the release's
# setting.py says 500 (its learning-rate lists stop it near epoch 189).
DEFAULT_EPOCHS = {"paper": 20, "release": 500}


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """The training schedule as the user sets it: ``name`` selects a table of stages
    (:func:`schedule_table`); the paper table is built from the knobs below, the
    release's is fixed (its setting.py)."""

    name: str = setting(
        "paper",
        "Training schedule: paper, or release = its setting.py exactly (docs/method.md §4).",
        choices=SCHEDULES,
        flag=False,
    )
    epochs: int | None = setting(
        None,
        "Epochs (default: 20 paper, 500 release as setting.py; "
        "the release's learning-rate lists stop it near epoch 189).",
        rule="positive_int",
    )
    batch_size: int = setting(
        128, "Global batch size (split across replicas).", rule="positive_int"
    )
    # Paper schedule knobs (ignored by the release schedule). Learning rates from a sweep
    # on the demo (experiments/RESULTS.md): lab 1e-3 beat 1e-2 and 1e-4; img = txt = 3e-4
    # beat 1e-4 and 1e-3.
    lr_lab: float = setting(1e-3, "Paper schedule: Adam learning rate of LabNet.", rule="positive")
    lr_img: float = setting(3e-4, "Paper schedule: Adam learning rate of ImgNet.", rule="positive")
    lr_txt: float = setting(3e-4, "Paper schedule: Adam learning rate of TxtNet.", rule="positive")
    lr_dis: float = setting(
        1e-4, "Paper schedule: Adam learning rate of the discriminators.", rule="positive"
    )
    lr_decay: float = setting(
        0.9, "Paper schedule: learning-rate factor per epoch.", rule="positive"
    )
    passes_lab: int = setting(2, "Paper schedule: passes of LabNet per epoch.", rule="positive_int")
    passes_img: int = setting(2, "Paper schedule: passes of ImgNet per epoch.", rule="positive_int")
    passes_txt: int = setting(2, "Paper schedule: passes of TxtNet per epoch.", rule="positive_int")
    passes_dis: int = setting(
        1, "Paper schedule: passes of the discriminators per epoch.", rule="positive_int"
    )
    # 2 passes of 1,000 items at batch 128 are 14 steps, too few for LabNet to leave its
    # start.
    min_stage_steps: int = setting(
        100,
        "Paper schedule: LabNet, ImgNet and TxtNet stages run "
        "at least this many steps (more passes on small training "
        "sets).",
        rule="non_negative_int",
    )

    def __post_init__(self):
        check_fields(self)
        if self.epochs is None:
            object.__setattr__(self, "epochs", DEFAULT_EPOCHS[self.name])


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
    lr_decay=1.0,
    batch_sampling="permutation_prefix",
    min_stage_steps=0,
)


def schedule_table(config: ScheduleConfig) -> ScheduleTable:
    """The table of ``config``: the only place a schedule's name is read."""
    if config.name == "release":
        return RELEASE_SCHEDULE
    if config.name != "paper":
        raise UserError(f"unknown schedule {config.name!r}; use paper or release")
    networks = NETWORKS  # Algorithm 1's order: LabNet, ImgNet, TxtNet, discriminators last
    return ScheduleTable(
        stage_order=networks,
        stage_passes={n: (getattr(config, f"passes_{n}"),) for n in networks},
        early_break={n: "none" for n in networks},
        learning_rates="decay",
        base_rates={n: getattr(config, f"lr_{n}") for n in networks},
        lr_decay=config.lr_decay,
        batch_sampling="shuffled_pass",
        min_stage_steps=config.min_stage_steps,
    )


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
