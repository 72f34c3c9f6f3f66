"""ssah-table's output: the grouped rows as Markdown and CSV, and the paper's layout
with our mean ± std beside each paper figure."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import numpy as np

from ssah_tf.data.text_files import read_text_lines
from ssah_tf.errors import UserError
from ssah_tf.evaluation.directions import DIRECTIONS
from ssah_tf.evaluation.tables import ARROWS, Row, Table
from ssah_tf.map_variants import map_key


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
