"""The SSAH trainer: Algorithm 1 (SPEC 4) as an eager outer loop around one
``tf.function`` per stage that runs many steps with ``tf.range`` around
``strategy.run``, each step with its own GradientTape.

The trainer owns the strategy, networks, optimizers, memory banks, counters,
schedule state, RNG and one ``tf.train.Checkpoint``. Resuming from any
checkpoint continues exactly: a pass's batch table is drawn from the
checkpointed ``tf.random.Generator`` and stored, so even a mid-pass
checkpoint (written on SIGTERM) replays the same batches.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import signal
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from ssah_tf import losses
from ssah_tf.config import SSAHConfig, to_dict
from ssah_tf.data.dataset import CrossModalDataset
from ssah_tf.data.pipeline import image_feature_matrix, make_dataset
from ssah_tf.data.protocols import Split
from ssah_tf.data.scaling import fit_standardizer, wants_scaling
from ssah_tf.errors import UserError
from ssah_tf.evaluation.directions import direction_maps, label_prior_map
from ssah_tf.models.imgnet import make_backbone
from ssah_tf.models.layers import NetworkOutput
from ssah_tf.models.networks import DISCRIMINATOR_KEYS, build_networks, initialization
from ssah_tf.training import checkpoints
from ssah_tf.training.banks import MemoryBanks
from ssah_tf.training.checkpoints import save_checkpoint
from ssah_tf.training.monitors import CollapseMonitor
from ssah_tf.training.optimizers import make_stage_optimizers
from ssah_tf.training.steps import apply_gradients
from ssah_tf.training.schedules import (ScheduleConfig, ScheduleExhausted, StagePlan, early_break,
                                        epoch_plan, monitors_this_pass)
from ssah_tf.training.summaries import SummaryWriter, code_statistics, write_json_atomic


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
    val_size: int = 0
    map_top_k: int | None = None
    # Execution only (results equal within rounding): bf16 mixed precision for the
    # heavy matmuls/convolutions, and XLA compilation of every network's forward pass
    # (its gradient is compiled with it).
    mixed_precision: bool = False
    jit_compile: bool = False

    @property
    def compute_dtype(self) -> str:
        return "bfloat16" if self.mixed_precision else "float32"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    ssah: SSAHConfig
    schedule: ScheduleConfig
    run: RunConfig


class Preempted(Exception):
    """Training stopped on SIGTERM after writing a checkpoint."""


def _term_names(network: str, has_image: bool, has_text: bool) -> list[str]:
    """Order of the loss terms a stage step returns (summed over a pass for logging)."""
    if network == "dis":
        names = []
        if has_image:
            names += ["IL", "L1"]
        if has_text:
            names += ["TL", "L2"]
        return names + ["total"]
    names = ["feature_pair", "hash_pair", "quantization", "label"]
    if network != "lab":
        names.append("adversarial")
    return names + ["total"]


def _chief_and_scratch_dir(strategy: tf.distribute.Strategy, model_dir: str) -> tuple[bool, str]:
    """(is this the chief?, where a non-chief worker writes what it must write)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, model_dir
    task_type, task_id = resolver.task_type, resolver.task_id
    cluster = resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster)
    return chief, os.path.join(model_dir, f".worker_{task_type}_{task_id}")


