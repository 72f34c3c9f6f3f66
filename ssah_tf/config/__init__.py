"""Frozen configuration objects: the method (method.py, with the two presets), the
run (run.py) and the schedule (schedule.py). A run's config.json is read and written
by training/run_record.py."""

from __future__ import annotations

import dataclasses

from ssah_tf.config.method import (
    PAPER_WINDOWS,
    PRESETS,
    RELEASE_WINDOWS,
    SECTIONS,
    LossConfig,
    NetworkConfig,
    OptimizerConfig,
    SSAHConfig,
    TrainingConfig,
    make_config,
    preset_differences,
    preset_fields,
)
from ssah_tf.config.run import (
    BACKBONE_CHOICES,
    DEFAULT_IMAGE_SIZE,
    SELECT_ON,
    SELECTION_CRITERIA,
    RunConfig,
    check_map_variant,
    preset_run_defaults,
)
from ssah_tf.config.schedule import DEFAULT_EPOCHS, SCHEDULES, ScheduleConfig


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs: the method, its schedule and the run."""

    ssah: SSAHConfig
    schedule: ScheduleConfig
    run: RunConfig


__all__ = [
    "BACKBONE_CHOICES",
    "DEFAULT_EPOCHS",
    "DEFAULT_IMAGE_SIZE",
    "PAPER_WINDOWS",
    "PRESETS",
    "RELEASE_WINDOWS",
    "SCHEDULES",
    "SECTIONS",
    "SELECTION_CRITERIA",
    "SELECT_ON",
    "LossConfig",
    "NetworkConfig",
    "OptimizerConfig",
    "RunConfig",
    "SSAHConfig",
    "ScheduleConfig",
    "TrainConfig",
    "TrainingConfig",
    "check_map_variant",
    "make_config",
    "preset_differences",
    "preset_fields",
    "preset_run_defaults",
]
