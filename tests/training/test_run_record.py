"""A run's record: config.json round trips, legacy values, resume differences, unknown
keys, and the API's flattening of config objects."""

import dataclasses
import json
import os

import pytest

from ssah_tf.config import ScheduleConfig, make_config, preset_fields
from ssah_tf.errors import UserError
from ssah_tf.training.run_record import (
    CHANGES_FILE,
    LEGACY_VALUES,
    config_differences,
    flatten_sections,
    from_dict,
    read_config_record,
    record_config_changes,
    schedule_from_dict,
    to_dict,
)


def test_round_trip_and_overrides():
    config = make_config("release", bits=32, pairwise_form="nll", bank_init="zeros")
    assert from_dict(to_dict(config)) == config
    assert config.network.bits == 32 and config.loss.pairwise_form == "nll"
    assert config.training.bank_init == "zeros" and config.network.init_scheme == "normal"
    with pytest.raises(UserError, match="init_scheme"):
        make_config("paper", init_scheme="uniform")


def test_a_run_recorded_before_new_fields_keeps_its_behaviour():
    stored = to_dict(make_config("paper"))
    for section in ("network", "training"):
        for name in LEGACY_VALUES:
            stored[section].pop(name, None)
    del stored["training"]  # older runs had no such section at all
    old = from_dict(stored)
    assert old.network.init_scheme == "normal" and old.training.bank_init == "normal"
    assert old.network.standardize_text == "off" == old.network.standardize_image_features
    # Every field that records a legacy value exists and is overridable by a flag.
    assert set(LEGACY_VALUES) <= set(preset_fields())


def test_schedule_legacy_has_no_step_floor():
    stored = dataclasses.asdict(ScheduleConfig())
    del stored["min_stage_steps"]
    assert schedule_from_dict(stored).min_stage_steps == 0
    assert ScheduleConfig().min_stage_steps == 100


def test_differences_are_listed_by_dotted_field():
    stored = {"ssah": {"loss": {"pairwise_form": "nll", "weights": [1, 2]}}, "run": {"seed": 0}}
    new = {
        "ssah": {"loss": {"pairwise_form": "squared_residual", "weights": (1, 2)}},
        "run": {"seed": 0, "extra": True},
    }
    assert config_differences(stored, new) == {
        "ssah.loss.pairwise_form": ("nll", "squared_residual"),
        "run.extra": (None, True),
    }


def test_changes_are_appended_never_overwritten(tmp_path):
    record_config_changes(str(tmp_path), {"schedule.epochs": (2, 5)}, step=10)
    record_config_changes(str(tmp_path), {"run.jit_compile": (False, True)}, step=20)
    history = json.loads((tmp_path / CHANGES_FILE).read_text())
    assert [h["global_step"] for h in history] == [10, 20]
    assert history[0]["changes"] == {"schedule.epochs": {"was": 2, "now": 5}}


def test_config_keys_no_setting_reads_are_named(tmp_path, caplog):
    import logging
    import shutil

    fixture = os.path.join(
        os.path.dirname(__file__), "..", "fixtures", "run_12e0d0f", "config.json"
    )
    shutil.copy(fixture, tmp_path / "config.json")
    assert read_config_record(str(tmp_path / "config.json"))["run"]
    record = json.loads((tmp_path / "config.json").read_text())
    record["run"]["learning_rate_typo"] = 0.1
    record["ssah"]["loss"]["gamma2"] = 1.0
    record["extra"] = {}
    (tmp_path / "config.json").write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING):
        read_config_record(str(tmp_path / "config.json"))
    (warning,) = [r.getMessage() for r in caplog.records if "not read by" in r.getMessage()]
    assert "extra, run.learning_rate_typo, ssah.loss.gamma2" in warning


def test_config_objects_flatten_into_the_settings_a_run_takes():
    flat = flatten_sections(ssah=make_config("release", bits=32), schedule=ScheduleConfig(epochs=3))
    assert flat["preset"] == "release" and flat["bits"] == 32 and flat["epochs"] == 3
    assert flat["schedule"] == "paper" and "name" not in flat
