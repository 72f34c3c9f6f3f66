"""A run directory: building a run's networks, loading them (weights only) for
evaluation, export and encoding, the run's exclusive lock and its config records.

TensorFlow, the networks and the evaluator load inside the functions that build or
restore them: reading a run's records (session.py, under the command-line tools'
flag parsing) does not start TensorFlow.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import socket
import time

import numpy as np

from ssah_tf.data.protocols import legacy_validation, load_split
from ssah_tf.data.registry import load_dataset, split_path
from ssah_tf.data.scaling import fit_standardizer, wants_scaling
from ssah_tf.errors import UserError
from ssah_tf.training.binding import check_binding
from ssah_tf.training.run_record import read_run_config


def chief_and_scratch_dir(strategy, model_dir: str) -> tuple[bool, str]:
    """(is this the chief?, where a non-chief worker writes what it must write)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, model_dir
    task_type, task_id = resolver.task_type, resolver.task_id
    cluster = resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in cluster
    )
    return chief, os.path.join(model_dir, f".worker_{task_type}_{task_id}")


@dataclasses.dataclass
class RunNetworks:
    """A run's networks and the inputs they read."""

    networks: object  # models.networks.SSAHNetworks
    feature_matrix: np.ndarray | None  # image features for the mlp backbone (raw)
    pixel_images: bool  # ImgNet reads pictures (any backbone but mlp on features)
    input_scaling: tuple[str, ...]  # modalities standardised inside the networks


def missing_modality(modalities, data) -> str | None:
    """The one-line refusal of ``modalities`` that ``data`` lacks (None: it has them)."""
    for modality, other in (("image", "text"), ("text", "image")):
        if modality in modalities and modality not in data.modalities:
            return (
                f"`modalities` asks for {modality} but {data.name} has no {modality}; use "
                f"`modalities={other}`"
            )
    return None


def check_modalities(run, data) -> tuple[bool, bool]:
    """(images?, texts?) the run trains; UserError when the data lacks one of them."""
    problem = missing_modality(run.modalities, data)
    if problem:
        raise UserError(problem)
    return "image" in run.modalities, "text" in run.modalities


def make_evaluator(built: RunNetworks, data, split, run):
    """The evaluator of a run's networks on its data and split."""
    from ssah_tf.evaluation.evaluator import Evaluator

    return Evaluator(
        built.networks,
        data,
        split,
        modalities=run.modalities,
        feature_matrix=built.feature_matrix,
        pixel_images=built.pixel_images,
        image_size=run.picture_size,
        batch_size=run.eval_batch_size,
        map_variant=run.map_variant,
        top_k=run.map_top_k,
        jit_compile=run.jit_compile,
    )


def image_input(run, data) -> str | None:
    """What ImgNet reads: 'features' (the data's image feature vectors, mlp backbone),
    'pixels' (its pictures) or None (no image network)."""
    if "image" not in run.modalities:
        return None
    if run.backbone == "mlp" and data.image_features is not None:
        return "features"
    if data.images is None:
        raise UserError(
            f"`backbone={run.backbone}` reads pictures but {data.name} has image feature "
            "vectors only; use `backbone=mlp`"
        )
    return "pixels"


def check_input_scaling(network, run, reads: str | None) -> None:
    """UserError for a standardisation setting that cannot apply to what ImgNet reads
    (rather than ignoring it)."""
    if network.standardize_image_features == "on" and reads == "pixels":
        raise UserError(
            "`standardize_image_features=on` applies to image feature vectors, but this "
            "run's ImgNet reads pictures; use `standardize_pixels` (mlp backbone)"
        )
    if network.standardize_pixels == "on" and reads == "pixels" and run.backbone != "mlp":
        raise UserError(
            f"`standardize_pixels=on` applies to the mlp backbone; {run.backbone} scales "
            "its pictures its own way"
        )


def build_run_networks(
    ssah, run, data, train_index: np.ndarray, *, fit_statistics: bool = True
) -> RunNetworks:
    """The networks a run's configuration describes (call under ``strategy.scope()``),
    with the training items' input statistics in their scaling layers.

    ``fit_statistics=False`` (a checkpoint restores every weight next, the statistics
    and pre-trained backbone weights included): the layers are built but not filled,
    and no pre-trained weights are loaded."""
    from ssah_tf.data.pipeline import pixel_statistics
    from ssah_tf.models.imgnet import make_backbone, resolve_weights
    from ssah_tf.models.networks import build_networks, initialization

    reads = image_input(run, data)
    has_text = "text" in run.modalities
    check_input_scaling(ssah.network, run, reads)
    features = data.image_features if reads == "features" else None
    # Dense inputs are standardised with the training items' statistics (0/1 tags keep
    # their form), and so are the mlp backbone's pictures; the statistics live in the
    # networks.
    if reads == "features":
        scale_image = wants_scaling(
            ssah.network.standardize_image_features, features[train_index], "image_features"
        )
    else:
        scale_image = (
            reads == "pixels" and run.backbone == "mlp" and ssah.network.standardize_pixels != "off"
        )
    scale_text = has_text and wants_scaling(
        ssah.network.standardize_text, data.texts[train_index], "text"
    )
    backbone = None
    if reads is not None:
        backbone = make_backbone(
            run.backbone,
            weights=resolve_weights(
                run.backbone,
                weights=run.backbone_weights,
                cnnf_path=run.cnnf_path,
                vgg19_weights=run.vgg19_weights,
            ),
            image_size=run.picture_size,
            image_feature_dim=features.shape[1] if features is not None else None,
            hidden_dim=ssah.network.hidden_dim,
            init=initialization(ssah.network),
            compute_dtype=run.compute_dtype,
            standardize_input=scale_image,
            frozen=run.freeze_backbone,
            pretrained=fit_statistics,
            seed=run.seed,
        )
    networks = build_networks(
        ssah.network,
        imgnet_backbone=backbone,
        with_text=has_text,
        compute_dtype=run.compute_dtype,
        standardize_text=scale_text,
    )
    if fit_statistics and scale_image:
        scaler = (
            fit_standardizer(features[train_index])
            if reads == "features"
            else pixel_statistics(data, train_index, backbone.preprocess, run.picture_size)
        )
        backbone.input_scaling.set_statistics(scaler.mean, scaler.scale)
    if fit_statistics and scale_text:
        scaler = fit_standardizer(data.texts[train_index])
        networks.txtnet.input_scaling.set_statistics(scaler.mean, scaler.scale)
    scaled = tuple(m for m, on in (("image", scale_image), ("text", scale_text)) if on)
    return RunNetworks(networks, features, reads == "pixels", scaled)


