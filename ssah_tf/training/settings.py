"""The settings a run is started or resumed with: checked (types, paths), then resolved
into the config objects, with a resumed run's stored settings standing where none is
given (:func:`prepare <ssah_tf.training.session.prepare>` calls these in order)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from absl import logging

from ssah_tf import config as config_lib
from ssah_tf.data.protocols import resolve_validation
from ssah_tf.data.registry import DataConfig
from ssah_tf.errors import UserError
from ssah_tf.evaluation.selection import check_validation_queries
from ssah_tf.fields import declared, type_problem
from ssah_tf.training import run_record
from ssah_tf.training.run_record import absolute_paths, known_fields
from ssah_tf.training.runs import missing_modality

# The --modalities words of the command line, as the modality tuples they stand for.
MODALITIES = {"both": ("image", "text"), "text": ("text",), "image": ("image",)}


def setting_names() -> dict[str, str]:
    """Every setting :func:`prepare` takes -> its record (data, ssah, schedule, run)."""
    names = {name: "data" for name in declared(DataConfig)}
    names["preset"] = "ssah"
    for section in config_lib.SECTIONS.values():
        names.update({name: "ssah" for name in declared(section)})
    names.update(
        {name: "schedule" for name in declared(config_lib.ScheduleConfig) if name != "name"}
    )
    names["schedule"] = "schedule"
    names.update({name: "run" for name in declared(config_lib.RunConfig) if name != "model_dir"})
    return names


def _setting_fields() -> dict[str, dataclasses.Field]:
    fields = dict(declared(DataConfig))
    for section in config_lib.SECTIONS.values():
        fields.update(declared(section))
    fields.update(declared(config_lib.ScheduleConfig))
    fields.update(declared(config_lib.RunConfig))
    return fields


def check_setting_types(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with paths as strings and NumPy scalars as Python numbers; UserError
    naming the first whose type its field refuses (a string where a sequence belongs
    is refused, not read letter by letter)."""
    fields = _setting_fields()
    out = {}
    for name, value in settings.items():
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        elif hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            value = value.item()
        if name == "modalities" and isinstance(value, str):
            if value not in MODALITIES:
                raise UserError(
                    f"`modalities={value}` is not valid; use {', '.join(MODALITIES)} or a "
                    "sequence such as ('image', 'text')"
                )
        elif name in ("preset", "schedule"):
            if not isinstance(value, str):
                raise UserError(f"`{name}` must be a string, not {type(value).__name__} {value!r}")
        elif name in fields:
            problem = type_problem(fields[name], value)
            if problem:
                raise UserError(f"`{name}` {problem}")
        out[name] = value
    return out


def path_argument(name: str, value: Any, *, required: bool = False) -> str | None:
    """A path argument as a string (None stays None unless ``required``); UserError for
    anything else."""
    if value is None and not required:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise UserError(f"`{name}` must be a path (a non-empty string), not {value!r}")
    return value


def data_config(given: Mapping[str, Any], stored: dict | None) -> DataConfig:
    """The data settings: a resumed run's stored ones, overridden by those given."""
    values = known_fields(DataConfig, stored["data"]) if stored else {}
    values.update({k: v for k, v in given.items() if k in declared(DataConfig)})
    return absolute_paths(DataConfig(**values))


def ssah_config(
    given: Mapping[str, Any], stored: dict | None, *, num_labels: int, text_dim: int
) -> config_lib.SSAHConfig:
    """The method: the preset's fields (a resumed run's stored ones) with those given."""
    base = run_record.from_dict(stored["ssah"]) if stored else None
    preset = given.get("preset", base.preset if base is not None else "paper")
    overrides = {}
    for name, (section, _) in config_lib.preset_fields().items():
        if name in given:
            overrides[name] = given[name]
        elif base is not None:
            overrides[name] = getattr(getattr(base, section), name)
    overrides.setdefault("num_labels", num_labels)
    overrides.setdefault("text_dim", text_dim)
    return config_lib.make_config(preset, **overrides)


