"""Which stages run in an epoch, how many passes, at which learning rate.

A schedule is a :class:`ScheduleTable` (the paper's, built from the flags, or the
release's fixed one), and everything here is a pure function of it: docs/method.md
describes both.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from ssah_tf.config import ScheduleConfig
from ssah_tf.errors import UserError
from ssah_tf.vocabulary import NETWORKS


@dataclasses.dataclass(frozen=True)
class ScheduleTable:
    """Every choice a schedule makes, as data; the training loop reads only this."""

    stage_order: tuple[str, ...]  # the networks' stages in epoch order
    stage_passes: Mapping[str, tuple[int, ...]]  # per network: passes of each of its stages
    early_break: Mapping[str, str]  # per network: 'none', 'lab' or 'hash' (monitors.py)
    # 'decay': base_rates[x] * lr_decay ** epoch; 'release_lists': the release's
    # 0.1 ** (base_rates[x] + 0.5 * (epoch + stage)), its lists ending below 100.
    learning_rates: str
    base_rates: Mapping[str, float]
    lr_decay: float
    # 'shuffled_pass': a pass is a prefix of one shuffled permutation; 'permutation_prefix'
    # (release): every step takes the first batch_size of its own fresh permutation.
    batch_sampling: str
    min_stage_steps: int  # generator stages run at least this many steps


RELEASE_SCHEDULE = ScheduleTable(
    stage_order=("lab", "dis", "img", "txt"),
    stage_passes={"lab": (10, 5), "dis": (1, 1), "img": (15, 7, 5), "txt": (15, 7, 5)},
    early_break={"lab": "lab", "dis": "none", "img": "hash", "txt": "hash"},
    learning_rates="release_lists",
    base_rates={"lab": 2.0, "img": 4.5, "txt": 3.5, "dis": 3.0},
    lr_decay=1.0,
    batch_sampling="permutation_prefix",
    min_stage_steps=0,
)


def schedule_table(config: ScheduleConfig) -> ScheduleTable:
    """The table of ``config``: the schedule's name is read here and in
    ``ScheduleConfig``'s default epochs; everything downstream reads the table."""
    if config.name == "release":
        return RELEASE_SCHEDULE
    if config.name != "paper":
        raise UserError(f"unknown schedule {config.name!r}; use paper or release")
    networks = NETWORKS  # Algorithm 1's order: LabNet, ImgNet, TxtNet, discriminators last
    return ScheduleTable(
        stage_order=networks,
        stage_passes={n: (getattr(config, f"passes_{n}"),) for n in networks},
        early_break={n: "none" for n in networks},
        learning_rates="decay",
        base_rates={n: getattr(config, f"lr_{n}") for n in networks},
        lr_decay=config.lr_decay,
        batch_sampling="shuffled_pass",
        min_stage_steps=config.min_stage_steps,
    )


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
