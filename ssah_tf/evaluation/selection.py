"""Model selection and early stopping over a run's evaluation records.

A record is what ``Evaluator.record`` returns for one epoch: ``{"epoch": e, "test":
{map_*: ...}, "validation": {map_*: ...}}`` (validation only when the split has
validation queries). Which split selection reads, how the directions combine and
when training stops are named fields of the run (``RunConfig.select_on``,
``selection_criterion``, ``selection_tolerance``, ``early_stopping_patience``); README
"What best means".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# SELECT_ON: 'validation', held-out validation queries (the paper preset); 'test', the
# test queries, as the original release and most public code select (optimistic: the
# reported figure is the maximum over epochs of the figure itself); 'last', the last
# evaluated epoch (no selection). CRITERIA: the selection directions' mean, or the
# smaller of them (a checkpoint is only as good as its weaker direction).
from ssah_tf.config import SELECT_ON
from ssah_tf.config import SELECTION_CRITERIA as CRITERIA
from ssah_tf.errors import UserError

_CROSS_MODAL = ("map_i2t", "map_t2i")
_SINGLE_MODALITY = ("map_l2t", "map_t2t", "map_l2i", "map_i2i")


def selection_directions(maps: Mapping[str, float]) -> list[str]:
    """The keys selection reads: image<->text when both modalities are trained, else
    label and self retrieval of the one trained modality (``map_<direction>``, or
    ``map_<direction>@<k>`` under an mAP variant with a k)."""
    by_direction = {key.split("@")[0]: key for key in maps}
    return [by_direction[d] for d in _CROSS_MODAL if d in by_direction] or [
        by_direction[d] for d in _SINGLE_MODALITY if d in by_direction
    ]


def selection_value(maps: Mapping[str, float], criterion: str) -> float:
    """The selection directions' mean or minimum (``criterion``)."""
    values = [maps[k] for k in selection_directions(maps)]
    if criterion == "mean":
        return float(np.mean(values))
    if criterion == "min":
        return float(np.min(values))
    raise ValueError(f"unknown selection criterion {criterion!r}; use one of {', '.join(CRITERIA)}")


@dataclasses.dataclass(frozen=True)
class ModelSelection:
    """Which evaluation is the best so far and whether training should stop."""

    select_on: str = "validation"
    criterion: str = "mean"
    # Stop once this many evaluations in a row did not improve on the best (0: never).
    patience: int = 0
    # min criterion only: an evaluation whose weaker direction is within this much of the
    # highest weaker direction so far, and whose mean is higher than the best's, becomes
    # the best too. A drop of a few thousandths in one direction is one or two validation
    # queries (docs/training.md, "Model selection"); without it, `min` kept an early
    # epoch while the other direction rose by 0.04, and stopped a run whose weaker
    # direction had levelled off while the other still rose.
    tolerance: float = 0.0

    def __post_init__(self):
        if self.select_on not in SELECT_ON:
            raise ValueError(f"select_on={self.select_on!r}; use one of {', '.join(SELECT_ON)}")
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion={self.criterion!r}; use one of {', '.join(CRITERIA)}")
        if self.patience < 0:
            raise ValueError(f"patience={self.patience} must be >= 0")
        if not self.tolerance >= 0:
            raise ValueError(f"tolerance={self.tolerance} must be >= 0")

    def value(self, record: Mapping[str, Any]) -> float:
        """What selection compares for ``record`` (larger is better)."""
        if self.select_on == "last":
            return float(record["epoch"])
        maps = record.get(self.select_on)
        if not maps:
            raise ValueError(
                f"evaluation of epoch {record['epoch']} has no {self.select_on} mAPs to select on"
            )
        return selection_value(maps, self.criterion)

    def _maps(self, record: Mapping[str, Any]) -> list[float]:
        maps = record[self.select_on]
        return [maps[k] for k in selection_directions(maps)]

    def _tolerant(self) -> bool:
        return self.tolerance > 0 and self.criterion == "min" and self.select_on != "last"

    def best(self, history: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
        """The best record, decided evaluation by evaluation as training does (a later
        epoch must do strictly better; the checkpoint of an earlier one is gone).

        Without a tolerance that is the largest ``value`` (the earliest of equals).
        With one (``min`` criterion), a record replaces the best when its weaker direction
        is higher than the best's, or when its weaker direction is within the tolerance
        of the highest one so far and its mean is higher than the best's.
        """
        if not history:
            raise ValueError("no evaluation yet")
        best = history[0]
        if not self._tolerant():
            for record in history[1:]:
                if self.value(record) > self.value(best):
                    best = record
            return best
        self.value(best)  # the error for a record without the selection split
        highest_min = min(self._maps(best))
        for record in history[1:]:
            self.value(record)
            maps, best_maps = self._maps(record), self._maps(best)
            highest_min = max(highest_min, min(maps))
            if min(maps) > min(best_maps) or (
                min(maps) >= highest_min - self.tolerance
                and float(np.mean(maps)) > float(np.mean(best_maps))
            ):
                best = record
        return best

    def improves(self, record: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]) -> bool:
        """Whether ``record`` becomes the best after ``earlier`` (the first always does)."""
        return not earlier or self.best([*earlier, record]) is record

    def evaluations_since_best(self, history: Sequence[Mapping[str, Any]]) -> int:
        """How many evaluations came after the best one."""
        best = self.best(history)
        return len(history) - 1 - next(i for i, r in enumerate(history) if r is best)

    def should_stop(self, history: Sequence[Mapping[str, Any]]) -> bool:
        """Early stopping: ``patience`` evaluations in a row without improvement on the
        validation queries (never on the test queries: selecting on them is off)."""
        return bool(
            self.patience
            and self.select_on == "validation"
            and history
            and self.evaluations_since_best(history) >= self.patience
        )

    def describe(self) -> str:
        """One phrase for logs and results: how the best checkpoint was chosen."""
        if self.select_on == "last":
            return "the last evaluated epoch (no selection)"
        where = (
            "validation queries"
            if self.select_on == "validation"
            else "test queries (optimistic: the reported figure is its own maximum)"
        )
        rule = f"the {self.criterion} of the selection directions"
        if self._tolerant():
            rule += f" (within {self.tolerance:g} of the highest min so far: the higher mean)"
        return f"{rule} on {where}"


def check_validation_queries(select_on: str, split) -> None:
    """Refuse selecting on validation queries the split does not have."""
    if select_on == "validation" and split.validation is None:
        raise UserError(
            "`select_on=validation` but the split has no validation queries; give "
            "`val_size` > 0 (or leave it unset, or drop `val_size=0`), use a larger split, "
            "or choose `select_on=last`"
        )