def schedule_config(
    given: Mapping[str, Any], stored: dict | None, preset: str
) -> config_lib.ScheduleConfig:
    """The schedule: the preset's (a resumed run's stored one) with the knobs given."""
    values = (
        dataclasses.asdict(run_record.schedule_from_dict(stored["schedule"]))
        if stored
        else {"name": "release" if preset == "release" else "paper"}
    )
    if "schedule" in given:
        values["name"] = given["schedule"]
    # A new run without epochs takes its schedule's default (ScheduleConfig).
    values.update(
        {k: v for k, v in given.items() if k in declared(config_lib.ScheduleConfig) and k != "name"}
    )
    return config_lib.ScheduleConfig(**values)


def modalities_and_backbone(
    given: Mapping[str, Any], stored_run: dict | None, data
) -> tuple[tuple[str, ...], str]:
    """What the run trains (dropping a modality the data lacks when both were asked for
    by default) and its resolved ImgNet backbone."""
    asked = given.get("modalities", "both")
    modalities = (
        MODALITIES[asked] if isinstance(asked, str) and asked in MODALITIES else tuple(asked)
    )
    if stored_run and "modalities" not in given:
        modalities = tuple(stored_run["modalities"])
    missing = [m for m in modalities if m not in data.modalities]
    if "image" in missing and data.image_note and "modalities" not in given:
        raise UserError(data.image_note)  # pictures listed but not found: say so, not text-only
    if asked == "both" and missing:
        modalities = tuple(m for m in modalities if m in data.modalities)
        logging.warning("%s has no %s: training %s only", data.name, missing[0], modalities[0])
    elif missing:
        raise UserError(missing_modality(modalities, data))
    backbone = given.get("backbone", stored_run.get("backbone") if stored_run else "auto")
    if backbone == "auto":
        backbone = "cnnf" if given.get("cnnf_path") else "mlp"
    return modalities, backbone


def image_size(given: Mapping[str, Any], stored_run: dict | None, backbone: str) -> int:
    """The picture side ImgNet reads: given, the run's, or the backbone's default."""
    if given.get("image_size"):
        return given["image_size"]
    if stored_run:
        return run_record.legacy_run_record(stored_run)["image_size"] or 224
    return config_lib.DEFAULT_IMAGE_SIZE[backbone]


def run_values(given: Mapping[str, Any], stored_run: dict | None, preset: str) -> dict:
    """The RunConfig fields: a resumed run's stored values unless given; fields left unset
    take the preset's run defaults, then RunConfig's."""
    values = run_record.legacy_run_record(stored_run) if stored_run else {}
    values = known_fields(config_lib.RunConfig, values)
    values.pop("model_dir", None)
    values.update({k: v for k, v in given.items() if k in declared(config_lib.RunConfig)})
    for name, value in config_lib.preset_run_defaults(preset).items():
        values.setdefault(name, value)
    return values


def validation_split(split, values: dict, split_seed: int, select_on_given: bool):
    """A new run's split with its validation queries (protocols.resolve_validation,
    automatic when selecting on validation) and the run's select_on and val_size."""

    select_on = values.get("select_on", "validation")
    split = resolve_validation(
        split, values.get("val_size"), seed=split_seed, automatic=select_on == "validation"
    )
    if select_on == "validation" and split.validation is None:
        if select_on_given:
            check_validation_queries(select_on, split)
        logging.warning(
            "no validation queries (`val_size=0` or a split too small to hold them "
            "out): best/ is the last evaluated epoch, never one chosen on the test "
            "queries"
        )
        select_on = "last"
    return split, {
        **values,
        "select_on": select_on,
        "val_size": 0 if split.validation is None else len(split.validation),
    }


def check_start(
    settings: Mapping[str, Any],
    *,
    resume: bool = False,
    resume_from: str | None = None,
    init_from: str | None = None,
) -> dict[str, Any]:
    """Everything about a start that can be checked before TensorFlow does: the
    settings' types, ``resume`` against ``init_from``, and the mAP variant with its k
    (on resume only when both are given: the run's stored ones may complete them).
    Returns the settings as check_setting_types leaves them."""
    settings = check_setting_types(settings)
    resuming = bool(resume or resume_from)
    if resuming and init_from:
        raise UserError(
            "`resume` and `init_from` exclude each other: a resumed run already has weights"
        )
    if not resuming or {"map_variant", "map_top_k"} <= set(settings):
        config_lib.check_map_variant(settings.get("map_variant"), settings.get("map_top_k"))
    return settings
