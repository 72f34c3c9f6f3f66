import json

import pytest

from ssah_tf.errors import UserError
from ssah_tf.evaluation.table_text import csv_text, markdown
from ssah_tf.evaluation.tables import build_tables, group_rows, read_run


def write_run(
    folder,
    *,
    method="ssah",
    seed=0,
    bits=16,
    split="aaa",
    variant="all",
    k=None,
    maps=None,
    dataset="mfeat",
    selected_on="validation",
    command=None,
):
    folder.mkdir(parents=True)
    suffix = "" if k is None else f"@{k}"
    record = {f"map_{d}{suffix}": v for d, v in (maps or {"i2t": 0.8, "t2i": 0.7}).items()}
    record["setup"] = {
        "method": method,
        "dataset": dataset,
        "preset": "paper" if method == "ssah" else None,
        "backbone": "mlp" if method == "ssah" else None,
        "command": command,
    }
    record["protocol"] = {
        "map_variant": variant,
        "top_k": k,
        "ties": "stable",
        "empty_queries": "0",
        "selected_on": selected_on if method == "ssah" else None,
        "split_sha256": split,
        "bits": bits,
        "seed": seed,
        "queries": 200,
        "train": 1000,
        "database": 1800,
        "validation": 200,
    }
    (folder / "results.json").write_text(json.dumps(record))
    return str(folder)


def test_seeds_make_one_cell_with_mean_and_sample_std(tmp_path):
    runs = [
        write_run(
            tmp_path / f"s{s}",
            seed=s,
            maps={"i2t": v, "t2i": 0.5},
            command=f"ssah-train --dataset=mfeat --seed={s} --model_dir=r{s}",
        )
        for s, v in ((0, 0.80), (1, 0.84), (2, 0.88))
    ]
    runs += [
        write_run(
            tmp_path / f"b{s}", method="ssah-baseline", seed=s, maps={"i2t": 0.70, "t2i": 0.60}
        )
        for s in (0, 1)
    ]
    rows = group_rows(read_run(r) for r in runs)
    ssah = next(r for r in rows if r.key[2] == "ssah")
    mean, std, n = ssah.stats("map_i2t")
    # mean 0.84; sample std sqrt((0.04^2 + 0 + 0.04^2) / 2) = 0.04
    assert mean == pytest.approx(0.84) and std == pytest.approx(0.04) and n == 3
    text = markdown(build_tables(rows))
    assert "0.840 ± 0.040 (3)" in text and "0.700 ± 0.000 (2)" in text
    assert "| 16 | Δ vs ssah-baseline | +0.140 | -0.100 |" in text
    assert "mAP@all" in text and "selected on validation" in text
    assert "`ssah-train --dataset=mfeat --seed=S --model_dir=DIR`" in text
    lines = csv_text(build_tables(rows)).splitlines()
    assert lines[0].startswith("dataset,bits,method") and len(lines) == 1 + 2 * 2


def test_a_baseline_only_caption_has_no_empty_selection_part(tmp_path):
    run = write_run(tmp_path / "b", method="ssah-baseline")
    caption = markdown(build_tables(group_rows([read_run(run)]))).splitlines()[0]
    assert "; ;" not in caption and "selected" not in caption
    assert caption.count(";") == 4  # variant; ties; empty queries; split; seeds


def test_runs_with_other_protocols_or_splits_never_share_a_cell(tmp_path):
    a = read_run(write_run(tmp_path / "a", seed=0))
    other_split = read_run(write_run(tmp_path / "b", seed=1, split="bbb"))
    with pytest.raises(UserError, match="differ in split_sha256"):
        group_rows([a, other_split])
    other_selection = read_run(write_run(tmp_path / "c", seed=1, selected_on="test"))
    with pytest.raises(UserError, match="differ in selected_on"):
        group_rows([a, other_selection])
    same_seed = read_run(write_run(tmp_path / "d", seed=0))
    with pytest.raises(UserError, match="both seed 0"):
        group_rows([a, same_seed])
    baseline = read_run(write_run(tmp_path / "e", method="ssah-baseline", split="zzz"))
    with pytest.raises(UserError, match="split_file=RUN/split.npz"):
        build_tables(group_rows([a, baseline]))
    variant = read_run(write_run(tmp_path / "f", method="ssah-baseline", variant="top_k", k=50))
    with pytest.raises(UserError, match="map_variant"):
        build_tables(group_rows([a, variant]))


def test_results_without_a_protocol_are_refused(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text(json.dumps({"map_i2t": 0.5}))
    with pytest.raises(UserError, match="no protocol record"):
        read_run(str(tmp_path / "old"))
    with pytest.raises(UserError, match="no results.json"):
        read_run(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    "value, fragment",
    [
        (float("nan"), "is nan, not a mAP in [0, 1]"),
        (-0.25, "is -0.25, not a mAP in [0, 1]"),
        (1.5, "is 1.5, not a mAP in [0, 1]"),
        ("0.7", "is '0.7', not a number"),
        (None, "is None, not a number"),
        (True, "is True, not a number"),
    ],
)
def test_figures_that_are_not_maps_are_refused_in_one_line(tmp_path, value, fragment):
    run = write_run(tmp_path / "r", maps={"i2t": 0.8, "t2i": value})
    with pytest.raises(UserError) as caught:
        read_run(run)
    assert "map_t2i " + fragment in str(caught.value) and "\n" not in str(caught.value)


def test_npz_files_are_their_own_data_sets(tmp_path):
    # Two npz files with one split file (as make_mfeat_npz writes them): separate rows;
    # a run without setup["data"] takes it from its record.
    a = write_run(tmp_path / "a", dataset="npz", seed=0)
    b = write_run(tmp_path / "b", dataset="npz", seed=0)
    for folder, path in ((a, "/x/kar_zer.npz"), (b, "/x/zer_kar.npz")):
        record = json.loads((tmp_path / folder / "results.json").read_text())
        record["data"] = {"dataset": "npz", "data_path": path}
        (tmp_path / folder / "results.json").write_text(json.dumps(record))
    rows = group_rows(read_run(p) for p in (a, b))
    assert sorted(r.key[0] for r in rows) == ["npz:kar_zer.npz", "npz:zer_kar.npz"]
