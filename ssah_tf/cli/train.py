"""ssah-train: train SSAH (both presets) and evaluate it after every epoch.

  ssah-train --flagfile=experiments/demo.flags          # the embedded demo, minutes
  ssah-train --dataset=mfeat --data_path=../shared/data/mfeat --bits=32
  ssah-train --model_dir=RUN --resume                   # continue a run (its settings)

Writes the run directory (WORKSPACE.md): config.json, split.npz, checkpoints/,
best/, tensorboard/, eval/ and results.json. With no flags it trains the demo
with the paper preset's defaults (20 epochs). SIGTERM or Ctrl-C checkpoints and
exits with status 3; --resume continues exactly.
"""

from __future__ import annotations

import dataclasses
import os
import sys

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
                  "Training schedule (default: the preset's). release = its setting.py exactly (docs/method.md §4).")
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
flags.DEFINE_bool("resume", False, "Continue the latest checkpoint in --model_dir (its own "
                  "settings stand; only flags you give change them).")
flags.DEFINE_string("resume_from", None, "Continue from this checkpoint of the run instead of "
                    "the latest (a prefix such as RUN/checkpoints/ckpt-40); implies --resume.")
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
flags.DEFINE_enum("select_on", None, ["validation", "test", "last"],
                  "Where the best checkpoint (best/, the default of ssah-eval and ssah-export) "
                  "is chosen: validation queries (paper preset), the test queries as the "
                  "release does (its preset; optimistic), or the last epoch.")
flags.DEFINE_integer("val_size", None, "Validation queries (default: as many as the test "
                     "queries, from the database items outside the training set; where the "
                     "database is the training set, a tenth of the training items are held out "
                     "of training instead). 0: none. Kept in split.npz.")
flags.DEFINE_enum("selection_criterion", None, ["mean", "min"],
                  "How the selection directions (image<->text, else label/self retrieval) "
                  "combine: their mean or the smaller of them.")
flags.DEFINE_integer("early_stopping_patience", None, "Stop after this many evaluations in a "
                     "row without a new best on the validation queries (0: never).")
common.define_map_flags("The k of --map_variant (alone: mAP@k, top_k); evaluation and "
                        "selection use it, under map_<direction>@<k>.")
common.define_report_flags()
common.group_flags("model selection (README: what best means)", [
    "select_on", "val_size", "selection_criterion", "early_stopping_patience", "eval_every",
    "map_variant", "map_top_k"])
common.group_flags("schedule (the paper schedule's knobs; the release schedule is fixed)", [
    "schedule", "epochs", "batch_size", "lr_decay", "min_stage_steps"] + [
    f"{k}_{n}" for n in ("lab", "img", "txt", "dis") for k in ("lr", "passes")])


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
    """What single-flag rules (common.FLAG_RULES, checked at parse) cannot see."""
    if (FLAGS.resume or FLAGS.resume_from) and FLAGS.init_from:
        raise UserError("--resume and --init_from exclude each other: a resumed run already has weights")
    if FLAGS.model_dir and os.path.exists(FLAGS.model_dir) and not os.path.isdir(FLAGS.model_dir):
        raise UserError(f"--model_dir={FLAGS.model_dir} is an existing file, not a directory; "
                        "choose a directory")


def resuming() -> bool:
    return bool(FLAGS.resume or FLAGS.resume_from)


def stored_run_config(model_dir: str | None) -> dict | None:
    """A resumed run's config.json (None for a new run): on --resume the run's own
    settings stand, and only the flags given on the command line change them."""
    from ssah_tf.training.runs import read_config_record

    if not resuming() or not model_dir:
        return None
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        return None
    return read_config_record(path)


# Fields of a run that a resume may not change (with the whole method and data records).
FIXED_RUN_FIELDS = ("modalities", "backbone", "image_size", "select_on", "val_size",
                    "selection_criterion", "map_variant", "map_top_k")
PATH_FIELDS = ("data_path", "data_dir", "image_root", "vocab_file", "split_file")


def absolute_paths(data_config):
    """The data config with every path absolute (what a run stores and compares)."""
    return dataclasses.replace(data_config, **{
        name: os.path.abspath(getattr(data_config, name))
        for name in PATH_FIELDS if getattr(data_config, name)})


