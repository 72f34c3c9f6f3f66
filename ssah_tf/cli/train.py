"""ssah-train: train SSAH (both presets) and evaluate it; the README's main job.

With no flags it trains and evaluates the embedded demo dataset.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags, logging

from ssah_tf.cli import common
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
common.define_data_flags()
common.define_model_flags()
common.define_execution_flags()
flags.DEFINE_enum("modalities", "both", ["both", "text", "image"],
                  "Which modalities to train besides labels (text: LabNet + TxtNet only).")
flags.DEFINE_enum("backbone", "auto", ["auto", "cnnf", "vgg19", "mlp"],
                  "ImgNet backbone; auto = cnnf with --cnnf_path, else mlp on image features "
                  "(or on the demo's pixels).")
flags.DEFINE_string("cnnf_path", None, "MatConvNet imagenet-vgg-f.mat for --backbone=cnnf.")
flags.DEFINE_string("vgg19_weights", None, "Keras VGG-19 ImageNet weights (.h5) for vgg19.")
flags.DEFINE_integer("image_size", 224, "Image side fed to cnnf/vgg19.")
flags.DEFINE_enum("schedule", None, ["paper", "release"],
                  "Training schedule (default: the preset's). release = SPEC 4 exactly.")
flags.DEFINE_integer("epochs", None, "Epochs (default: 20 paper, 500 release as setting.py; "
                     "the release's learning-rate lists stop it near epoch 189).")
flags.DEFINE_integer("batch_size", 128, "Global batch size (split across replicas).")
# Defaults from a learning-rate sweep on the demo (experiments/RESULTS.md): lab 1e-3 beat
# 1e-2 and 1e-4; img = txt = 3e-4 beat 1e-4 and 1e-3 (5 epochs, batch 64).
for _net, _lr, _passes in (("lab", 1e-3, 2), ("img", 3e-4, 2), ("txt", 3e-4, 2),
                           ("dis", 1e-4, 1)):
    flags.DEFINE_float(f"lr_{_net}", _lr, f"Paper schedule: Adam learning rate of {_net}.")
    flags.DEFINE_integer(f"passes_{_net}", _passes, f"Paper schedule: passes of {_net} per epoch.")
flags.DEFINE_float("lr_decay", 0.9, "Paper schedule: learning-rate factor per epoch.")
flags.DEFINE_integer("min_stage_steps", 100, "Paper schedule: LabNet, ImgNet and TxtNet stages "
                     "run at least this many steps (more passes on small training sets).")
flags.DEFINE_string("model_dir", None, "Run directory (default: workspace/runs/<dataset>_<time>).")
flags.DEFINE_bool("resume", False, "Continue the latest checkpoint in --model_dir.")
flags.DEFINE_string("init_from", None, "Initialise network weights from this checkpoint "
                    "(a run's, or one made by ssah-import-release).")
flags.DEFINE_enum("strategy", "auto", ["auto", "one_device", "mirrored", "multi_worker"],
                  "Distribution: auto = mirrored with >1 GPU, else one device; multi_worker "
                  "reads TF_CONFIG.")
flags.DEFINE_integer("seed", 0, "Seed of weights, banks and batch sampling.")
flags.DEFINE_bool("deterministic", False, "Enable TF op determinism (bit-reproducible runs).")
flags.DEFINE_integer("eval_every", 1, "Evaluate every N epochs (0: only at the end).")
flags.DEFINE_integer("save_every_passes", 1, "Checkpoint after every N passes of a stage.")
flags.DEFINE_float("checkpoint_interval_seconds", 60.0,
                   "Pass checkpoints are skipped until this long since the last save "
                   "(0: every --save_every_passes passes); epoch ends always save.")
flags.DEFINE_integer("keep_checkpoints", 3, "Recent checkpoints to keep (plus the best).")
flags.DEFINE_integer("steps_per_loop", 100, "Steps per tf.function call (SIGTERM checks between).")
flags.DEFINE_integer("val_size", 0, "Carve this many validation queries out of the database "
                     "and select the best epoch on them (the release selects on test queries).")
flags.DEFINE_integer("map_top_k", None, "Report mAP@k instead of mAP over the whole database.")


def make_strategy(name: str):
    import tensorflow as tf

    if name == "multi_worker":
        # Before anything initialises the TF context (listing devices would).
        if "TF_CONFIG" not in os.environ:
            raise UserError("--strategy=multi_worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def check_flag_values() -> None:
    """Invalid numbers fail at start with one line naming the flag."""
    positive = ["batch_size", "image_size", "keep_checkpoints", "demo_items", "demo_labels",
                "lr_lab", "lr_img", "lr_txt", "lr_dis", "lr_decay", "passes_lab", "passes_img",
                "passes_txt", "passes_dis", "epochs", "map_top_k", "bits"]
    non_negative = ["eval_every", "save_every_passes", "steps_per_loop", "val_size", "min_stage_steps",
                    "checkpoint_interval_seconds"]
    for name in positive:
        value = getattr(FLAGS, name)
        if value is not None and value <= 0:
            raise UserError(f"--{name}={value} must be positive")
    for name in non_negative:
        if getattr(FLAGS, name) < 0:
            raise UserError(f"--{name}={getattr(FLAGS, name)} must not be negative")
    if FLAGS.resume and FLAGS.init_from:
        raise UserError("--resume and --init_from exclude each other: a resumed run already has weights")


def stored_run_config(model_dir: str | None) -> dict | None:
    """A resumed run's config.json (None for a new run): on --resume the run's own
    settings stand, and only the flags given on the command line change them."""
    if not FLAGS.resume or not model_dir:
        return None
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        return None
    import json

    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is not readable JSON ({error}); restore it from a backup "
                        "or start a new --model_dir") from None


def schedule_config(stored: dict | None):
    """The ScheduleConfig from the flags (or a resumed run's, with given flags applied)."""
    from ssah_tf.training.schedules import ScheduleConfig, schedule_from_dict

    base = schedule_from_dict(stored["schedule"]) if stored else None
    names = ["batch_size", "lr_decay", "min_stage_steps"] + [
        f"{k}_{n}" for k in ("lr", "passes") for n in ("lab", "img", "txt", "dis")]
    values = {n: (getattr(base, n) if base is not None and not common.explicit(n)
                  else getattr(FLAGS, n)) for n in names}
    if base is not None and not common.explicit("schedule"):
        name = base.name
    else:
        name = FLAGS.schedule or ("release" if FLAGS.preset == "release" else "paper")
    if base is not None and not common.explicit("epochs"):
        epochs = base.epochs
    else:
        epochs = FLAGS.epochs or (500 if name == "release" else 20)
    return ScheduleConfig(name=name, epochs=epochs, **values)


def build_trainer():
    """The Trainer the flags describe, validated, with nothing written to disk yet."""
    check_flag_values()
    from ssah_tf.config import from_dict
    from ssah_tf.data import load_dataset, resolve_split
    from ssah_tf.training.trainer import RunConfig, TrainConfig, Trainer
    import tensorflow as tf

    # The strategy comes first: MultiWorkerMirroredStrategy must exist before other TF work.
    strategy = make_strategy(FLAGS.strategy)
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.keras.utils.set_random_seed(FLAGS.seed)
    stored = stored_run_config(FLAGS.model_dir)
    data_config = common.data_config(stored["data"] if stored else None)
    data = load_dataset(data_config)
    logging.info("%s", data.summary())
    stored_run = stored["run"] if stored else None
    modalities = {"both": ("image", "text"), "text": ("text",), "image": ("image",)}[FLAGS.modalities]
    if stored_run and not common.explicit("modalities"):
        modalities = tuple(stored_run["modalities"])
    missing = [m for m in modalities if m not in data.modalities]
    if FLAGS.modalities == "both" and missing:
        modalities = tuple(m for m in modalities if m in data.modalities)
        logging.warning("%s has no %s: training %s only", data.name, missing[0], modalities[0])
    elif missing:
        raise UserError(f"--modalities={FLAGS.modalities} but {data.name} has no {missing[0]}")
    backbone = common.stored_or_flag("backbone", stored_run)
    if backbone == "auto":
        backbone = "cnnf" if FLAGS.cnnf_path else "mlp"
        if "image" in modalities and backbone == "mlp" and data.image_features is None \
                and data.name != "demo":
            raise UserError("images need --backbone=cnnf --cnnf_path=imagenet-vgg-f.mat "
                            "(or --backbone=vgg19)")
    ssah = common.ssah_config(num_labels=data.num_labels, text_dim=data.text_dim or 1,
                              stored=from_dict(stored["ssah"]) if stored else None)
    if ssah.network.num_labels != data.num_labels or (
            "text" in modalities and ssah.network.text_dim != data.text_dim):
        raise UserError(f"--num_labels/--text_dim disagree with the data ({data.num_labels} "
                        f"labels, text dim {data.text_dim})")
    schedule = schedule_config(stored)
    split = resolve_split(data, data_config)
    logging.info("split: %s", split.sizes())
    model_dir = FLAGS.model_dir or common.default_run_dir(f"{data.name}_{FLAGS.preset}_{ssah.network.bits}b")
    run_fields = ("cnnf_path", "vgg19_weights", "image_size", "seed", "eval_every",
                  "save_every_passes", "checkpoint_interval_seconds", "keep_checkpoints",
                  "steps_per_loop", "val_size", "map_top_k", "mixed_precision", "jit_compile")
    run_values = {name: common.stored_or_flag(name, stored_run) for name in run_fields}
    for name in ("mixed_precision", "jit_compile"):  # None: the RunConfig default
        if run_values[name] is None:
            del run_values[name]
    run = RunConfig(model_dir=model_dir, modalities=modalities, backbone=backbone, **run_values)
    config = TrainConfig(ssah=ssah, schedule=schedule, run=run)
    trainer = Trainer(config, data, split, strategy)
    trainer.restore_or_initialize(resume=FLAGS.resume, init_from=FLAGS.init_from)
    return trainer, data_config


def main(argv):
    from ssah_tf.data import save_split
    from ssah_tf.data.registry import split_path
    from ssah_tf.training.summaries import write_json_atomic
    from ssah_tf.training.trainer import Preempted
    from ssah_tf.config import to_dict

    trainer, data_config = build_trainer()
    config, split, strategy = trainer.config, trainer.split, trainer.strategy
    model_dir = config.run.model_dir
    # Only now, with inputs validated, does the run directory get its files.
    if trainer.is_chief:
        if not os.path.exists(split_path(model_dir)):
            save_split(split, split_path(model_dir))
        write_json_atomic(os.path.join(model_dir, "config.json"), {
            "ssah": to_dict(config.ssah), "schedule": dataclasses.asdict(config.schedule),
            "run": dataclasses.asdict(config.run), "data": dataclasses.asdict(data_config),
            "replicas": strategy.num_replicas_in_sync})
    logging.info("run directory %s (%d replicas)", model_dir, strategy.num_replicas_in_sync)
    try:
        results = trainer.train()
    except Preempted as stop:
        logging.warning("preempted: checkpoint %s written; rerun with --resume", stop)
        return 3
    if not trainer.is_chief:
        return 0
    table = "\n".join(f"  {k:8s} {v:.4f}" for k, v in sorted(results.items())
                      if k.startswith("map_"))
    print(f"final evaluation (epoch {results['epoch']}, best epoch {results['best_epoch']}):\n"
          f"{table}\n  label-prior baseline (random ranking) {results['label_prior_map']:.4f}\n"
          f"results: {os.path.join(model_dir, 'results.json')}")
    return 0


run = common.entry_point(main)


if __name__ == "__main__":
    run()
