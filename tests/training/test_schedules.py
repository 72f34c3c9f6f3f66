import numpy as np
import pytest

from ssah_tf.training.schedules import (
    ScheduleConfig,
    ScheduleExhausted,
    early_break,
    epoch_plan,
    release_last_epoch,
    release_learning_rates,
)

ALL = ("lab", "img", "txt", "dis")


def test_release_learning_rate_lists():
    rates = release_learning_rates()
    assert {k: len(v) for k, v in rates.items()} == {"lab": 196, "img": 191, "txt": 193, "dis": 194}
    np.testing.assert_allclose(rates["img"][:2], [10**-4.5, 10**-5.0])


def test_release_epoch_plan_order_passes_and_rates():
    plan = epoch_plan(ScheduleConfig(name="release"), 3, ALL)
    assert [(p.network, p.index, p.passes) for p in plan] == [
        ("lab", 0, 10),
        ("lab", 1, 5),
        ("dis", 0, 1),
        ("dis", 1, 1),
        ("img", 0, 15),
        ("img", 1, 7),
        ("img", 2, 5),
        ("txt", 0, 15),
        ("txt", 1, 7),
        ("txt", 2, 5),
    ]
    # epoch e, stage idx uses list[e + idx]: img stage 2 of epoch 3 -> 10^-(4.5 + 0.5 * 5)
    assert plan[6].learning_rate == pytest.approx(10**-7.0)
    assert plan[0].early_break == "lab" and plan[4].early_break == "hash"


def test_release_schedule_stops_where_the_original_crashes():
    assert release_last_epoch(ALL) == 189  # img list (191) with idx up to 2
    with pytest.raises(ScheduleExhausted, match="IndexError"):
        epoch_plan(ScheduleConfig(name="release"), 189, ALL)
    assert release_last_epoch(("lab", "txt", "dis")) == 191  # text-only: the txt list


def test_paper_plan_order_and_decay():
    plan = epoch_plan(ScheduleConfig(name="paper", lr_lab=1.0, lr_decay=0.5), 2, ALL)
    assert [p.network for p in plan] == ["lab", "img", "txt", "dis"]
    assert plan[0].learning_rate == 0.25


def test_early_break_rules_by_hand():
    inf = float("inf")
    # lab: pass 0 and 1 never break; pass 2 breaks when the loss did not decrease.
    assert early_break("lab", 1, (inf, 5.0), 6.0) == (False, (5.0, 6.0))
    assert early_break("lab", 2, (5.0, 6.0), 6.0) == (True, (6.0, 6.0))
    assert early_break("lab", 2, (5.0, 6.0), 5.5) == (False, (6.0, 5.5))
    # hash: only even passes log; pass 2 never breaks, pass 4 compares with pass 2.
    assert early_break("hash", 2, (9.0, 8.0), 8.5) == (False, (8.0, 8.5))
    assert early_break("hash", 4, (8.0, 8.5), 8.6) == (True, (8.5, 8.6))
    assert early_break("hash", 3, (8.0, 8.5), None) == (False, (8.0, 8.5))
