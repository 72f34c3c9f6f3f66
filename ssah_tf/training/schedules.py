"""Which stages run in an epoch, how many passes, at which learning rate.

Pure functions of a :class:`ssah_tf.config.ScheduleTable` (the paper's, built from
the flags, or the release's fixed one): docs/method.md describes both.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ssah_tf.config import RELEASE_SCHEDULE, ScheduleConfig, ScheduleTable, schedule_table


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


def release_learning_rates(table: ScheduleTable = RELEASE_SCHEDULE) -> dict[str, np.ndarray]:
    """setting.py: 0.1 ** x for x in arange(start, 100, 0.5) (196, 191, 193, 194 entries)."""
    return {
        name: np.power(0.1, np.arange(start, 100.0, 0.5))
        for name, start in table.base_rates.items()
    }


def _learning_rate(table: ScheduleTable, network: str, epoch: int, index: int) -> float:
    if table.learning_rates == "decay":
        return table.base_rates[network] * table.lr_decay**epoch
    if table.learning_rates == "release_lists":
        rates = release_learning_rates(table)[network]
        position = epoch + index
        if position >= len(rates):
            raise ScheduleExhausted(
                f"the release's {network} learning-rate list ({len(rates)} entries) has no entry "
                f"for epoch {epoch} stage {index}; the original crashes here with an "
                "IndexError, so training stops"
            )
        return float(rates[position])
    raise ValueError(f"unknown learning-rate rule {table.learning_rates!r}")


def epoch_plan(
    schedule: ScheduleConfig | ScheduleTable,
    epoch: int,
    networks: tuple[str, ...],
    steps_per_pass: int = 1,
) -> list[StagePlan]:
    """The stages of ``epoch`` for the networks present (subset of lab, img, txt, dis);
    ``steps_per_pass`` (training items // batch) sets the table's step floor."""
    table = schedule_table(schedule) if isinstance(schedule, ScheduleConfig) else schedule
    plans: list[StagePlan] = []
    for network in table.stage_order:
        if network not in networks:
            continue
        for index, passes in enumerate(table.stage_passes[network]):
            if network != "dis":
                passes = stage_passes(passes, table.min_stage_steps, steps_per_pass)
            plans.append(
                StagePlan(
                    network,
                    index,
                    passes,
                    _learning_rate(table, network, epoch, index),
                    table.early_break[network],
                )
            )
    return plans


def release_last_epoch(networks: tuple[str, ...]) -> int:
    """First epoch the release schedule cannot run (its lists run out)."""
    epoch = 0
    while True:
        try:
            epoch_plan(RELEASE_SCHEDULE, epoch, networks)
        except ScheduleExhausted:
            return epoch
        epoch += 1


def early_break(
    rule: str, pass_index: int, log: tuple[float, float], monitored: float | None
) -> tuple[bool, tuple[float, float]]:
    """The release's early-break rules as a pure function.

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
