"""Which stages run in an epoch, how many passes, at which learning rate (SPEC 4)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from ssah_tf.errors import UserError

SCHEDULES = ("paper", "release")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """Training schedule; the release's values are fixed by SPEC 4, the paper's are flags."""

    name: str = "paper"
    epochs: int = 20
    batch_size: int = 128
    # Paper schedule knobs (ignored by the release schedule).
    lr_lab: float = 1e-3
    lr_img: float = 3e-4
    lr_txt: float = 3e-4
    lr_dis: float = 1e-4
    lr_decay: float = 0.9  # multiplied in once per epoch
    passes_lab: int = 2
    passes_img: int = 2
    passes_txt: int = 2
    passes_dis: int = 1
    # Paper schedule: a generator stage runs at least this many steps (whole passes),
    # so small training sets get as many updates per epoch as large ones: 2 passes of
    # 1,000 items at batch 128 are 14 steps, too few for LabNet to leave its start.
    min_stage_steps: int = 100


# What a run recorded before a schedule field existed did (see config.LEGACY_VALUES).
LEGACY_SCHEDULE_VALUES = {"min_stage_steps": 0}


def schedule_from_dict(values: Mapping[str, Any]) -> ScheduleConfig:
    """A stored schedule (config.json); fields it predates take their legacy values."""
    known = {f.name for f in dataclasses.fields(ScheduleConfig)}
    stored = {k: v for k, v in values.items() if k in known}
    for name, value in LEGACY_SCHEDULE_VALUES.items():
        stored.setdefault(name, value)
    return ScheduleConfig(**stored)


def stage_passes(passes: int, min_steps: int, steps_per_pass: int) -> int:
    """Passes of a stage: ``passes``, or more to reach ``min_steps`` steps."""
    return max(passes, math.ceil(min_steps / max(1, steps_per_pass)))


@dataclasses.dataclass(frozen=True)
class StagePlan:
    """One stage of an epoch: ``passes`` passes of ``network`` at ``learning_rate``."""

    network: str  # 'lab', 'dis', 'img' or 'txt'
    index: int  # the stage's idx within its network this epoch (release lr indexing)
    passes: int
    learning_rate: float
    early_break: str = "none"  # 'none', 'lab' (release LabNet rule), 'hash' (Img/Txt rule)


class ScheduleExhausted(Exception):
    """The release's learning-rate lists have no entry for this epoch."""


def release_learning_rates() -> dict[str, np.ndarray]:
    """setting.py: 0.1 ** x for x in arange(start, 100, 0.5) (196, 191, 193, 194 entries)."""
    return {name: np.power(0.1, np.arange(start, 100.0, 0.5))
            for name, start in (("lab", 2.0), ("img", 4.5), ("txt", 3.5), ("dis", 3.0))}


_RELEASE_PASSES = {"lab": (10, 5), "dis": (1, 1), "img": (15, 7, 5), "txt": (15, 7, 5)}
_RELEASE_BREAK = {"lab": "lab", "dis": "none", "img": "hash", "txt": "hash"}


def epoch_plan(config: ScheduleConfig, epoch: int, networks: tuple[str, ...],
               steps_per_pass: int = 1) -> list[StagePlan]:
    """The stages of ``epoch`` for the networks present (subset of lab, img, txt, dis);
    ``steps_per_pass`` (training items // batch) sets the paper schedule's step floor."""
    plans: list[StagePlan] = []
    if config.name == "release":
        rates = release_learning_rates()
        for network in ("lab", "dis", "img", "txt"):  # the release's order
            if network not in networks:
                continue
            for index, passes in enumerate(_RELEASE_PASSES[network]):
                position = epoch + index
                if position >= len(rates[network]):
                    raise ScheduleExhausted(
                        f"the release's {network} learning-rate list ({len(rates[network])} "
                        f"entries) has no entry for epoch {epoch} stage {index}; the original "
                        "crashes here with an IndexError, so training stops")
                plans.append(StagePlan(network, index, passes, float(rates[network][position]),
                                       _RELEASE_BREAK[network]))
        return plans
    if config.name != "paper":
        raise UserError(f"unknown schedule {config.name!r}; use paper or release")
    decay = config.lr_decay ** epoch
    for network in ("lab", "img", "txt", "dis"):  # Algorithm 1: discriminators last
        if network in networks:
            passes = getattr(config, f"passes_{network}")
            if network != "dis":
                passes = stage_passes(passes, config.min_stage_steps, steps_per_pass)
            plans.append(StagePlan(network, 0, passes, getattr(config, f"lr_{network}") * decay))
    return plans


def release_last_epoch(networks: tuple[str, ...]) -> int:
    """First epoch the release schedule cannot run (its lists run out)."""
    epoch = 0
    while True:
        try:
            epoch_plan(ScheduleConfig(name="release"), epoch, networks)
        except ScheduleExhausted:
            return epoch
        epoch += 1


def early_break(rule: str, pass_index: int, log: tuple[float, float],
                monitored: float | None) -> tuple[bool, tuple[float, float]]:
    """The release's early-break rules (SPEC 4) as a pure function.

    ``log`` holds the last two monitored values (oldest first, inf when none);
    ``monitored`` is this pass's monitoring loss (None when the rule does not
    monitor this pass). Returns (break now?, updated log).
    'lab': monitored after every pass; break when pass_index > 1 and it did not decrease.
    'hash': monitored on even passes; break when pass_index > 2 and the last two
    monitored values did not decrease.
    """
    if monitored is None or rule == "none":
        return False, log
    new_log = (log[1], monitored)
    if rule == "lab":
        return pass_index > 1 and monitored >= log[1], new_log
    if rule == "hash":
        return pass_index > 2 and monitored >= log[1], new_log
    raise ValueError(f"unknown early-break rule {rule!r}")


def monitors_this_pass(rule: str, pass_index: int) -> bool:
    """Whether the release computes its monitoring loss after this pass."""
    return rule == "lab" or (rule == "hash" and pass_index % 2 == 0)
