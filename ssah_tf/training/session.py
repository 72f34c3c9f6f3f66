"""Starting or resuming a training run in its directory: what ``ssah-train`` and
``ssah_tf.train`` both do, in one implementation.

:func:`prepare` turns settings (flat field names of the config dataclasses, as the
flags are named) into a validated Trainer without writing anything; ``Session.run``
then takes the run directory's lock, writes config.json and split.npz (or records what
a resume changed) and trains. On resume the run's stored settings stand and only the
settings given change them; method and data changes are refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Any

from absl import logging

from ssah_tf import config as config_lib
from ssah_tf.data.protocols import save_split
from ssah_tf.data.registry import data_label, load_dataset, resolve_split, split_path
from ssah_tf.errors import UserError
from ssah_tf.output_paths import is_run_directory
from ssah_tf.training import run_record
from ssah_tf.training.binding import BINDING, binding_record, check_binding
from ssah_tf.training.run_record import (
    read_config_record,
    record_config_changes,
    resume_changes,
)
from ssah_tf.training.runs import (
    RunLock,
    load_run_split,
)
from ssah_tf.training.settings import (
    check_start,
    data_config,
    image_size,
    modalities_and_backbone,
    path_argument,
    run_values,
    schedule_config,
    setting_names,
    ssah_config,
    validation_split,
)
from ssah_tf.workspace import default_run_dir

# TensorFlow and the trainer load inside make_strategy, prepare and Session.run: the
# command-line tools import this module to define their flags, and --help and flag
# errors come before TensorFlow starts.

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


def make_strategy(name: str):
    import tensorflow as tf

    if name not in STRATEGIES:
        raise UserError(f"`strategy={name!r}` is not valid; use one of {', '.join(STRATEGIES)}")
    if name == "multi_worker":
        # Before anything initialises the TF context (listing devices would).
        if "TF_CONFIG" not in os.environ:
            raise UserError("`strategy=multi_worker` needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def _stored_record(model_dir: str | None, resuming: bool) -> dict | None:

    if not resuming:
        return None
    if not model_dir:
        raise UserError("`resume` needs the `model_dir` of the run to continue")
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        what = (
            "does not exist" if not os.path.exists(model_dir) else "holds no run (no config.json)"
        )
        raise UserError(
            f"`resume`: {model_dir} {what}; leave out `resume` to start a new run there"
        )
    return read_config_record(path)


@dataclasses.dataclass
class Session:
    """A validated start of a run (nothing written yet) and what :meth:`run` writes."""

    trainer: Any  # training.loop.Trainer
    record: dict  # config.json
    changes: dict  # what a resume changes (config_changes.json)
    resuming: bool
    # config.json's binding to update: a resume on deliberately changed data, or a run
    # that predates the binding (training.binding).
    rebind: bool = False

    @property
    def model_dir(self) -> str:
        return self.trainer.config.run.model_dir

    def record_command(self, command: str) -> None:
        """Say in results.json how the run was made: a resumed run keeps the command
        that started it (what a table quotes) and lists the resuming ones after it."""
        setup = self.trainer.setup
        stored = {}
        path = os.path.join(self.model_dir, "results.json")
        if self.resuming and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as f:
                    stored = json.load(f).get("setup") or {}
            except (OSError, ValueError):
                stored = {}
        if stored.get("command"):
            setup["command"] = stored["command"]
            setup["resumed_with"] = [*stored.get("resumed_with", []), command]
        else:
            setup["command"] = command

    def run(self) -> dict[str, Any]:
        """Take the run directory, write its records and train; the final results.
        Raises loop.Preempted (a stop signal: checkpoint written) and loop.Diverged
        (nothing non-finite saved; a run directory with no checkpoint is removed)."""
        import tensorflow as tf

        from ssah_tf.training.loop import Diverged
        from ssah_tf.training.summaries import write_json_atomic

        trainer, model_dir = self.trainer, self.model_dir
        # Only now, with inputs validated, does anything get written: first the lock (the
        # chief's on the run, a worker's on its own scratch folder), then the run's files.
        owned = model_dir if trainer.is_chief else trainer.scratch_dir
        created = not os.path.exists(owned)
        lock = RunLock(owned).acquire()
        try:
            if trainer.is_chief:
                if not self.resuming and tf.train.latest_checkpoint(
                    os.path.join(model_dir, "checkpoints")
                ):
                    raise UserError(
                        f"{model_dir} got checkpoints while this start was "
                        "validated; pass `resume` to continue it or choose a new "
                        "`model_dir`"
                    )
                if not os.path.exists(split_path(model_dir)):
                    save_split(trainer.split, split_path(model_dir))
                if not os.path.exists(os.path.join(model_dir, "config.json")):
                    write_json_atomic(os.path.join(model_dir, "config.json"), self.record)
                elif self.rebind:
                    stored = read_config_record(os.path.join(model_dir, "config.json"))
                    stored[BINDING] = self.record[BINDING]
                    write_json_atomic(os.path.join(model_dir, "config.json"), stored)
                if self.changes:
                    record_config_changes(
                        model_dir, self.changes, step=int(trainer.parts.state.global_step.numpy())
                    )
                    logging.info(
                        "resume changes %s (recorded in config_changes.json)",
                        ", ".join(sorted(self.changes)),
                    )
        except BaseException:
            lock.release()
            if created:
                shutil.rmtree(owned, ignore_errors=True)
            raise
        split = trainer.split
        logging.info("%s; split: %s", trainer.data.summary(), split.sizes())
        if split.validation is not None:
            logging.info(
                "validation: %d queries %s (split.npz validation_index)",
                len(split.validation),
                "held out of the training items, not trained on"
                if split.validation_from == "train"
                else "from the database items outside the training set",
            )
        logging.info("best/ is chosen by %s", trainer.selection.describe())
        logging.info("%s", trainer.start_message)
        logging.info(
            "run directory %s (%d replicas)", model_dir, trainer.strategy.num_replicas_in_sync
        )
        try:
            return trainer.train()
        except Diverged as error:
            lock.release()
            if created and error.last_checkpoint is None and trainer.is_chief:
                shutil.rmtree(owned, ignore_errors=True)  # nothing worth keeping was written
            raise
        finally:
            lock.release()


def prepare(
    model_dir: str | None = None,
    *,
    resume: bool = False,
    resume_from: str | None = None,
    init_from: str | None = None,
    strategy: str = "auto",
    deterministic: bool = False,
    allow_data_change: bool = False,
    **settings: Any,
) -> Session:
    """A validated Trainer for a new or resumed run (nothing written to disk yet).

    ``settings``: fields of DataConfig, the method (``preset`` and every preset field),
    ScheduleConfig (``schedule`` for its name) and RunConfig, by name; on resume only the
    settings given change the run's stored ones. ``allow_data_change``: resume on data
    that differs from the run's recorded fingerprint (training.binding)."""
    import tensorflow as tf

    from ssah_tf.training.factory import build_trainer

    known = setting_names()
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise UserError(
            f"unknown setting `{unknown[0]}`; the settings are the fields of the "
            "configuration (docs/python.md)"
        )
    settings = check_start(settings, resume=resume, resume_from=resume_from, init_from=init_from)
    model_dir = path_argument("model_dir", model_dir)
    resume_from = path_argument("resume_from", resume_from)
    init_from = path_argument("init_from", init_from)
    for name, flag in (
        ("resume", resume),
        ("deterministic", deterministic),
        ("allow_data_change", allow_data_change),
    ):
        if not isinstance(flag, bool):
            raise UserError(f"`{name}` must be True or False, not {flag!r}")
    resuming = bool(resume or resume_from)
    if model_dir and os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise UserError(
            f"`model_dir={model_dir}` is an existing file, not a directory; choose a directory"
        )
    if model_dir and not resuming and is_run_directory(model_dir):
        if not os.path.isfile(os.path.join(model_dir, "config.json")):
            raise UserError(
                f"`model_dir={model_dir}` holds another tool's results.json (an "
                "ssah-baseline run); choose a new `model_dir`"
            )
    # The strategy comes first: MultiWorkerMirroredStrategy must exist before other TF work.
    distribution = make_strategy(strategy)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    stored = _stored_record(model_dir, resuming)
    stored_run = stored["run"] if stored else None
    data_settings = data_config(settings, stored)
    data = load_dataset(data_settings)
    modalities, backbone = modalities_and_backbone(settings, stored_run, data)
    ssah = ssah_config(settings, stored, num_labels=data.num_labels, text_dim=data.text_dim or 1)
    if ssah.network.num_labels != data.num_labels or (
        "text" in modalities and ssah.network.text_dim != data.text_dim
    ):
        raise UserError(
            f"`num_labels`/`text_dim` disagree with the data ({data.num_labels} "
            f"labels, text dim {data.text_dim})"
        )
    values = run_values(settings, stored_run, ssah.preset)
    values.update(
        modalities=modalities,
        backbone=backbone,
        image_size=image_size(settings, stored_run, backbone),
    )
    tf.keras.utils.set_random_seed(values.get("seed", 0))
    if stored and os.path.isfile(split_path(model_dir)):
        # The run's own split, whatever the split settings now say (resume_changes refuses
        # changed ones).
        split = load_run_split(
            model_dir,
            data,
            data_settings,
            run_record.run_from_dict({**values, "model_dir": model_dir}),
        )
    else:
        split, values = validation_split(
            resolve_split(data, data_settings),
            values,
            data_settings.split_seed,
            "select_on" in settings,
        )
    model_dir = model_dir or default_run_dir(f"{data.name}_{ssah.preset}_{ssah.network.bits}b")
    run = config_lib.RunConfig(model_dir=model_dir, **values)
    config = config_lib.TrainConfig(
        ssah=ssah, schedule=schedule_config(settings, stored, ssah.preset), run=run
    )
    record = {
        "ssah": run_record.to_dict(ssah),
        "schedule": dataclasses.asdict(config.schedule),
        "run": dataclasses.asdict(run),
        "data": dataclasses.asdict(data_settings),
        "replicas": distribution.num_replicas_in_sync,
    }
    changes = resume_changes(stored, record) if stored else {}
    record[BINDING] = binding_record(data, split)
    checkpoint_dir = os.path.join(model_dir, "checkpoints")
    data_changed: list[str] = []
    if stored:
        from ssah_tf.training import checkpoints

        checkpoints.check_folder(checkpoint_dir)  # before TF parses its state file
        latest = resume_from or tf.train.latest_checkpoint(checkpoint_dir)
        data_changed = check_binding(
            model_dir,
            stored,
            data,
            split,
            latest,
            allow_data_change=allow_data_change,
            resuming=True,
        )
        if data_changed:
            changes[BINDING] = (stored.get(BINDING), record[BINDING])
    # A resumed run's checkpoint restores every weight: no input statistics to compute
    # or pre-trained weights to load first.
    # (Listed, not parsed: a damaged state file is reported by restore_or_initialize.)
    restoring = resuming and bool(
        resume_from
        or (
            os.path.isdir(checkpoint_dir)
            and any(name.endswith(".index") for name in os.listdir(checkpoint_dir))
        )
    )
    trainer = build_trainer(config, data, split, distribution, fit_input_statistics=not restoring)
    trainer.setup["data"] = data_label(data_settings.dataset, data_settings.data_path)
    trainer.setup[BINDING] = record[BINDING]
    if data_changed:
        trainer.setup["data_changed"] = data_changed
    trainer.restore_or_initialize(resume=resuming, init_from=init_from, resume_from=resume_from)
    rebind = bool(stored) and stored.get(BINDING) != record[BINDING]
    return Session(trainer, record, changes, resuming, rebind)
