"""Where and how a run executes (RunConfig), with the choices it offers and the run
defaults a preset changes."""

from __future__ import annotations

import dataclasses
from typing import Any

from ssah_tf.config.method import PRESETS
from ssah_tf.errors import UserError
from ssah_tf.fields import check_fields, setting
from ssah_tf.map_variants import MAP_VARIANTS, map_variant_and_k

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


def check_map_variant(map_variant: str | None, top_k: int | None) -> None:
    """UserError when an mAP variant and its k do not go together (map_variants)."""

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
        choices=MAP_VARIANTS,
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
