"""A run's record, config.json: written, read back and compared, in one place.

config.json holds the ``ssah`` (method), ``schedule``, ``run`` and ``data`` records,
the replica count and the run's ``binding`` to its data and split
(training/binding.py). A field added after a run was made takes its *legacy value*
(what the code of that time did), so old runs resume and evaluate as they did. A
resume may change only the schedule and execution fields; what it changed is
appended to config_changes.json. The Python API's config objects flatten into the
settings a run takes (:func:`flatten_sections`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from absl import logging

from ssah_tf.atomic import write_atomic
from ssah_tf.config import (
    SECTIONS,
    RunConfig,
    ScheduleConfig,
    SSAHConfig,
    TrainConfig,
)
from ssah_tf.data.files import load_json
from ssah_tf.data.registry import DataConfig
from ssah_tf.errors import UserError

CONFIG_FILE = "config.json"

# Fields of a run that a resume may not change (with the whole method and data records).
FIXED_RUN_FIELDS = (
    "modalities",
    "backbone",
    "backbone_weights",
    "freeze_backbone",
    "image_size",
    "select_on",
    "val_size",
    "selection_criterion",
    "selection_tolerance",
    "map_variant",
    "map_top_k",
)
PATH_FIELDS = ("data_path", "data_dir", "image_root", "vocab_file", "split_file")


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


# What a run recorded before a schedule field existed did (see LEGACY_VALUES).
LEGACY_SCHEDULE_VALUES = {"min_stage_steps": 0}


def schedule_from_dict(values: Mapping[str, Any]) -> ScheduleConfig:
    """A stored schedule (config.json); fields it predates take their legacy values."""
    known = {f.name for f in dataclasses.fields(ScheduleConfig)}
    stored = {k: v for k, v in values.items() if k in known}
    for name, value in LEGACY_SCHEDULE_VALUES.items():
        stored.setdefault(name, value)
    return ScheduleConfig(**stored)


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


def absolute_paths(data_config: DataConfig) -> DataConfig:
    """The data config with every path absolute (what a run stores and compares)."""
    return dataclasses.replace(
        data_config,
        **{
            name: os.path.abspath(getattr(data_config, name))
            for name in PATH_FIELDS
            if getattr(data_config, name)
        },
    )


def known_fields(cls, values: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def read_run_config(model_dir: str, **run_overrides):
    """(TrainConfig, DataConfig, the config.json record) of a run directory; everything
    of a run is found relative to the directory given, so a copied or moved run reads
    its own checkpoints (not those at the path it was trained in)."""

    path = os.path.join(model_dir, "config.json")
    if not os.path.isdir(model_dir):
        raise UserError(f"`model_dir={model_dir}` is not a directory")
    if not os.path.isfile(path):
        raise UserError(f"{model_dir} has no config.json; is it a ssah-train run directory?")
    saved = read_config_record(path)
    try:
        data_config = DataConfig(**saved["data"])
        run = run_from_dict(saved["run"], model_dir=model_dir, **run_overrides)
        config = TrainConfig(
            ssah=from_dict(saved["ssah"]), schedule=schedule_from_dict(saved["schedule"]), run=run
        )
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"{path} is damaged or from an unknown version ({type(error).__name__}: {error})"
        ) from None
    return config, data_config, saved


RUN_RECORDS = ("ssah", "schedule", "run", "data")


def unknown_config_keys(saved: dict) -> list[str]:
    """Keys of a config.json record that no setting of this version reads (dotted)."""
    from ssah_tf.config import SECTIONS, RunConfig, ScheduleConfig

    def names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    unknown = [k for k in saved if k not in {*RUN_RECORDS, "replicas", "binding"}]
    for record, cls in (("run", RunConfig), ("data", DataConfig), ("schedule", ScheduleConfig)):
        unknown += [f"{record}.{k}" for k in saved[record] if k not in names(cls)]
    for key, value in saved["ssah"].items():
        if key == "preset":
            continue
        if key in SECTIONS and isinstance(value, dict):
            unknown += [f"ssah.{key}.{k}" for k in value if k not in names(SECTIONS[key])]
        else:
            unknown.append(f"ssah.{key}")
    return unknown


def read_config_record(path: str) -> dict:
    """A run's config.json, refused in one line when it lacks one of its records; keys
    no setting reads (hand-added, or from another version) are named in a warning."""
    saved = load_json(path)
    missing = [
        k for k in RUN_RECORDS if not isinstance(saved, dict) or not isinstance(saved.get(k), dict)
    ]
    if missing:
        raise UserError(
            f"{path} is damaged (no {', '.join(missing)} record); restore it from a backup"
        )
    unknown = unknown_config_keys(saved)
    if unknown:
        logging.warning(
            "%s: %s not read by this version of ssah_tf (ignored; remove them, or they "
            "are from another version)",
            path,
            ", ".join(unknown),
        )
    return saved


def resume_changes(stored: dict, record: dict) -> dict:
    """The changed settings a resume may make; UserError for the ones it may not.

    Both sides are compared as the code reads them (a stored record without a newer
    field holds that field's legacy value), so reading an old run is no change."""

    normalised = {
        "ssah": to_dict(from_dict(stored["ssah"])),
        "schedule": dataclasses.asdict(schedule_from_dict(stored["schedule"])),
        "run": dataclasses.asdict(run_from_dict(stored["run"])),
        "data": dataclasses.asdict(
            absolute_paths(DataConfig(**known_fields(DataConfig, stored["data"])))
        ),
        "replicas": stored.get("replicas"),
    }
    changes = config_differences(normalised, record)
    fixed = {
        k: v
        for k, v in changes.items()
        if k.split(".")[0] in ("ssah", "data") or k in {f"run.{name}" for name in FIXED_RUN_FIELDS}
    }
    if fixed:
        listed = "; ".join(
            f"`{k.split('.')[-1]}` (run: {a}, now: {b})" for k, (a, b) in fixed.items()
        )
        raise UserError(
            f"`resume` would change the run's method or data: {listed}. A run's "
            "method and data are fixed: drop these settings, or start a new "
            "`model_dir`"
        )
    return {k: v for k, v in changes.items() if k != "run.model_dir"}


CHANGES_FILE = "config_changes.json"


def config_differences(stored: dict, new: dict, prefix: str = "") -> dict[str, tuple]:
    """{dotted field: (stored, new)} for every leaf that differs (lists as tuples)."""
    out = {}
    for key in sorted(set(stored) | set(new)):
        a, b = stored.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(config_differences(a, b, name + "."))
        elif _plain(a) != _plain(b):
            out[name] = (a, b)
    return out


def _plain(value):
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def record_config_changes(model_dir: str, changes: dict[str, tuple], *, step: int) -> None:
    """Append a dated record of the settings a resumed run changed (config.json keeps
    the run's original settings; only its data binding follows a deliberate change)."""

    path = os.path.join(model_dir, CHANGES_FILE)
    history = []
    if os.path.isfile(path):
        history = load_json(path)
    history.append(
        {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "global_step": step,
            "changes": {k: {"was": a, "now": b} for k, (a, b) in changes.items()},
        }
    )
    write_atomic(path, lambda f: json.dump(history, f, indent=1, sort_keys=True))


def flatten_sections(ssah=None, schedule=None, run=None, data=None) -> dict[str, Any]:
    """Config objects as the flat settings :func:`train` takes."""
    out: dict[str, Any] = {}
    if data is not None:
        out.update(dataclasses.asdict(data))
    if ssah is not None:
        out["preset"] = ssah.preset
        for section in SECTIONS:
            out.update(dataclasses.asdict(getattr(ssah, section)))
    if schedule is not None:
        values = dataclasses.asdict(schedule)
        out["schedule"] = values.pop("name")
        out.update(values)
    if run is not None:
        values = dataclasses.asdict(run)
        values.pop("model_dir")
        out.update(values)
    return out
