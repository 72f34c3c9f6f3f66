"""After-pass and after-evaluation hooks: called in order, each doing its one job."""

import json

import numpy as np
import tensorflow as tf

from ssah_tf.training.hooks import (
    BestCheckpoint,
    EvaluationRecords,
    EvaluationReport,
    PassReport,
    PassSummaries,
    ProgressLine,
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
        pass_hooks=[lambda report: seen.append(("pass", report.stage.network))],
        evaluation_hooks=[lambda report: seen.append(("eval", report.improved))],
    )
    trainer.train()
    passes = [x for kind, x in seen if kind == "pass"]
    assert passes == ["lab", "img", "txt", "dis"]  # the paper schedule, one pass each
    assert seen[-1] == ("eval", True)
    # Without the default hooks nothing was written: no records, no best checkpoint.
    assert not (tmp_path / "eval").exists() and not (tmp_path / "best").exists()


def test_default_hooks_write_the_records_and_the_best_checkpoint(tmp_path):
    trainer = tiny_trainer(tmp_path, get_strategy(1), epochs=1)
    assert [type(h).__name__ for h in trainer.pass_hooks] == [
        "CollapseCheck",
        "OverflowWarning",
        "PassSummaries",
        "ProgressLine",
    ]
    assert [type(h).__name__ for h in trainer.evaluation_hooks] == [
        "EvaluationSummaries",
        "EvaluationCollapseCheck",
        "BestCheckpoint",
        "EvaluationRecords",
        "EvaluationLog",
    ]
    trainer.train()
    record = json.loads((tmp_path / "eval" / "epoch_0000.json").read_text())
    assert record["best_so_far"] and "selection_value" in record
    assert (tmp_path / "best" / "checkpoint").exists()
    assert json.loads((tmp_path / "results.json").read_text())["selected_epoch"] == 0


def evaluation_report(record, *, improved, value=0.5, results=None):
    return EvaluationReport(
        record=record,
        query_hashes={},
        improved=improved,
        value=value,
        select_on="validation",
        step=99,
        results=results or {},
    )


def test_evaluation_hooks_act_on_the_report_alone(tmp_path):
    """Each hook holds the handles it was built with; the report is all it is given."""
    best_metric, saved = tf.Variable(-1.0), []
    best = BestCheckpoint(best_metric, lambda: saved.append("best") or "best/ckpt-1")
    best(evaluation_report({"epoch": 0}, improved=False))
    assert saved == [] and best_metric.numpy() == -1.0  # no improvement: no new best
    best(evaluation_report({"epoch": 1}, improved=True, value=0.75))
    assert saved == ["best"] and best_metric.numpy() == 0.75
    report = evaluation_report({"epoch": 3, "test": {}}, improved=True, results={"r": 1})
    EvaluationRecords(str(tmp_path / "worker"), is_chief=False)(report)
    assert not (tmp_path / "worker").exists()  # only the chief writes
    EvaluationRecords(str(tmp_path), is_chief=True)(report)
    assert json.loads((tmp_path / "eval" / "epoch_0003.json").read_text())["epoch"] == 3
    assert json.loads((tmp_path / "results.json").read_text()) == {"r": 1}


def dis_report(*, seconds):
    """A discriminator pass of 3 steps with terms IL 0.5 and total 0.75."""
    return PassReport(
        epoch=0,
        stage=StagePlan("dis", 0, 1, 1e-4),
        pass_index=0,
        names=["IL", "total"],
        means=np.array([0.5, 0.75]),
        seconds=seconds,
        step=3,
        steps=3,
        monitored=None,
        stopped=False,
        remaining_stages=[],
    )


def test_pass_hooks_act_on_the_report_alone():
    lines, scalars = [], []

    class Summaries:
        def pass_done(self, network, terms, **kw):
            scalars.append((network, terms, kw["steps_per_second"], kw["accuracy"]))

    class Progress:
        def pass_done(self, **kw):
            lines.append((kw["stage"].network, kw["steps_per_second"]))

    report = dis_report(seconds=2.0)
    PassSummaries(Summaries(), lambda: {"IL": 1.0})(report)
    ProgressLine(Progress())(report)
    # 3 steps in 2 s; the discriminators' accuracy is measured after their pass.
    assert scalars == [("dis", {"IL": 0.5, "total": 0.75}, 1.5, {"IL": 1.0})]
    assert lines == [("dis", 1.5)]


def test_pass_report_terms():
    report = dis_report(seconds=1.0)
    assert report.terms == {"IL": 0.5, "total": 0.75} and not report.generator
    assert report.steps_per_second == 3.0  # 3 steps in 1 s