def resume_changes(stored: dict, record: dict) -> dict:
    """The changed settings a resume may make; UserError for the ones it may not.

    Both sides are compared as the code reads them (a stored record without a newer
    field holds that field's legacy value), so reading an old run is no change."""
    from ssah_tf.config import from_dict, run_from_dict, schedule_from_dict, to_dict
    from ssah_tf.training.runs import config_differences

    data_class = _data_config_class()
    known = {f.name for f in dataclasses.fields(data_class)}
    normalised = {
        "ssah": to_dict(from_dict(stored["ssah"])),
        "schedule": dataclasses.asdict(schedule_from_dict(stored["schedule"])),
        "run": dataclasses.asdict(run_from_dict(stored["run"])),
        "data": dataclasses.asdict(absolute_paths(data_class(**{
            k: v for k, v in stored["data"].items() if k in known}))),
        "replicas": stored.get("replicas")}
    changes = config_differences(normalised, record)
    fixed = {k: v for k, v in changes.items()
             if k.split(".")[0] in ("ssah", "data")
             or k in {f"run.{name}" for name in FIXED_RUN_FIELDS}}
    if fixed:
        listed = "; ".join(f"--{k.split('.')[-1]} (run: {a}, now: {b})"
                           for k, (a, b) in fixed.items())
        raise UserError(f"--resume would change the run's method or data: {listed}. A run's "
                        "method and data are fixed: drop these flags, or start a new --model_dir")
    return {k: v for k, v in changes.items() if k != "run.model_dir"}


def _data_config_class():
    from ssah_tf.data.registry import DataConfig

    return DataConfig


def schedule_config(stored: dict | None):
    """The ScheduleConfig from the flags (or a resumed run's, with given flags applied)."""
    from ssah_tf.config import ScheduleConfig, schedule_from_dict

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


def modalities_and_backbone(data, stored_run: dict | None) -> tuple[tuple[str, ...], str]:
    """What the run trains (dropping a modality the data lacks under --modalities=both)
    and its resolved ImgNet backbone."""
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
    return modalities, backbone


RUN_FIELDS = ("cnnf_path", "vgg19_weights", "image_size", "seed", "eval_every",
              "save_every_passes", "checkpoint_interval_seconds", "keep_checkpoints",
              "steps_per_loop", "select_on", "val_size", "selection_criterion",
              "early_stopping_patience", "map_variant", "map_top_k", "mixed_precision",
              "jit_compile")


def run_values(stored_run: dict | None, preset: str) -> dict:
    """The RunConfig fields the flags give (a resumed run's stored values unless a flag
    is given); fields left unset take the preset's run defaults, then RunConfig's."""
    from ssah_tf.config import legacy_run_values, preset_run_defaults

    if stored_run is not None:
        stored_run = {**legacy_run_values(stored_run), **stored_run}
    values = {name: common.stored_or_flag(name, stored_run) for name in RUN_FIELDS}
    for name, value in preset_run_defaults(preset).items():
        if values[name] is None:
            values[name] = value
    return {k: v for k, v in values.items()
            if v is not None or k in ("map_variant", "map_top_k", "val_size")}


def validation_split(split, values: dict, split_seed: int):
    """The split with its validation queries (a new run: protocols.resolve_validation,
    automatic when selecting on validation) and the run's select_on and val_size."""
    from ssah_tf.data.protocols import resolve_validation

    select_on = values.get("select_on", "validation")
    split = resolve_validation(split, values["val_size"], seed=split_seed,
                               automatic=select_on == "validation")
    if select_on == "validation" and split.validation is None:
        if common.explicit("select_on"):
            raise UserError("--select_on=validation needs validation queries; drop --val_size=0 "
                            "or use a larger split")
        logging.warning("no validation queries (--val_size=0 or a split too small to hold them "
                        "out): best/ is the last evaluated epoch, never one chosen on the test "
                        "queries")
        select_on = "last"
    return split, {**values, "select_on": select_on,
                   "val_size": 0 if split.validation is None else len(split.validation)}


