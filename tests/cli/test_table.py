"""ssah-table end to end: tables written from run directories; refusals in one line."""

import os

from tests.evaluation.test_tables import write_run
from tests.helpers import REPO, assert_one_line_error, run_cli


def test_table_from_runs_and_the_paper_layout(tmp_path):
    for seed in (0, 1):
        write_run(tmp_path / "runs" / f"ssah_{seed}", seed=seed, dataset="mirflickr25k")
        write_run(
            tmp_path / "runs" / f"base_{seed}",
            seed=seed,
            dataset="mirflickr25k",
            method="ssah-baseline",
        )
    out = tmp_path / "tables" / "mir"
    result = run_cli(
        "ssah_tf.cli.table",
        f"--runs={tmp_path / 'runs' / '*'}",
        f"--output={out}",
        "--paper=experiments/tables/paper_ssah.csv",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = (tmp_path / "tables" / "mir.md").read_text()
    assert "Δ vs ssah-baseline" in text and "The paper's table" in text
    assert "| mirflickr25k (cnnf) | i→t | — / 0.782 | — / 0.790 | — / 0.800 |" in text
    assert (tmp_path / "tables" / "mir.csv").read_text().count("\n") == 1 + 2 * 2


def test_table_refuses_mixed_splits_and_writes_nothing(tmp_path):
    write_run(tmp_path / "a", seed=0)
    write_run(tmp_path / "b", seed=1, split="other")
    out = tmp_path / "tables" / "x"
    result = run_cli(
        "ssah_tf.cli.table", f"--runs={tmp_path / 'a'},{tmp_path / 'b'}", f"--output={out}"
    )
    assert_one_line_error(result, 2, "differ in split_sha256")
    assert not (tmp_path / "tables").exists()


def test_map_variant_flags_are_checked_in_one_line(tmp_path):
    result = run_cli(
        "ssah_tf.cli.evaluate",
        "--codes=x.mat",
        f"--output_dir={tmp_path / 'o'}",
        "--map_variant=first_k_relevant",
    )
    assert_one_line_error(result, 2, "--map_variant='first_k_relevant' needs --map_top_k")
    result = run_cli(
        "ssah_tf.cli.baseline",
        "--map_variant=all",
        "--map_top_k=5",
        f"--model_dir={tmp_path / 'b'}",
    )
    assert_one_line_error(result, 2, "--map_top_k=5 is given with --map_variant='all'")
    assert not (tmp_path / "b").exists() and not (tmp_path / "o").exists()


def test_the_output_never_replaces_the_paper_table_or_a_bad_figure(tmp_path):
    write_run(tmp_path / "a", seed=0, dataset="mirflickr25k")
    paper = tmp_path / "paper.csv"
    with open(os.path.join(REPO, "experiments", "tables", "paper_ssah.csv")) as f:
        paper.write_text(f.read())
    before = paper.read_text()
    result = run_cli(
        "ssah_tf.cli.table",
        f"--runs={tmp_path / 'a'}",
        f"--output={tmp_path / 'paper'}",
        f"--paper={paper}",
    )
    assert_one_line_error(result, 2, "is the same path as --paper=")
    assert paper.read_text() == before and not (tmp_path / "paper.md").exists()
    write_run(tmp_path / "nan", seed=1, maps={"i2t": float("nan"), "t2i": 0.5})
    result = run_cli("ssah_tf.cli.table", f"--runs={tmp_path / 'nan'}")
    assert_one_line_error(result, 2, "map_i2t is nan, not a mAP in [0, 1]")
