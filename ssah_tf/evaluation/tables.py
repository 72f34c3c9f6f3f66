"""Result tables from run directories: mean ± std over seeds, the baseline beside every
SSAH row, one protocol per table (``ssah-table``; README "How to report a number").

A run is its results.json (``ssah-train``, ``ssah-baseline``): ``setup`` says what
ran (method, dataset, preset, backbone), ``protocol`` how its figures were measured
(evaluation/protocol.py) and the top-level ``map_*`` keys are its figures. Runs that
differ only in their seed share a cell; runs whose protocols or splits differ are
never averaged together.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from collections.abc import Iterable, Sequence

import numpy as np

from ssah_tf.data.files import load_json
from ssah_tf.data.registry import data_label
from ssah_tf.data.text_files import read_text, read_text_lines
from ssah_tf.errors import UserError
from ssah_tf.evaluation.directions import DIRECTIONS
from ssah_tf.map_variants import map_key

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


def _map_key(direction: str, protocol: dict) -> str:
    return map_key(direction, protocol.get("map_variant"), protocol.get("top_k"))


def _cell(stats) -> str:
    if stats is None:
        return "—"
    mean, std, n = stats
    return f"{mean:.3f} ({n})" if n == 1 else f"{mean:.3f} ± {std:.3f} ({n})"


def markdown(tables: Sequence[Table]) -> str:
    """The tables as Markdown, each with its protocol caption and a Δ row (SSAH mean
    minus baseline mean) under every SSAH row that has a baseline."""
    parts = []
    for table in tables:
        heads = [ARROWS[d] for d in table.directions]
        lines = [
            f"**{table.caption()}**",
            "",
            "| bits | method | " + " | ".join(heads) + " | seeds |",
            "|---|---|" + "---|" * (len(heads) + 1),
        ]
        for row in table.rows:
            bits = row.key[1]
            baseline = next(
                (r for r in table.rows if r.key[2] != "ssah" and r.key[1] == bits), None
            )
            keys = [_map_key(d, row.protocol) for d in table.directions]
            cells = [_cell(row.stats(k)) for k in keys]
            lines.append(
                f"| {bits} | {row.label()} | "
                + " | ".join(cells)
                + " | "
                + ", ".join(str(s) for s in row.seeds())
                + " |"
            )
            if row.key[2] == "ssah" and baseline is not None:
                delta = []
                for k in keys:
                    a, b = row.stats(k), baseline.stats(k)
                    delta.append("—" if a is None or b is None else f"{a[0] - b[0]:+.3f}")
                lines.append(f"| {bits} | Δ vs {baseline.label()} | " + " | ".join(delta) + " | |")
        commands = [
            f"- {row.key[1]} bits, {row.label()}: `{row.command()}`"
            for row in table.rows
            if row.command()
        ]
        if commands:
            lines += [
                "",
                "Commands (seed S = "
                + ", ".join(sorted({str(s) for r in table.rows for s in r.seeds()}))
                + "):",
                *commands,
            ]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


CSV_COLUMNS = (
    "dataset",
    "bits",
    "method",
    "preset",
    "backbone",
    "direction",
    "mean",
    "std",
    "seeds_count",
    "seeds",
    "map_variant",
    "top_k",
    "selected_on",
    "split_sha256",
    "runs",
)


def csv_text(tables: Sequence[Table]) -> str:
    """One CSV line per (row, direction)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for table in tables:
        for row in table.rows:
            dataset, bits, method, preset, backbone = row.key
            for direction in table.directions:
                stats = row.stats(_map_key(direction, row.protocol))
                if stats is None:
                    continue
                p = row.protocol
                writer.writerow(
                    [
                        dataset,
                        bits,
                        method,
                        preset or "",
                        backbone or "",
                        direction,
                        f"{stats[0]:.6f}",
                        "" if np.isnan(stats[1]) else f"{stats[1]:.6f}",
                        stats[2],
                        " ".join(str(s) for s in row.seeds()),
                        p.get("map_variant"),
                        p.get("top_k") or "",
                        p.get("selected_on") or "",
                        p.get("split_sha256"),
                        " ".join(os.path.basename(r.path) for r in row.runs),
                    ]
                )
    return buffer.getvalue()


# ----------------------------------------------------------------------------- paper layout
def read_paper_table(path: str) -> list[dict]:
    """A paper-figures CSV (experiments/tables/paper_ssah.csv): dataset, backbone, bits,
    direction, map."""
    if not os.path.isfile(path):
        raise UserError(f"`paper={path}` does not exist")
    lines = read_text_lines(path)
    rows = [r for r in csv.DictReader(line for line in lines if not line.startswith("#"))]
    needed = {"dataset", "backbone", "bits", "direction", "map"}
    if not rows or not needed <= set(rows[0]):
        raise UserError(f"`paper={path}` needs the columns {', '.join(sorted(needed))}")
    return rows


def paper_markdown(paper: Sequence[dict], rows: Sequence[Row]) -> str:
    """The paper's table layout (data set and direction by code length) with our mean ±
    std beside each paper figure ("—" where no run exists yet)."""
    ours = {}
    for row in rows:
        dataset, bits, method, preset, backbone = row.key
        if method == "ssah" and preset == "paper":
            for direction in DIRECTIONS:
                stats = row.stats(_map_key(direction, row.protocol))
                if stats is not None:
                    ours[(dataset, backbone, int(bits), direction)] = (stats, row.protocol)
    bits_list = sorted({int(r["bits"]) for r in paper})
    lines = [
        "| data set (backbone) | task | "
        + " | ".join(f"{b} bits: ours / paper" for b in bits_list)
        + " |",
        "|---|---|" + "---|" * len(bits_list),
    ]
    groups: dict[tuple, dict] = {}
    for r in paper:
        groups.setdefault((r["dataset"], r["backbone"], r["direction"]), {})[int(r["bits"])] = r
    variants = set()
    for (dataset, backbone, direction), by_bits in groups.items():
        cells = []
        for bits in bits_list:
            entry = by_bits.get(bits)
            figure = ours.get((dataset, backbone, bits, direction))
            if figure is not None:
                variants.add(figure[1].get("map_variant"))
            cells.append(
                f"{_cell(figure[0]) if figure else '—'} / {float(entry['map']):.3f}"
                if entry
                else "—"
            )
        lines.append(
            f"| {dataset} ({backbone}) | {ARROWS[direction]} | " + " | ".join(cells) + " |"
        )
    note = (
        "Ours: SSAH paper preset, mean ± std over seeds (seed count), mAP variant "
        + (", ".join(sorted(variants)) or "—")
        + "; paper: the published figures (mAP over the whole database, as the "
        "original release's calc_map)."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"