def build_trainer():
    """The Trainer the flags describe, validated, with nothing written to disk yet;
    also the run's record (config.json) and, on --resume, what the flags change."""
    check_flag_values()
    import tensorflow as tf

    from ssah_tf.config import RunConfig, TrainConfig, from_dict, to_dict
    from ssah_tf.data import load_dataset, resolve_split
    from ssah_tf.data.registry import split_path
    from ssah_tf.training.loop import Trainer
    from ssah_tf.training.runs import load_run_split

    # The strategy comes first: MultiWorkerMirroredStrategy must exist before other TF work.
    strategy = make_strategy(FLAGS.strategy)
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.keras.utils.set_random_seed(FLAGS.seed)
    stored = stored_run_config(FLAGS.model_dir)
    data_config = absolute_paths(common.data_config(stored["data"] if stored else None))
    data = load_dataset(data_config)
    modalities, backbone = modalities_and_backbone(data, stored["run"] if stored else None)
    ssah = common.ssah_config(num_labels=data.num_labels, text_dim=data.text_dim or 1,
                              stored=from_dict(stored["ssah"]) if stored else None)
    if ssah.network.num_labels != data.num_labels or (
            "text" in modalities and ssah.network.text_dim != data.text_dim):
        raise UserError(f"--num_labels/--text_dim disagree with the data ({data.num_labels} "
                        f"labels, text dim {data.text_dim})")
    values = run_values(stored["run"] if stored else None, ssah.preset)
    if stored and os.path.isfile(split_path(FLAGS.model_dir)):
        # The run's own split, whatever the split flags now say (resume_changes refuses
        # changed ones).
        split = load_run_split(FLAGS.model_dir, data, data_config,
                               RunConfig(model_dir=FLAGS.model_dir, **values))
    else:
        split, values = validation_split(resolve_split(data, data_config), values,
                                         data_config.split_seed)
    model_dir = FLAGS.model_dir or common.default_run_dir(
        f"{data.name}_{ssah.preset}_{ssah.network.bits}b")
    run = RunConfig(model_dir=model_dir, modalities=modalities, backbone=backbone, **values)
    config = TrainConfig(ssah=ssah, schedule=schedule_config(stored), run=run)
    record = {"ssah": to_dict(ssah), "schedule": dataclasses.asdict(config.schedule),
              "run": dataclasses.asdict(run), "data": dataclasses.asdict(data_config),
              "replicas": strategy.num_replicas_in_sync}
    changes = resume_changes(stored, record) if stored else {}
    trainer = Trainer(config, data, split, strategy)
    trainer.setup["command"] = common.command_line()
    trainer.restore_or_initialize(resume=resuming(), init_from=FLAGS.init_from,
                                  resume_from=FLAGS.resume_from)
    return trainer, record, changes


def main(argv):
    import shutil

    import tensorflow as tf

    from ssah_tf.data import save_split
    from ssah_tf.data.registry import split_path
    from ssah_tf.training.runs import RunLock, record_config_changes
    from ssah_tf.training.summaries import write_json_atomic
    from ssah_tf.training.loop import Diverged, Preempted

    trainer, record, changes = build_trainer()
    config, split, strategy = trainer.config, trainer.split, trainer.strategy
    model_dir = config.run.model_dir
    # Only now, with inputs validated, does anything get written: first the lock (the
    # chief's on the run, a worker's on its own scratch folder), then the run's files.
    owned = model_dir if trainer.is_chief else trainer._scratch_dir
    created = not os.path.exists(owned)
    lock = RunLock(owned).acquire()
    try:
        if trainer.is_chief:
            if not resuming() and tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")):
                raise UserError(f"{model_dir} got checkpoints while this start was validated; "
                                "pass --resume to continue it or choose a new --model_dir")
            if not os.path.exists(split_path(model_dir)):
                save_split(split, split_path(model_dir))
            if not os.path.exists(os.path.join(model_dir, "config.json")):
                write_json_atomic(os.path.join(model_dir, "config.json"), record)
            elif changes:
                record_config_changes(model_dir, changes, step=int(trainer.global_step.numpy()))
                logging.info("resume changes %s (recorded in config_changes.json)",
                             ", ".join(sorted(changes)))
    except BaseException:
        lock.release()
        if created:
            shutil.rmtree(owned, ignore_errors=True)
        raise
    logging.info("%s; split: %s", trainer.data.summary(), split.sizes())
    if split.validation is not None:
        logging.info("validation: %d queries %s (split.npz validation_index)", len(split.validation),
                     "held out of the training items, not trained on"
                     if split.validation_from == "train" else
                     "from the database items outside the training set")
    logging.info("best/ is chosen by %s", trainer.selection.describe())
    logging.info("%s", trainer.start_message)
    logging.info("run directory %s (%d replicas)", model_dir, strategy.num_replicas_in_sync)
    try:
        results = trainer.train()
    except Preempted as stop:
        print(f"{common.tool_name()}: stopped by {trainer.stop_signal}: checkpoint {stop} "
              "written; rerun with --resume to continue", file=sys.stderr)
        return 3
    except Diverged as error:
        lock.release()
        if created and error.last_checkpoint is None and trainer.is_chief:
            shutil.rmtree(owned, ignore_errors=True)  # nothing worth keeping was written
        print(f"{common.tool_name()}: error: {error}", file=sys.stderr)
        return 4
    finally:
        lock.release()
    if not trainer.is_chief:
        return 0
    print(common.final_table(results, os.path.join(model_dir, "results.json")))
    if FLAGS.report:
        from ssah_tf.evaluation.outputs import evaluate_loaded_run
        from ssah_tf.training.runs import load_run

        output_dir = os.path.join(model_dir, "eval_best")
        evaluate_loaded_run(load_run(model_dir, "best"), output_dir, common.output_options())
        print(f"report: {os.path.join(output_dir, 'report', 'index.html')}")
    return 0


run = common.entry_point(main)


if __name__ == "__main__":
    run()
