"""Result tables from run directories: mean ± std over seeds, the baseline beside every
SSAH row, one protocol per table (``ssah-table``; README "How to report a number").

A run is its results.json (``ssah-train``, ``ssah-baseline``): ``setup`` says what
ran (method, dataset, preset, backbone), ``protocol`` how its figures were measured
(evaluation/protocol.py) and the top-level ``map_*`` keys are its figures. Runs that
differ only in their seed share a cell; runs whose protocols or splits differ are
never averaged together.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Sequence

import numpy as np

from ssah_tf.data.files import load_json
from ssah_tf.data.registry import data_label
from ssah_tf.data.text_files import read_text
from ssah_tf.errors import UserError
from ssah_tf.evaluation.directions import DIRECTIONS

ARROWS = {name: f"{source[0]}→{target[0]}" for name, (source, target) in DIRECTIONS.items()}
# What must agree for runs to share a cell (the seed and the package version may differ).
CELL_PROTOCOL = (
    "map_variant",
    "top_k",
    "ties",
    "empty_queries",
    "selected_on",
    "split_sha256",
    "bits",
)
# What a baseline must share with the SSAH rows it stands beside.
BASELINE_PROTOCOL = ("map_variant", "top_k", "ties", "empty_queries", "split_sha256", "bits")


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One run's figures and what they were measured under."""

    path: str
    setup: dict
    protocol: dict
    maps: dict

    @property
    def seed(self):
        return self.protocol.get("seed")

    @property
    def row_key(self) -> tuple:
        """Runs with this key are seeds of one table row."""
        s = self.setup
        return (
            s.get("data", s.get("dataset")),
            self.protocol.get("bits"),
            s.get("method"),
            s.get("preset"),
            s.get("backbone"),
        )