@dataclasses.dataclass
class LoadedRun:
    """A run reopened for evaluation, export or encoding: no optimizer, bank or writer."""

    model_dir: str
    config: object  # config.TrainConfig
    data: object
    split: object
    built: RunNetworks
    evaluator: object  # evaluation.evaluator.Evaluator
    checkpoint: str
    data_config: object = None  # data.registry.DataConfig
    # What differs from the data and split the run was trained on, allowed by
    # `allow_data_change` (training.binding); recorded with its evaluations.
    data_changed: tuple[str, ...] = ()

    @property
    def networks(self):
        return self.built.networks


def checkpoint_path(model_dir: str, which: str) -> str:
    """The run's best or latest checkpoint, or ``which`` itself as a prefix."""
    import tensorflow as tf

    if which in ("best", "latest"):
        path = tf.train.latest_checkpoint(
            os.path.join(model_dir, "best" if which == "best" else "checkpoints")
        )
    else:
        path = which
    if not path or not tf.io.gfile.exists(path + ".index"):
        where = (
            ("best/" if which == "best" else "checkpoints/")
            if which in ("best", "latest")
            else which
        )
        raise UserError(
            f"no {which} checkpoint found for {model_dir} (looked in {where}); "
            "train the run first, copy its best/ and checkpoints/ folders with it, "
            "or pass `checkpoint=latest` or a ckpt-N prefix"
        )
    return path


def load_run_split(model_dir: str, data, data_config, run):
    """A run's split.npz, with the validation queries of a run recorded before the
    file kept them (protocols.legacy_validation)."""

    split = load_split(
        split_path(model_dir), data.num_items, allow_overlap=data_config.allow_query_overlap
    )
    return legacy_validation(split, run.val_size or 0)


def open_run(
    model_dir: str, which: str = "best", *, allow_data_change: bool = False, **run_overrides
) -> LoadedRun:
    """A run's networks with the weights of its ``which`` checkpoint (best, latest or
    a path), and an evaluator on its data and split. Data or a split other than the
    run's are refused unless ``allow_data_change`` (training.binding)."""
    import tensorflow as tf

    config, data_config, record = read_run_config(model_dir, **run_overrides)
    path = checkpoint_path(model_dir, which)
    data = load_dataset(data_config)
    split = load_run_split(model_dir, data, data_config, config.run)
    changed = check_binding(
        model_dir, record, data, split, path, allow_data_change=allow_data_change
    )
    built = build_run_networks(
        config.ssah, config.run, data, np.asarray(split.train, np.int64), fit_statistics=False
    )
    try:
        tf.train.Checkpoint(**built.networks.checkpoint_items()).read(path).expect_partial()
    except (tf.errors.OpError, ValueError, IndexError, KeyError) as error:
        raise UserError(
            f"checkpoint {path} cannot be read ({type(error).__name__}); "
            "choose another `checkpoint`"
        ) from None
    return LoadedRun(
        model_dir,
        config,
        data,
        split,
        built,
        make_evaluator(built, data, split, config.run),
        path,
        data_config,
        tuple(changed),
    )


# ----------------------------------------------------------------------------- the lock
class RunLock:
    """An exclusive lock on a run directory for the life of the process.

    ``fcntl.flock`` on ``<dir>/.lock``: the OS drops it when the process ends in any
    way (exit, crash, SIGKILL), so it is never left stale; the file only records who
    holds it, for the message a second writer gets.
    """

    FILENAME = ".lock"

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, self.FILENAME)
        self._fd: int | None = None

    def acquire(self) -> RunLock:

        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 400).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise UserError(
                f"{self.directory} is in use by another ssah-train ({holder}); wait "
                "for it to finish or choose another `model_dir`"
            ) from None
        os.ftruncate(fd, 0)
        os.write(
            fd,
            f"host {socket.gethostname()}, pid {os.getpid()}, since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(),
        )
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