def pack_label_bits(labels: np.ndarray) -> np.ndarray:
    """0/1 labels [n, c] -> int32 bit words [n, ceil(c / 31)] (31 bits per word keeps
    every word non-negative); rows share a label iff some word's AND is non-zero."""
    labels = np.asarray(labels) > 0
    words = -(-labels.shape[1] // 31)
    out = np.zeros((labels.shape[0], words), np.int64)
    for column in range(labels.shape[1]):
        out[:, column // 31] |= labels[:, column].astype(np.int64) << (column % 31)
    return out.astype(np.int32)


def _shares_label(row_bits: tf.Tensor, column_bits: tf.Tensor) -> tf.Tensor:
    """[rows, columns] bool: the rows' and columns' label bit words have a common bit."""
    return tf.reduce_any(tf.bitwise.bitwise_and(row_bits[:, None, :], column_bits[None, :, :]) != 0,
                         axis=-1)


@tf.function(jit_compile=True, reduce_retracing=True)
def _nll_elementwise(inner, label_bits_rows, label_bits_cols, value):
    """sum(softplus(T) - S * T) of one block, T = inner / 2; S from the label bit words.
    XLA fuses it into one pass over the block (the matmul stays in TF's faster kernel)."""
    theta = inner / 2.0
    shared = _shares_label(label_bits_rows, label_bits_cols)
    # softplus as max(T, 0) + log(1 + e^-|T|): stable, and XLA's log is ~30 % cheaper
    # here than the log1p inside tf.nn.softplus (the transcendental math is most of
    # this pass); the two differ by < 6e-8 per element (where 1 + e^-|T| rounds).
    softplus = tf.maximum(theta, 0.0) + tf.math.log(1.0 + tf.exp(-tf.abs(theta)))
    elementwise = softplus - tf.where(shared, value * theta, 0.0)
    return tf.reduce_sum(tf.cast(tf.reduce_sum(elementwise, axis=1), tf.float64))


@tf.function(jit_compile=True)
def similarity_from_bits(row_bits: tf.Tensor, column_bits: tf.Tensor, value: tf.Tensor) -> tf.Tensor:
    """``losses.similarity`` from :func:`pack_label_bits` words: S_ij = value if rows i
    and j share a label, else 0, in one fused pass (the label matmul has K = c, which
    runs far below matmul peak, and needs a compare and a cast after it)."""
    return tf.where(_shares_label(row_bits, column_bits), value, tf.zeros_like(value))


class Trainer:
    """Trains SSAH on ``data`` restricted to ``split.train``; evaluates on query/database."""

    def __init__(self, config: TrainConfig, data: CrossModalDataset, split: Split,
                 strategy: tf.distribute.Strategy):
        self.config = config
        self.data = data
        self.split = split
        self.strategy = strategy
        run, ssah = config.run, config.ssah
        self.has_image = "image" in run.modalities
        self.has_text = "text" in run.modalities
        if self.has_image and "image" not in data.modalities:
            raise UserError(f"--modalities asks for images but {data.name} has none; "
                            "use --modalities=text")
        if self.has_text and data.texts is None:
            raise UserError(f"--modalities asks for text but {data.name} has none; "
                            "use --modalities=image")
        self.train_index = np.asarray(split.train, np.int64)
        self.num_train = len(self.train_index)
        replicas = strategy.num_replicas_in_sync
        self.batch_size = min(config.schedule.batch_size, self.num_train)
        if self.batch_size % replicas:
            raise UserError(f"batch size {self.batch_size} is not divisible by the "
                            f"{replicas} replicas; choose --batch_size as a multiple of {replicas}")
        self.steps_per_pass = max(1, self.num_train // self.batch_size)
        self.pixel_images = self.has_image and run.backbone != "mlp"
        self.networks_present = tuple(
            n for n, present in (("lab", True), ("img", self.has_image), ("txt", self.has_text),
                                 ("dis", self.has_image or self.has_text)) if present)

        self.train_labels = tf.constant(data.labels[self.train_index])
        self.train_label_bits = tf.constant(pack_label_bits(data.labels[self.train_index]))
        self.train_texts = (tf.constant(data.texts[self.train_index]) if self.has_text else None)
        self.feature_matrix = None
        if self.has_image and not self.pixel_images:
            self.feature_matrix = image_feature_matrix(data)
        self.train_features = (tf.constant(self.feature_matrix[self.train_index])
                               if self.feature_matrix is not None else None)

        # Dense inputs are standardised with the training items' statistics (the demo's
        # pixel features and 0/1 tags keep their form); the statistics live in the networks.
        self.input_scalers = {}
        if self.feature_matrix is not None and data.image_features is not None and wants_scaling(
                ssah.network.standardize_image_features, self.feature_matrix[self.train_index],
                "image_features"):
            self.input_scalers["image"] = fit_standardizer(self.feature_matrix[self.train_index])
        if self.has_text and wants_scaling(ssah.network.standardize_text,
                                           data.texts[self.train_index], "text"):
            self.input_scalers["text"] = fit_standardizer(data.texts[self.train_index])

        # The RNG lives outside the strategy scope: it is only used by the eager outer loop.
        self.rng = tf.random.Generator.from_seed(run.seed)
        with strategy.scope():
            backbone = None
            if self.has_image:
                backbone = make_backbone(
                    run.backbone, cnnf_path=run.cnnf_path, vgg19_weights=run.vgg19_weights,
                    image_feature_dim=(self.feature_matrix.shape[1]
                                       if self.feature_matrix is not None else None),
                    hidden_dim=ssah.network.hidden_dim, init=initialization(ssah.network),
                    compute_dtype=run.compute_dtype,
                    standardize_features="image" in self.input_scalers)
            self.networks = build_networks(ssah.network, imgnet_backbone=backbone,
                                           with_text=self.has_text,
                                           compute_dtype=run.compute_dtype,
                                           standardize_text="text" in self.input_scalers)
            self._set_input_statistics()
            self.banks = {}
            for network in ("lab", "img", "txt"):
                if network in self.networks_present:
                    self.banks[network] = MemoryBanks(
                        network, num_items=self.num_train, semantic_dim=ssah.network.semantic_dim,
                        bits=ssah.network.bits, num_labels=ssah.network.num_labels,
                        generator=self.rng, init=ssah.training.bank_init)
            self.stage_variables = self._stage_variables()
            self.optimizers = make_stage_optimizers(ssah.optimizer, self.stage_variables)
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            self.stage_cursor = tf.Variable(0, dtype=tf.int64, trainable=False, name="stage")
            self.pass_cursor = tf.Variable(0, dtype=tf.int64, trainable=False, name="pass")
            self.step_in_pass = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_pass")
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.monitor_log = tf.Variable([math.inf, math.inf], dtype=tf.float64, trainable=False)
            self.best_metric = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
            self.pass_table = tf.Variable(
                tf.zeros([self.steps_per_pass, self.batch_size], tf.int64), trainable=False)
        optimizer_items = {}
        for stage, optimizer in self.optimizers.items():
            optimizer_items.setdefault(id(optimizer), (f"optimizer_{stage}", optimizer))
        self.checkpoint = tf.train.Checkpoint(
            **self.networks.checkpoint_items(), **dict(optimizer_items.values()),
            **{f"banks_{k}": v for k, v in self.banks.items()},
            epoch=self.epoch, stage_cursor=self.stage_cursor, pass_cursor=self.pass_cursor,
            step_in_pass=self.step_in_pass, global_step=self.global_step,
            monitor_log=self.monitor_log, best_metric=self.best_metric,
            pass_table=self.pass_table, rng=self.rng,
            split_train=tf.Variable(self.train_index, trainable=False),
            split_query=tf.Variable(np.asarray(split.query, np.int64), trainable=False),
            split_database=tf.Variable(np.asarray(split.database, np.int64), trainable=False))
        # Multi-worker: every worker saves (saving may need collectives) but only the
        # chief into the run directory; the others into a folder deleted at the end.
        self.is_chief, worker_dir = _chief_and_scratch_dir(strategy, run.model_dir)
        self._scratch_dir = worker_dir
        base = run.model_dir if self.is_chief else worker_dir
        for folder in ("checkpoints", "best"):
            checkpoints.check_folder(os.path.join(base, folder))
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(base, "checkpoints"),
            max_to_keep=run.keep_checkpoints, checkpoint_name="ckpt")
        self.best_manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(base, "best"), max_to_keep=1, checkpoint_name="best")
        self.summaries = SummaryWriter(os.path.join(base, "tensorboard"))
        self._loops: dict[str, Any] = {}
        self._forwards: dict[int, Any] = {}
        self._encoders: dict[str, Any] = {}
        self._pass_seconds: dict[str, float] = {}
        self._preempt_requested = False
        self.stop_signal = "SIGTERM"
        # How the start went (resumed, initialised from ...), logged once the run is ours.
        self.start_message = "new run"
        self._last_save = time.time()
        self._epoch_rows: dict[str, dict[str, float]] = {}
        self.history: list[dict[str, Any]] = []
        self.collapse_monitor = CollapseMonitor(
            pairwise_form=ssah.loss.pairwise_form, squares_factor=ssah.loss.squares_factor,
            init_scheme=ssah.network.init_scheme,
            release_schedule=config.schedule.name == "release")

    # ------------------------------------------------------------------ set-up
    def _set_input_statistics(self) -> None:
        """Write the training items' input statistics into the networks' scaling layers
        (a resumed run restores the stored ones over these)."""
        layers = {"image": self.networks.imgnet.backbone.input_scaling
                  if "image" in self.input_scalers else None,
                  "text": self.networks.txtnet.input_scaling if "text" in self.input_scalers
                  else None}
        for modality, scaler in self.input_scalers.items():
            layers[modality].set_statistics(scaler.mean, scaler.scale)

    def _stage_variables(self) -> dict[str, list[tf.Variable]]:
        nets, d = self.networks, self.networks.discriminators
        release_adversarial = self.config.ssah.loss.adversarial_form == "release_cross_entropy"
        out = {"lab": list(nets.labnet.trainable_variables)}
        if nets.imgnet is not None:
            # Release: the image step's optimizer also moves D_IL (SPEC 3).
            out["img"] = list(nets.imgnet.trainable_variables) + (
                list(d["IL"].trainable_variables) if release_adversarial else [])
        if nets.txtnet is not None:
            out["txt"] = list(nets.txtnet.trainable_variables) + (
                list(d["TL"].trainable_variables) if release_adversarial else [])
        seen, dis_vars = set(), []
        for key in DISCRIMINATOR_KEYS:
            if key in d and id(d[key]) not in seen:
                seen.add(id(d[key]))
                dis_vars += list(d[key].trainable_variables)
        if dis_vars:
            out["dis"] = dis_vars
        return out

    def restore_or_initialize(self, *, resume: bool, init_from: str | None,
                              resume_from: str | None = None) -> None:
        """``resume``: continue the latest checkpoint of the run (``resume_from``: that
        checkpoint of the run instead); ``init_from``: take network weights from another
        checkpoint (a run's, or one imported from the release)."""
        latest = self.manager.latest_checkpoint
        if resume_from:
            if not tf.io.gfile.exists(resume_from + ".index"):
                raise UserError(f"--resume_from={resume_from}: no checkpoint there (give a "
                                "prefix such as RUN/checkpoints/ckpt-40)")
            resume, latest = True, resume_from
        if resume and latest:
            try:
                self.checkpoint.restore(latest).assert_existing_objects_matched()
            except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError) as error:
                raise UserError(checkpoints.damaged_message(latest, error)) from None
            self._load_history()
            self.start_message = "resumed from %s (epoch %d, stage %d, pass %d, step %d)" % (
                latest, int(self.epoch.numpy()), int(self.stage_cursor.numpy()),
                int(self.pass_cursor.numpy()), int(self.step_in_pass.numpy()))
            return
        if latest and not resume:
            raise UserError(f"{self.config.run.model_dir} already has checkpoints; pass --resume "
                            "to continue it or choose a new --model_dir")
        if resume:
            self.start_message = (f"--resume: no checkpoint in {self.config.run.model_dir} yet, "
                                  "starting fresh")
        if init_from:
            path = tf.train.latest_checkpoint(init_from) if os.path.isdir(init_from) else init_from
            if not path or not tf.io.gfile.exists(path + ".index"):
                raise UserError(f"--init_from={init_from}: no checkpoint found there")
            tf.train.Checkpoint(**self.networks.checkpoint_items()).read(path).expect_partial()
            self.start_message = f"network weights initialised from {path}"

    def _load_history(self) -> None:
        """Evaluation records of earlier epochs (for best-epoch selection after a resume)."""
        from ssah_tf.training.runs import read_json

        folder = os.path.join(self.config.run.model_dir, "eval")
        if os.path.isdir(folder):
            for name in sorted(os.listdir(folder)):
                if name.startswith("epoch_") and name.endswith(".json"):
                    path = os.path.join(folder, name)
                    record = read_json(path)
                    if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
                        raise UserError(f"{path} is damaged (no epoch record); restore it or "
                                        "remove it")
                    if record["epoch"] < int(self.epoch.numpy()):
                        self.history.append(record)

    # ------------------------------------------------------------------ steps
    def forward(self, net: keras.Model):
        """``net``'s call, XLA-compiled with ``--jit_compile`` (one compiled function per net)."""
        if not self.config.run.jit_compile:
            return net
        if id(net) not in self._forwards:
            self._forwards[id(net)] = tf.function(net.__call__, jit_compile=True,
                                                  reduce_retracing=True)
        return self._forwards[id(net)]

    def _local(self, row: tf.Tensor) -> tf.Tensor:
        ctx = tf.distribute.get_replica_context()
        per_replica = self.batch_size // ctx.num_replicas_in_sync
        start = tf.cast(ctx.replica_id_in_sync_group, tf.int64) * per_replica
        return row[start:start + per_replica]

    def _network_input(self, network: str, local: tf.Tensor, batch: dict | None) -> tf.Tensor:
        if network == "lab":
            return tf.gather(self.train_labels, local)
        if network == "txt":
            return tf.gather(self.train_texts, local)
        if batch is not None:
            return batch["image"]
        return tf.gather(self.train_features, local)

    def _adversarial(self, network: str, output: NetworkOutput) -> tf.Tensor | None:
        if network == "lab":
            return None
        form = self.config.ssah.loss.adversarial_form
        disc = self.forward(self.networks.discriminators["IL" if network == "img" else "TL"])
        if form == "release_cross_entropy":
            replicas = tf.distribute.get_replica_context().num_replicas_in_sync
            if network == "img":
                # The release feeds the whole (just updated) image feature bank to D_IL.
                # Every replica computes the same full-bank mean: scale by 1/replicas so
                # the gradients Keras sums across replicas equal the single-device one.
                logits = disc(self.banks["img"].feature)
                return losses.adversarial_generator_term(
                    logits, form=form, global_size=self.num_train * replicas)
            # Text stage: the stored batch features, i.e. constants (no generator gradient).
            return losses.adversarial_generator_term(disc(tf.stop_gradient(output.feature)),
                                                     form=form)
        return losses.adversarial_generator_term(disc(output.feature), form=form)

    def _generator_step(self, network: str, row: tf.Tensor, batch: dict | None) -> tf.Tensor:
        cfg = self.config.ssah.loss
        ctx = tf.distribute.get_replica_context()
        local = batch["index"] if batch is not None else self._local(row)
        net = {"lab": self.networks.labnet, "img": self.networks.imgnet,
               "txt": self.networks.txtnet}[network]
        labels = tf.gather(self.train_labels, local)
        variables = self.stage_variables[network]
        with tf.GradientTape() as tape:
            output = self.forward(net)(self._network_input(network, local, batch))
            # Write the whole global batch's outputs into the banks first (Algorithm 1).
            gathered = NetworkOutput(*[ctx.all_gather(tf.stop_gradient(t), 0) for t in output])
            self.banks[network].write(ctx.all_gather(local, 0), gathered)
            joint = None
            if cfg.quantization_target == "joint":
                joint = tf.add_n([tf.gather(bank.hash, local) for bank in self.banks.values()])
            target = losses.quantization_target(own_hash=output.hash, joint_hash_sum=joint,
                                                target=cfg.quantization_target)
            sim = similarity_from_bits(self.train_label_bits, tf.gather(self.train_label_bits, local),
                                       tf.constant(cfg.similarity_value, tf.float32))
            terms = losses.generator_loss(
                output, labels=labels, sim=sim, lab_feature_bank=self.banks["lab"].feature,
                lab_hash_bank=self.banks["lab"].hash, quant_target=target, config=cfg,
                adversarial=self._adversarial(network, output))
        apply_gradients(tape, terms["total"], variables, self.optimizers[network])
        return tf.stack([terms[n] for n in _term_names(network, self.has_image, self.has_text)])

    def _discriminator_step(self, row: tf.Tensor) -> tf.Tensor:
        local = self._local(row)
        d = {key: self.forward(net) for key, net in self.networks.discriminators.items()}
        label_features = tf.gather(self.banks["lab"].feature, local)
        variables = self.stage_variables["dis"]
        with tf.GradientTape() as tape:
            terms = losses.discriminator_loss(
                image_logits=(d["IL"](tf.gather(self.banks["img"].feature, local))
                              if self.has_image else None),
                label_logits_image=d["L1"](label_features) if self.has_image else None,
                text_logits=(d["TL"](tf.gather(self.banks["txt"].feature, local))
                             if self.has_text else None),
                label_logits_text=d["L2"](label_features) if self.has_text else None,
                form=self.config.ssah.loss.adversarial_form)
        apply_gradients(tape, terms["total"], variables, self.optimizers["dis"])
        return tf.stack([terms[n] for n in _term_names("dis", self.has_image, self.has_text)])

    def _loop(self, network: str):
        """The stage's inner loop: ``count`` steps from ``start`` of the pass table."""
        if network in self._loops:
            return self._loops[network]
        strategy = self.strategy
        width = len(_term_names(network, self.has_image, self.has_text))

        def replica_step(row, batch):
            if network == "dis":
                return self._discriminator_step(row)
            return self._generator_step(network, row, batch)

        @tf.function
        def loop(start, count, iterator=None):
            totals = tf.zeros([width], tf.float32)
            for i in tf.range(start, start + count):
                batch = next(iterator) if iterator is not None else None
                per_replica = strategy.run(replica_step, args=(self.pass_table[i], batch))
                totals += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            return totals

        self._loops[network] = loop
        return loop

    def _image_iterator(self, start: int, count: int | None = None):
        """Distributed image batches for steps ``start..`` of the current pass table."""
        table = self.pass_table.numpy()[start:None if count is None else start + count]
        replicas = self.strategy.num_replicas_in_sync
        per_replica = self.batch_size // replicas
        rows = table.reshape(-1, per_replica)  # element e: step e // R, replica e % R
        source, size = self.data.images, self.config.run.image_size
        preprocess = self.networks.imgnet.preprocess
        train_index = self.train_index

        def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            local_replicas = replicas // ctx.num_input_pipelines
            keep = [e for e in range(len(rows))
                    if (e % replicas) // local_replicas == ctx.input_pipeline_id]

            def read(positions):
                return source.read(train_index[positions], size)

            def load(positions):
                images = tf.numpy_function(read, [positions], tf.uint8, stateful=False)
                images.set_shape([per_replica, size, size, 3])
                return {"index": positions, "image": preprocess(images)}

            ds = tf.data.Dataset.from_tensor_slices(rows[keep])
            return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True).prefetch(tf.data.AUTOTUNE)

        return iter(self.strategy.distribute_datasets_from_function(dataset_fn))

    def new_pass_table(self) -> None:
        """Draw the batches of a new pass (as the training loop does before each pass)."""
        self._draw_pass_table()

    def run_steps(self, network: str, start: int, count: int, image_batches=None) -> np.ndarray:
        """Run ``count`` steps of a stage from row ``start`` of the current pass table
        (benchmarks and profiling); returns the summed loss terms. Image stages with
        pixel inputs take ``image_batches(start)`` of the same table."""
        if network == "img" and self.pixel_images and image_batches is None:
            raise ValueError("the image stage needs image_batches=trainer.image_batches(start)")
        result = self._loop(network)(tf.constant(start, tf.int64), tf.constant(count, tf.int64),
                                     image_batches)
        return result.numpy()

    def image_batches(self, start: int, count: int | None = None):
        """The distributed image batches of the current pass table from row ``start``
        (``count`` steps; default: to the end of the pass)."""
        return self._image_iterator(start, count)

    def monitor_loss(self, network: str = "lab") -> float:
        """The release's early-break monitoring loss of ``network`` (float64 sum)."""
        value = self._lab_monitor() if network == "lab" else self._hash_monitor(network)
        return float(value.numpy())

    # ------------------------------------------------------------------ monitors (release)
    @tf.function
    def _lab_monitor(self) -> tf.Tensor:
        bank, labels = self.banks["lab"], self.train_labels
        total = tf.reduce_sum(tf.cast(tf.square(bank.label - labels), tf.float64))
        return (total + self._blockwise_nll(bank.hash, bank.hash, symmetric=True)
                + self._blockwise_nll(bank.feature, bank.feature, symmetric=True))

    @tf.function
    def _hash_monitor(self, network: str) -> tf.Tensor:
        x, y = self.banks[network].hash, self.banks["lab"].hash
        b = tf.sign(x)
        total = self._blockwise_nll(x, y)
        # The release also adds sum((Y - Y)^2), identically zero.
        for term in (tf.square(b - x) + tf.square(b - y), tf.square(y - x),
                     tf.square(self.banks[network].label - self.train_labels)):
            total += tf.reduce_sum(tf.cast(term, tf.float64))
        return total

    def _blockwise_nll(self, x: tf.Tensor, y: tf.Tensor, *, symmetric: bool = False,
                       block: int = 1024) -> tf.Tensor:
        """sum(log(1 + e^T) - S * T), T = x y^T / 2, in row blocks (never n x n at once).

        ``symmetric`` (y is x): T and S are symmetric, so only the blocks on and
        right of the diagonal are computed and the off-diagonal ones count twice.
        Each row's sum is taken in float32 and the row sums added in float64 (the
        release sums an n x n float64 matrix; the difference is ~1e-7 relative).
        Stable softplus where the release's NumPy log(1 + exp) would overflow to inf.
        """
        value = self.config.ssah.loss.similarity_value
        n = self.num_train
        x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
        bits = self.train_label_bits
        total = tf.constant(0.0, tf.float64)

        def part(rows: slice, cols: slice) -> tf.Tensor:
            inner = tf.matmul(x[rows], y[cols], transpose_b=True)
            return _nll_elementwise(inner, bits[rows], bits[cols], tf.constant(value, tf.float32))

        for start in range(0, n, block):
            stop = min(start + block, n)
            if not symmetric:
                total += part(slice(start, stop), slice(0, n))
                continue
            total += part(slice(start, stop), slice(start, stop))
            if stop < n:
                total += 2.0 * part(slice(start, stop), slice(stop, n))
        return total

    # ------------------------------------------------------------------ outer loop
    def _draw_pass_table(self) -> None:
        n, steps, batch = self.num_train, self.steps_per_pass, self.batch_size
        if self.config.schedule.name == "release":
            # Release: each iteration takes the first batch_size of a fresh permutation.
            table = tf.argsort(self.rng.uniform([steps, n]), axis=1)[:, :batch]
        else:
            table = tf.reshape(tf.argsort(self.rng.uniform([n]))[:steps * batch], [steps, batch])
        self.pass_table.assign(tf.cast(table, tf.int64))

    def _save(self, reason: str) -> str:
        path = save_checkpoint(self.manager, self.global_step)
        self._last_save = time.time()
        logging.debug("checkpoint %s (%s)", path, reason)
        return path

    def _on_stop_signal(self, signum, frame):  # noqa: ARG002
        name = signal.Signals(signum).name
        if self._preempt_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
        logging.warning("%s: checkpointing at the next step boundary (Ctrl-C again to stop "
                        "at once)", name)
        self._preempt_requested = True
        self.stop_signal = name

    def _run_pass(self, stage: StagePlan) -> np.ndarray:
        loop = self._loop(stage.network)
        start = int(self.step_in_pass.numpy())
        if start == 0:
            self._draw_pass_table()
        iterator = self._image_iterator(start) if (stage.network == "img"
                                                   and self.pixel_images) else None
        chunk = self.config.run.steps_per_loop or self.steps_per_pass
        totals = np.zeros(0)
        step = start
        while step < self.steps_per_pass:
            count = min(chunk, self.steps_per_pass - step)
            result = loop(tf.constant(step, tf.int64), tf.constant(count, tf.int64), iterator)
            totals = result.numpy() if totals.size == 0 else totals + result.numpy()
            step += count
            self.step_in_pass.assign(step)
            self.global_step.assign_add(count)
            if self._preempt_requested and step < self.steps_per_pass:
                path = self._save("preempted")
                raise Preempted(path)
        self.step_in_pass.assign(0)
        return totals / max(1, self.steps_per_pass - start)

    def _early_break(self, stage: StagePlan, pass_index: int) -> tuple[bool, float | None]:
        """Apply the release's early-break rule after a pass; returns (break?, monitored)."""
        if not monitors_this_pass(stage.early_break, pass_index):
            return False, None
        monitored = float((self._lab_monitor() if stage.network == "lab"
                           else self._hash_monitor(stage.network)).numpy())
        stop, log = early_break(stage.early_break, pass_index,
                                tuple(self.monitor_log.numpy()), monitored)
        self.monitor_log.assign(log)
        return stop, monitored

    def train(self) -> dict[str, Any]:
        """Run (or continue) training to ``schedule.epochs``; returns the final results."""
        run, schedule = self.config.run, self.config.schedule
        previous_handlers = {sig: signal.signal(sig, self._on_stop_signal)
                             for sig in (signal.SIGTERM, signal.SIGINT)}
        self.summaries.config(
            {"ssah": to_dict(self.config.ssah), "schedule": dataclasses.asdict(schedule),
             "run": dataclasses.asdict(run), "split": self.split.sizes(),
             "replicas": self.strategy.num_replicas_in_sync},
            {"preset": self.config.ssah.preset, "schedule": schedule.name,
             "bits": self.config.ssah.network.bits, "batch_size": schedule.batch_size,
             "backbone": run.backbone, "modalities": ",".join(run.modalities)})
        results: dict[str, Any] = {}
        try:
            while int(self.epoch.numpy()) < schedule.epochs:
                epoch = int(self.epoch.numpy())
                try:
                    plan = epoch_plan(schedule, epoch, self.networks_present, self.steps_per_pass)
                except ScheduleExhausted as stop:
                    logging.warning("stopping before epoch %d: %s", epoch, stop)
                    break
                epoch_start = time.time()
                while int(self.stage_cursor.numpy()) < len(plan):
                    stage = plan[int(self.stage_cursor.numpy())]
                    self.optimizers[stage.network].learning_rate.assign(stage.learning_rate)
                    while int(self.pass_cursor.numpy()) < stage.passes:
                        pass_index = int(self.pass_cursor.numpy())
                        began = time.time()
                        means = self._run_pass(stage)
                        seconds = time.time() - began
                        self._pass_seconds[stage.network] = seconds
                        if stage.network != "dis":
                            self._check_health(epoch, stage, pass_index, means)
                        stop, monitored = self._early_break(stage, pass_index)
                        self.pass_cursor.assign(stage.passes if stop else pass_index + 1)
                        self._log_pass(epoch, stage, pass_index, means, seconds, monitored,
                                       plan, stop)
                        stage_done = int(self.pass_cursor.numpy()) >= stage.passes
                        if stage_done:
                            self.stage_cursor.assign_add(1)
                            self.pass_cursor.assign(0)
                            self.monitor_log.assign([math.inf, math.inf])
                        due = (run.save_every_passes > 0
                               and (pass_index + 1) % run.save_every_passes == 0
                               and time.time() - self._last_save
                               >= run.checkpoint_interval_seconds)
                        if due:
                            self._save("pass")
                        if self._preempt_requested:  # SIGTERM: stop at this pass boundary
                            raise Preempted(self._save("preempted"))
                        if stage_done:
                            break
                self._log_epoch_table(epoch, time.time() - epoch_start)
                self.epoch.assign_add(1)
                self.stage_cursor.assign(0)
                last = int(self.epoch.numpy()) >= schedule.epochs
                if run.eval_every and (int(self.epoch.numpy()) % run.eval_every == 0 or last):
                    results = self.evaluate_and_select(epoch, time.time() - epoch_start)
                path = self._save("epoch")
                if self._preempt_requested:
                    raise Preempted(path)
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            self.summaries.flush()
        if not results:
            results = self.evaluate_and_select(int(self.epoch.numpy()) - 1, 0.0)
        if not self.is_chief:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
        return results

    def _log_pass(self, epoch, stage, pass_index, means, seconds, monitored, plan, stopped):
        names = _term_names(stage.network, self.has_image, self.has_text)
        # The release's literal log(1 + exp) overflows for inner products > 88: say so once.
        losses.warn_once_on_overflow({n: tf.constant(v) for n, v in zip(names, means)})
        step = int(self.global_step.numpy())
        scalars = {f"{stage.network}/{n}": v for n, v in zip(names, means)}
        scalars[f"{stage.network}/learning_rate"] = stage.learning_rate
        scalars[f"{stage.network}/steps_per_second"] = self.steps_per_pass / max(seconds, 1e-9)
        if monitored is not None:
            scalars[f"{stage.network}/monitor_loss"] = monitored
        if stage.network == "dis":
            for key, value in self.discriminator_accuracy().items():
                scalars[f"dis/accuracy_{key}"] = value
        self.summaries.scalars(scalars, step)
        row = self._epoch_rows.setdefault(f"{stage.network}[{stage.index}]",
                                          {"passes": 0, "seconds": 0.0, "loss": 0.0})
        row["passes"] += 1
        row["seconds"] += seconds
        row["loss"] = float(means[-1])
        cursor = int(self.stage_cursor.numpy())
        remaining = sum(self._pass_seconds.get(p.network, seconds) * p.passes
                        for p in plan[cursor + 1:])
        remaining += seconds * (stage.passes - pass_index - 1)
        logging.info(
            "epoch %d %s[%d] pass %d/%d: %.1f steps/s, loss %.4g (%s)%s%s, epoch ETA %s",
            epoch, stage.network, stage.index, pass_index + 1, stage.passes,
            self.steps_per_pass / max(seconds, 1e-9), means[-1],
            ", ".join(f"{n} {v:.4g}" for n, v in zip(names[:-1], means[:-1])),
            f", monitor {monitored:.6g}" if monitored is not None else "",
            " -> early break" if stopped else "", time.strftime("%H:%M:%S", time.gmtime(remaining)))

    def _check_health(self, epoch: int, stage: StagePlan, pass_index: int,
                      means: np.ndarray) -> None:
        """Collapse checks on what the pass wrote into the network's banks (monitors.py)."""
        names = _term_names(stage.network, self.has_image, self.has_text)
        rows = tf.constant(np.unique(self.pass_table.numpy()))
        bank = self.banks[stage.network]
        health, lines = self.collapse_monitor.check(
            stage.network, terms=dict(zip(names, means.tolist())), num_items=self.num_train,
            batch_size=self.batch_size,
            features=tf.gather(tf.convert_to_tensor(bank.feature), rows).numpy(),
            hashes=tf.gather(tf.convert_to_tensor(bank.hash), rows).numpy(),
            learning_rate=stage.learning_rate,
            # The very first pass starts from empty banks, where the terms are near their
            # Theta = 0 value by construction.
            check_plateau=(epoch, stage.index, pass_index) != (0, 0, 0))
        for line in lines:
            logging.warning("%s", line)
        self.summaries.scalars(health.scalars(stage.network), int(self.global_step.numpy()))

    def _log_epoch_table(self, epoch: int, seconds: float) -> None:
        lines = [f"epoch {epoch} summary ({seconds:.1f} s):",
                 f"  {'stage':8s} {'passes':>6s} {'seconds':>8s} {'last loss':>12s}"]
        for stage, row in self._epoch_rows.items():
            lines.append(f"  {stage:8s} {row['passes']:6d} {row['seconds']:8.1f} {row['loss']:12.5g}")
        logging.info("\n".join(lines))
        self._epoch_rows = {}

    def discriminator_accuracy(self, sample: int = 1024) -> dict[str, float]:
        """Fraction of stored features each discriminator classifies correctly
        (modality features -> 0, label features -> 1) on up to ``sample`` items."""
        rows = tf.range(min(sample, self.num_train))
        least_squares = self.config.ssah.loss.adversarial_form == "least_squares"
        threshold = 0.5 if least_squares else 0.0
        d = self.networks.discriminators
        label_features = tf.gather(tf.convert_to_tensor(self.banks["lab"].feature), rows)
        out = {}
        for key, label_key, bank in (("IL", "L1", "img"), ("TL", "L2", "txt")):
            if bank in self.banks:
                features = tf.gather(tf.convert_to_tensor(self.banks[bank].feature), rows)
                out[key] = float(tf.reduce_mean(tf.cast(d[key](features) < threshold, tf.float32)))
                out[label_key] = float(tf.reduce_mean(
                    tf.cast(d[label_key](label_features) >= threshold, tf.float32)))
        return out

    # ------------------------------------------------------------------ evaluation
    def encode(self, indices: np.ndarray, modality: str) -> np.ndarray:
        """Real-valued hash outputs H for dataset rows ``indices`` of one modality."""
        batch = self.config.run.eval_batch_size
        nets = self.networks
        if modality == "label":
            fn, source = nets.labnet, self.data.labels
        elif modality == "text":
            fn, source = nets.txtnet, self.data.texts
        elif not self.pixel_images:
            fn, source = nets.imgnet, self.feature_matrix
        else:
            fn, source = nets.imgnet, None
        # Many texts: TxtNet's first layer folded once for the fixed weights, in the
        # transposed layout (TF's CPU matmul is ~2x faster that way round).
        folded = (nets.txtnet.folded_weights(transposed=True)
                  if modality == "text" and len(indices) >= 2048 else None)
        key = modality + ("_folded" if folded is not None else "")
        if key not in self._encoders:
            # The folded weights are an argument (not captured): they change with training.
            run_net = ((lambda x, w: nets.txtnet.call_folded(x, w).hash)
                       if folded is not None else (lambda x, w: fn(x).hash))
            self._encoders[key] = tf.function(run_net, reduce_retracing=True,
                                              jit_compile=self.config.run.jit_compile)
        encoder = self._encoders[key]

        def call(x):
            return encoder(x, folded)

        outputs = []
        if source is not None:
            for start in range(0, len(indices), batch):
                outputs.append(call(tf.constant(source[indices[start:start + batch]])).numpy())
        else:
            ds = make_dataset(self.data, indices, batch_size=batch, fields=("image",),
                              image_size=self.config.run.image_size,
                              preprocess=nets.imgnet.preprocess)
            for element in ds:
                outputs.append(call(element["image"]).numpy())
        if not outputs:
            return np.zeros((0, self.config.ssah.network.bits), np.float32)
        return np.concatenate(outputs)

    def evaluate(self, query: np.ndarray, database: np.ndarray) -> tuple[dict, dict]:
        """mAP for every direction available; also the query hash outputs for statistics."""
        modalities = ["label"] + (["image"] if self.has_image else []) + (
            ["text"] if self.has_text else [])
        q = {m: self.encode(query, m) for m in modalities}
        db = {m: self.encode(database, m) for m in modalities if m != "label"}
        out = direction_maps(query_codes=q, database_codes=db, query_labels=self.data.labels[query],
                             database_labels=self.data.labels[database],
                             top_k=self.config.run.map_top_k)
        return out, q

    def label_prior_map(self, query: np.ndarray, database: np.ndarray) -> float:
        """Baseline: mAP when every code is equal, i.e. a ranking that ignores the data
        (ties fall back to the shuffled database order): what labels alone give."""
        if not hasattr(self, "_label_prior"):
            self._label_prior = label_prior_map(query_labels=self.data.labels[query],
                                                database_labels=self.data.labels[database],
                                                top_k=self.config.run.map_top_k)
        return self._label_prior

    def selection_metric(self, maps: dict[str, float]) -> float:
        """Cross-modal mean (i2t, t2i) when both modalities exist, else label/self retrieval."""
        keys = [k for k in ("map_i2t", "map_t2i") if k in maps] or [
            k for k in ("map_l2t", "map_t2t", "map_l2i", "map_i2i") if k in maps]
        return float(np.mean([maps[k] for k in keys]))

    def evaluate_and_select(self, epoch: int, epoch_seconds: float) -> dict[str, Any]:
        run = self.config.run
        started = time.time()
        query, database = np.asarray(self.split.query), np.asarray(self.split.database)
        maps, q_hash = self.evaluate(query, database)
        record: dict[str, Any] = {"epoch": epoch, "test": maps,
                                  "test_selection": self.selection_metric(maps)}
        selection = record["test_selection"]
        if run.val_size:
            train_set = set(self.train_index.tolist())
            pool = np.array([i for i in database if i not in train_set])
            if len(pool) < run.val_size:
                raise UserError(f"--val_size {run.val_size} exceeds the {len(pool)} database items "
                                "outside the training set")
            val_query, val_db = pool[-run.val_size:], np.setdiff1d(database, pool[-run.val_size:])
            val_maps, _ = self.evaluate(val_query, val_db)
            record["validation"] = val_maps
            record["validation_selection"] = selection = self.selection_metric(val_maps)
        step = int(self.global_step.numpy())
        scalars = {f"eval/{k}": v for k, v in maps.items()}
        scalars.update({f"eval_validation/{k}": v for k, v in record.get("validation", {}).items()})
        for modality, hashes in q_hash.items():
            for stat, value in code_statistics(hashes).items():
                scalars[f"codes/{modality}_{stat}"] = value
            self.summaries.histogram(f"hash/{modality}", hashes, step)
        self.summaries.scalars(scalars, step)
        improved = selection > float(self.best_metric.numpy())
        if improved:
            self.best_metric.assign(selection)
            save_checkpoint(self.best_manager, self.global_step)
        record["best_so_far"] = improved
        record["eval_seconds"] = time.time() - started
        record["epoch_seconds"] = epoch_seconds
        self.history.append(record)
        if self.is_chief:
            write_json_atomic(os.path.join(run.model_dir, "eval", f"epoch_{epoch:04d}.json"),
                              record)
        best = max(self.history, key=lambda r: r.get("validation_selection", r["test_selection"]))
        summary = {**maps, "epoch": epoch, "best_epoch": best["epoch"],
                   "label_prior_map": self.label_prior_map(query, database),
                   "best": best.get("test"), "selected_on": "validation" if run.val_size else "test",
                   "validation": record.get("validation")}
        if self.is_chief:
            write_json_atomic(os.path.join(run.model_dir, "results.json"), summary)
        logging.info("epoch %d evaluation: %s (selection %.4f%s)", epoch,
                     ", ".join(f"{k} {v:.4f}" for k, v in maps.items()), selection,
                     ", new best" if improved else "")
        return summary