def _map_value(value, key: str, file: str) -> float:
    """A results.json mAP: a number in [0, 1], else one line naming the file and key."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{file}: {key} is {value!r}, not a number; re-evaluate the run")
    if not 0.0 <= float(value) <= 1.0:  # also refuses NaN
        raise UserError(f"{file}: {key} is {value!r}, not a mAP in [0, 1]; re-evaluate the run")
    return float(value)


def read_run(path: str) -> RunResult:
    """A run directory's results.json (or the file itself); UserError when it is
    missing or predates the protocol record."""
    file = os.path.join(path, "results.json") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise UserError(
            f"{path}: no results.json; give ssah-train or ssah-baseline run directories"
        )
    try:
        record = json.loads(read_text(file))
    except ValueError as error:
        raise UserError(f"{file} cannot be read ({type(error).__name__}); restore it") from None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("protocol"), dict)
        or not isinstance(record.get("setup"), dict)
    ):
        raise UserError(
            f"{file} has no protocol record (written by an older ssah_tf); "
            "finish or resume the run with this version to rewrite it"
        )
    maps = {k: _map_value(v, k, file) for k, v in record.items() if k.startswith("map_")}
    folder = os.path.dirname(os.path.abspath(file))
    setup = dict(record["setup"])
    if "data" not in setup:  # runs written before setup named the data: their records do
        data = record.get("data")
        config = os.path.join(folder, "config.json")
        if not isinstance(data, dict) and os.path.isfile(config):
            data = load_json(config)
            data = data.get("data") if isinstance(data, dict) else None
        data = data if isinstance(data, dict) else {}
        setup["data"] = data_label(data.get("dataset", setup.get("dataset")), data.get("data_path"))
    return RunResult(folder, setup, record["protocol"], maps)


@dataclasses.dataclass(frozen=True)
class Row:
    """One table row: runs that differ only in their seed."""

    key: tuple
    runs: tuple[RunResult, ...]

    @property
    def protocol(self) -> dict:
        return self.runs[0].protocol

    def label(self) -> str:
        dataset, bits, method, preset, backbone = self.key
        if method == "ssah":
            return f"SSAH ({preset}{', ' + backbone if backbone else ''})"
        return method

    def stats(self, key: str) -> tuple[float, float, int] | None:
        values = [r.maps[key] for r in self.runs if key in r.maps]
        if not values:
            return None
        std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        return float(np.mean(values)), std, len(values)

    def seeds(self) -> list:
        return sorted(r.seed for r in self.runs)

    def command(self) -> str | None:
        """The row's command with its seed as S and its run directory as DIR (None when
        its runs did not record one)."""

        command = self.runs[0].setup.get("command")
        if not command:
            return None
        command = re.sub(r"--seed=\S+", "--seed=S", command)
        return re.sub(r"--model_dir=\S+", "--model_dir=DIR", command)


def _differing(a: dict, b: dict, fields: Sequence[str]) -> list[str]:
    return [f for f in fields if a.get(f) != b.get(f)]


def group_rows(results: Iterable[RunResult]) -> list[Row]:
    """Rows of seeds; UserError when runs of one row differ in protocol or split, or
    repeat a seed."""
    rows: dict[tuple, list[RunResult]] = {}
    for result in results:
        rows.setdefault(result.row_key, []).append(result)
    out = []
    for key, runs in rows.items():
        first = runs[0]
        seen = {}
        for run in runs:
            differ = _differing(first.protocol, run.protocol, CELL_PROTOCOL)
            if differ:
                raise UserError(
                    f"{first.path} and {run.path} differ in {', '.join(differ)} "
                    f"({differ[0]}: {first.protocol.get(differ[0])!r} vs "
                    f"{run.protocol.get(differ[0])!r}); they cannot share a cell: "
                    "table them separately"
                )
            if run.seed in seen:
                raise UserError(
                    f"{seen[run.seed]} and {run.path} are both seed {run.seed} of "
                    "one row; give each seed once"
                )
            seen[run.seed] = run.path
        out.append(Row(key, tuple(sorted(runs, key=lambda r: (r.seed is None, r.seed)))))
    return out


@dataclasses.dataclass(frozen=True)
class Table:
    """The rows of one data set, split and mAP variant: per code length the SSAH rows,
    each with the baseline of that code length beside it."""

    protocol: dict
    dataset: str
    rows: tuple[Row, ...]
    directions: tuple[str, ...]

    def caption(self) -> str:
        p = self.protocol
        variant = {
            "all": "mAP@all (every relevant item of the ranking)",
            "top_k": f"mAP over the top {p.get('top_k')} ranked items",
            "first_k_relevant": f"mAP over the first min({p.get('top_k')}, #relevant) "
            "relevant items",
        }[p["map_variant"]]
        counts = ", ".join(
            f"{p[k]:,} {k}"
            for k in ("queries", "train", "database", "validation")
            if p.get(k) is not None
        )
        selected = sorted(
            {r.protocol.get("selected_on") for r in self.rows if r.key[2] == "ssah"} - {None}
        )
        where = {
            "validation": "best checkpoint selected on validation queries",
            "test": "best checkpoint selected on the test queries (optimistic)",
            "last": "last epoch (no selection)",
        }
        parts = [
            f"{self.dataset}: {variant}",
            f"ties {p['ties']}",
            f"queries without relevant items {p['empty_queries']}",
            *(where[s] for s in selected),
            f"split sha256 {str(p.get('split_sha256'))[:12]} ({counts})",
            "mean ± sample std over seeds (seed count)",
        ]
        return "; ".join(parts)


def _table_key(row: Row) -> tuple:
    p = row.protocol
    return (row.key[0], p.get("split_sha256"), p.get("map_variant"), p.get("top_k"))


def build_tables(rows: Sequence[Row]) -> list[Table]:
    """One table per data set, split and mAP variant, rows by code length: SSAH rows,
    then the baseline of that code length; UserError for a baseline whose split or mAP
    variant differs from the SSAH rows of its data set and code length."""
    tables: dict[tuple, list[Row]] = {}
    for row in rows:
        tables.setdefault(_table_key(row), []).append(row)
    ssah_rows = [r for r in rows if r.key[2] == "ssah"]
    for row in rows:
        if row.key[2] == "ssah":
            continue
        for other in ssah_rows:
            if other.key[:2] == row.key[:2] and _table_key(other) != _table_key(row):
                differ = _differing(other.protocol, row.protocol, BASELINE_PROTOCOL)
                raise UserError(
                    f"baseline {row.runs[0].path} and SSAH {other.runs[0].path} "
                    f"differ in {', '.join(differ)}; run the baseline on the SSAH "
                    "run's split (ssah-baseline --split_file=RUN/split.npz) with "
                    "its mAP variant"
                )
    out = []
    for key, members in sorted(tables.items(), key=lambda kv: tuple(map(str, kv[0]))):
        ordered = sorted(
            members, key=lambda r: (r.key[1], r.key[2] != "ssah", str(r.key[3]), str(r.key[4]))
        )
        present = {k.split("@")[0][4:] for r in members for run in r.runs for k in run.maps}
        directions = tuple(d for d in DIRECTIONS if d in present)
        out.append(Table(ordered[0].protocol, key[0], tuple(ordered), directions))
    return out
