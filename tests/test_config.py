"""Configuration: presets as data, overrides, and runs recorded before a field existed."""

import dataclasses

import pytest

from ssah_tf.config import (
    LEGACY_VALUES,
    ScheduleConfig,
    from_dict,
    make_config,
    preset_fields,
    schedule_from_dict,
    to_dict,
)
from ssah_tf.errors import UserError


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
