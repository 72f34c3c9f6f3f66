"""After-pass and after-evaluation hooks: called in order, each doing its one job."""

import json

import numpy as np

from ssah_tf.training.hooks import (
    BestCheckpoint,
    EvaluationRecords,
    EvaluationReport,
    PassReport,
    default_evaluation_hooks,
    default_pass_hooks,
)
from ssah_tf.training.schedules import StagePlan
from tests.conftest import get_strategy
from tests.training.tiny import tiny_trainer


def test_a_trainer_calls_its_hooks_after_every_pass_and_evaluation(tmp_path):
    seen = []
    trainer = tiny_trainer(
        tmp_path,
        get_strategy(1),
        epochs=1,
        pass_hooks=[lambda t, r: seen.append(("pass", r.stage.network))],
        evaluation_hooks=[lambda t, r: seen.append(("eval", r.improved))],
    )
    trainer.train()
    passes = [x for kind, x in seen if kind == "pass"]
    assert passes == ["lab", "img", "txt", "dis"]  # the paper schedule, one pass each
    assert seen[-1] == ("eval", True)
    # Without the default hooks nothing was written: no records, no best checkpoint.
    assert not (tmp_path / "eval").exists() and not (tmp_path / "best").exists()


def test_default_hooks_write_the_records_and_the_best_checkpoint(tmp_path):
    trainer = tiny_trainer(tmp_path, get_strategy(1), epochs=1)
    assert [type(h).__name__ for h in default_pass_hooks()] == [
        "CollapseCheck",
        "OverflowWarning",
        "PassSummaries",
        "ProgressLine",
    ]
    assert [type(h).__name__ for h in trainer.evaluation_hooks] == [
        type(h).__name__ for h in default_evaluation_hooks()
    ]
    trainer.train()
    record = json.loads((tmp_path / "eval" / "epoch_0000.json").read_text())
    assert record["best_so_far"] and "selection_value" in record
    assert (tmp_path / "best" / "checkpoint").exists()
    # A report that is no improvement saves no new best.
    before = sorted(p.name for p in (tmp_path / "best").iterdir())
    report = EvaluationReport(record=record, query_hashes={}, improved=False, value=0.0, step=99)
    BestCheckpoint()(trainer, report)
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == before
    EvaluationRecords()(trainer, report)
    assert json.loads((tmp_path / "results.json").read_text())["selected_epoch"] == 0


def test_pass_report_terms():
    report = PassReport(
        epoch=0,
        stage=StagePlan("dis", 0, 1, 1e-4),
        pass_index=0,
        names=["IL", "total"],
        means=np.array([0.5, 0.75]),
        seconds=1.0,
        step=3,
        monitored=None,
        stopped=False,
        remaining_stages=[],
    )
    assert report.terms == {"IL": 0.5, "total": 0.75} and not report.generator
