"""The retrieval report: one self-contained HTML page (images and charts inline) that
shows what a set of codes retrieves (``ssah-eval --report``; README "See what the codes
retrieve").

Built from what an evaluation already holds (the codes of queries and database, the
labels, the curves): per direction the mAP beside a baseline, precision-recall and
precision@N, the Hamming distances of relevant and irrelevant pairs, per-bit balance,
and a seeded sample of the best, median and worst queries with their top-k items.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ssah_tf.evaluation.codes import CODE_DIRECTIONS
from ssah_tf.evaluation.curves import distance_histogram
from ssah_tf.evaluation.directions import DIRECTIONS
from ssah_tf.evaluation.hamming import hamming_distance
from ssah_tf.evaluation.metrics import average_precisions
from ssah_tf.evaluation.svg import bar_chart, line_chart
from ssah_tf.map_variants import (
    map_key,
    precision_within_radius_key,
    queries_within_radius_key,
    tie_aware_key,
)

ARROW = {name: f"{source}→{target}" for name, (source, target) in DIRECTIONS.items()}
GROUPS = ("best", "median", "worst")


def sample_queries(ap: np.ndarray, *, per_group: int, seed: int) -> dict[str, list[int]]:
    """Query indices of the ``per_group`` best, median and worst APs. Equal APs are
    ordered by a ``seed``-ed shuffle, so the sample is reproducible and not always the
    lowest indices; groups never share a query."""
    ap = np.asarray(ap, np.float64)
    n = len(ap)
    tie_break = np.random.default_rng(seed).permutation(n)
    order = np.lexsort((tie_break, ap))  # ascending AP, ties in shuffled order
    count = min(per_group, n // 3) if n >= 3 else min(per_group, n)
    worst = order[:count].tolist()
    best = order[::-1][:count].tolist() if n > count else []
    middle = n // 2
    start = max(count, min(middle - count // 2, n - 2 * count))
    median = [int(i) for i in order[start : start + count] if i not in best and i not in worst]
    return {"best": [int(i) for i in best], "median": median, "worst": [int(i) for i in worst]}


class ItemView:
    """How an item is shown: a thumbnail for images of a data set that has them, its
    words for texts (tag names, or a dense vector's strongest entries), its label
    names; only ids and label indices when there is no data set (a code file)."""

    def __init__(
        self,
        data=None,
        query_rows: np.ndarray | None = None,
        database_rows: np.ndarray | None = None,
        *,
        query_labels: np.ndarray,
        database_labels: np.ndarray,
        thumbnail: int = 64,
        words: int = 10,
    ):
        self.data = data
        self.rows = {"query": query_rows, "database": database_rows}
        self.labels = {"query": query_labels, "database": database_labels}
        self.thumbnail = thumbnail
        self.words = words
        self._images: dict[int, str] = {}

    def row(self, side: str, index: int) -> int | None:
        rows = self.rows[side]
        return None if rows is None else int(rows[index])

    def label_text(self, side: str, index: int) -> str:
        vector = self.labels[side][index]
        names = getattr(self.data, "label_names", None)
        hot = np.flatnonzero(np.asarray(vector) > 0)
        return ", ".join(names[i] if names else str(i) for i in hot) or "(no label)"

    def _image_uri(self, row: int) -> str | None:
        images = getattr(self.data, "images", None)
        if images is None:
            return None
        if row not in self._images:
            import tensorflow as tf  # image encoding; evaluation has TF loaded anyway

            # Small images (the demo's) at their own size as PNG, scaled up by the page;
            # photographs as JPEG at the thumbnail size.
            native = getattr(getattr(images, "array", None), "shape", (0, 0))[1] or self.thumbnail
            size = min(self.thumbnail, int(native))
            pixels = images.read(np.array([row]), size)[0]
            if size <= 48:
                data, kind = tf.io.encode_png(pixels).numpy(), "png"
            else:
                data, kind = tf.io.encode_jpeg(pixels, quality=85).numpy(), "jpeg"
            self._images[row] = f"data:image/{kind};base64," + base64.b64encode(data).decode()
        return self._images[row]

    def text_words(self, row: int) -> str:
        vector = np.asarray(self.data.texts[row])
        tags = getattr(self.data, "tag_names", None)
        if tags and np.all((vector == 0) | (vector == 1)):
            hot = np.flatnonzero(vector)[: self.words]
            more = int((vector != 0).sum()) - len(hot)
            return " ".join(tags[i] for i in hot) + (f" (+{more})" if more > 0 else "")
        strongest = np.argsort(-np.abs(vector), kind="stable")[:5]
        return " ".join(f"{tags[i] if tags else f'd{i}'}={vector[i]:+.3g}" for i in strongest)

    def render(self, modality: str, side: str, index: int) -> str:
        """The item's HTML (escaped): its content, id and labels."""
        row = self.row(side, index)
        ident = f"{side} {index}" + (f" · item {row}" if row is not None else "")
        content = ""
        if row is not None and modality == "image":
            uri = self._image_uri(row)
            content = (
                f'<img class="thumb" src="{uri}" alt="{html.escape(ident)}" '
                f'width="{self.thumbnail}" height="{self.thumbnail}">'
                if uri
                else '<div class="noimg">feature vector</div>'
            )
        elif (
            row is not None and modality == "text" and getattr(self.data, "texts", None) is not None
        ):
            content = f'<div class="words">{html.escape(self.text_words(row))}</div>'
        elif modality == "label":
            content = '<div class="words">label vector</div>'
        return (
            f'{content}<div class="id">{html.escape(ident)}</div>'
            f'<div class="labels">{html.escape(self.label_text(side, index))}</div>'
        )


@dataclasses.dataclass
class ReportInputs:
    """Everything the page shows. ``codes``: the release's layout (Qi, Qt, Ql, Di, Dt,
    query_L, retrieval_L); ``results`` / ``curves``: from ``codes.evaluate_codes``."""

    codes: Mapping[str, np.ndarray]
    results: Mapping[str, Any]
    curves: Mapping[str, Mapping[str, np.ndarray]]
    header: Mapping[str, Any]
    protocol: Mapping[str, Any]
    items: ItemView
    baseline: Mapping[str, Any] | None = None
    top_k: int = 10
    per_group: int = 3
    seed: int = 0


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.2em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.35}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;font-size:.92em}th{background:#f3f3f3}
.charts{display:flex;flex-wrap:wrap;gap:.8em}.charts figure{margin:0}
figcaption{font-size:.85em;color:#555;max-width:380px}
.query{display:flex;gap:.6em;align-items:flex-start;margin:.6em 0;padding:.4em;
border:1px solid #e4e4e4;border-radius:6px}
.qbox{min-width:150px;max-width:170px;background:#f7f7fb;padding:.3em;border-radius:4px}
.results{display:flex;flex-wrap:wrap;gap:.35em;list-style:none;margin:0;padding:0}
.results li{width:88px;font-size:.72em;padding:.2em;border:2px solid #ccc;border-radius:4px}
.results li.rel{border-color:#2ca02c;background:#f1faf1}.results li.irr{border-color:#d62728;
background:#fdf1f1}.mark{font-weight:bold}.rel .mark{color:#2ca02c}.irr .mark{color:#d62728}
.thumb{display:block;image-rendering:pixelated}.words{word-break:break-word}
.id{color:#666}.labels{color:#333}.noimg{color:#888;font-style:italic}
.group{font-weight:bold;text-transform:uppercase;font-size:.8em;color:#555;margin-top:.8em}
"""

_HOW_TO_READ = """
<p>Each direction (query modality → database modality) ranks the whole database by Hamming
distance between codes, ties in database order. <b>mAP</b> averages, over queries, the
precision at each relevant item; the label prior is the mAP of a ranking that ignores the
codes, and <code>ssah-baseline</code> (when given) a linear classifier with random-projection
codes: a useful model is well above both. The <b>precision-recall</b> curve retrieves every
item within Hamming radius r = 0, 1, …; <b>precision@N</b> looks at the first N ranked items.
The <b>distance histogram</b> shows the share of relevant pairs (query and item share a
label) and of irrelevant pairs at each distance: codes that separate put the first to the
left and the second to the right, with little overlap. <b>Bit balance</b> is the fraction of
+1 per bit over the database; bits near 0 or 1 carry little information. The <b>sample
queries</b> are the best, median and worst by AP (ties broken by a fixed seed); each shows
its top results with their distance, marked ✓ when relevant and ✗ when not.</p>
"""


def _table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    return "".join(out) + "</table>"


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _directions(codes: Mapping[str, np.ndarray]) -> list[str]:
    return [name for name, (q, d) in CODE_DIRECTIONS.items() if q in codes and d in codes]


def _within_radius(results: Mapping[str, Any], direction: str, total: int | None) -> str:
    """Precision within radius 2 with how many queries it averages over: a precision of
    1.0 from a handful of queries says little."""
    precision = _fmt(results.get(precision_within_radius_key(direction)))
    queries = results.get(queries_within_radius_key(direction))
    if queries is None:
        return precision
    of = f" of {total}" if total else ""
    return f"{precision} ({queries}{of} queries retrieve any)"


def _map_section(inputs: ReportInputs, directions: list[str]) -> str:
    results, baseline = inputs.results, inputs.baseline
    head = ["direction", "mAP@all", "tie-aware mAP@all", "precision within radius 2"]
    extra = sorted(k for k in results if "@" in k and k.startswith("map_"))
    if extra:
        head.append(f"mAP@{extra[0].split('@')[1]} ({inputs.protocol.get('map_variant')})")
    if baseline:
        head.append("ssah-baseline mAP@all")
    rows = []
    for d in directions:
        row = [
            ARROW[d],
            _fmt(results.get(map_key(d))),
            _fmt(results.get(tie_aware_key(d))),
            _within_radius(results, d, inputs.protocol.get("queries")),
        ]
        if extra:
            row.append(_fmt(results.get(map_key(d, top_k=int(extra[0].split("@")[1])))))
        if baseline:
            row.append(_fmt(baseline.get(map_key(d))))
        rows.append(row)
    prior = results.get("label_prior_map")
    note = (
        f"<p>Label prior (a ranking that ignores the codes): {_fmt(prior)}.</p>"
        if prior is not None
        else ""
    )
    return '<h2 id="maps">mAP per direction</h2>' + _table(rows, head) + note


def _charts_section(inputs: ReportInputs, directions: list[str]) -> str:
    codes, curves = inputs.codes, inputs.curves
    figures = []
    pr = {
        ARROW[d]: (curves[f"pr_{d}"]["recall"], curves[f"pr_{d}"]["precision"])
        for d in directions
        if f"pr_{d}" in curves
    }
    if pr:
        figures.append(
            (
                "precision-recall by Hamming radius",
                line_chart(
                    pr,
                    x_label="recall",
                    y_label="precision",
                    title="precision-recall by Hamming radius",
                ),
            )
        )
    pn = {
        ARROW[d]: (curves[f"precision_at_n_{d}"]["n"], curves[f"precision_at_n_{d}"]["precision"])
        for d in directions
        if f"precision_at_n_{d}" in curves
    }
    if pn:
        figures.append(
            (
                "precision@N",
                line_chart(
                    pn,
                    x_label="N (log scale)",
                    y_label="precision",
                    title="precision@N",
                    log_x=True,
                ),
            )
        )
    for d in directions:
        q, db = CODE_DIRECTIONS[d]
        relevant, irrelevant = distance_histogram(
            query_codes=codes[q],
            database_codes=codes[db],
            query_labels=codes["query_L"],
            database_labels=codes["retrieval_L"],
        )
        groups = {
            "relevant pairs": relevant / max(relevant.sum(), 1),
            "irrelevant pairs": irrelevant / max(irrelevant.sum(), 1),
        }
        figures.append(
            (
                f"{ARROW[d]}: share of pairs at each Hamming distance",
                bar_chart(
                    groups,
                    x_label="Hamming distance",
                    y_label="share of pairs",
                    title=f"{ARROW[d]} distance histogram",
                ),
            )
        )
    balance = {
        m: ((np.asarray(codes[k]) > 0).mean(axis=0))
        for m, k in (("image", "Di"), ("text", "Dt"))
        if k in codes
    }
    if balance:
        figures.append(
            (
                "per-bit balance: fraction of +1 over the database",
                bar_chart(
                    balance,
                    x_label="bit",
                    y_label="fraction of +1",
                    title="per-bit balance",
                    y_max=1.0,
                ),
            )
        )
    body = "".join(
        f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, svg in figures
    )
    return f'<h2 id="curves">Curves and code statistics</h2><div class="charts">{body}</div>'


def _queries_section(inputs: ReportInputs, direction: str) -> str:
    codes, items = inputs.codes, inputs.items
    q_key, db_key = CODE_DIRECTIONS[direction]
    source, target = DIRECTIONS[direction]
    query_labels, database_labels = codes["query_L"], codes["retrieval_L"]
    ap, _ = average_precisions(
        query_codes=codes[q_key],
        database_codes=codes[db_key],
        query_labels=query_labels,
        database_labels=database_labels,
    )
    chosen = sample_queries(ap, per_group=inputs.per_group, seed=inputs.seed)
    out = [
        f'<h2 id="dir-{direction}">{html.escape(ARROW[direction])}: sample queries</h2>',
        f'<section class="direction" data-direction="{direction}">',
    ]
    for group in GROUPS:
        if not chosen[group]:
            continue
        out.append(f'<div class="group">{group} by AP</div>')
        for query in chosen[group]:
            distance = hamming_distance(codes[q_key][query : query + 1], codes[db_key])[0]
            order = np.argsort(distance, kind="stable")[: inputs.top_k]
            relevant = (np.asarray(database_labels)[order] @ np.asarray(query_labels)[query]) > 0
            out.append(
                f'<div class="query" data-group="{group}" data-ap="{ap[query]:.6f}">'
                f'<div class="qbox">{items.render(source, "query", query)}'
                f'<div>AP {ap[query]:.3f}</div></div><ol class="results">'
            )
            for rank, (item, is_relevant) in enumerate(zip(order, relevant), start=1):
                mark, cls = ("✓", "rel") if is_relevant else ("✗", "irr")
                out.append(
                    f'<li class="{cls}"><span class="mark">{mark}</span> #{rank}, '
                    f"distance {int(distance[item])}"
                    f"{items.render(target, 'database', int(item))}</li>"
                )
            out.append("</ol></div>")
    out.append("</section>")
    return "".join(out)


def build_report(inputs: ReportInputs) -> str:
    """The whole page as one HTML string (every value escaped)."""
    directions = _directions(inputs.codes)
    header_rows = [(k, v) for k, v in inputs.header.items()]
    header_rows += [(f"protocol: {k}", v) for k, v in inputs.protocol.items()]
    nav = " · ".join(f'<a href="#dir-{d}">{html.escape(ARROW[d])}</a>' for d in directions)
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(str(inputs.header.get('title', 'SSAH retrieval report')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(str(inputs.header.get('title', 'SSAH retrieval report')))}</h1>",
        f'<p>{nav} · <a href="#maps">mAP</a> · <a href="#curves">curves</a></p>',
        '<h2 id="setup">What was evaluated</h2>',
        _table([(k, _fmt(v)) for k, v in header_rows if k != "title"], ["setting", "value"]),
        '<h2 id="how">How to read this page</h2>',
        _HOW_TO_READ,
        _map_section(inputs, directions),
        _charts_section(inputs, directions),
    ]
    parts += [_queries_section(inputs, d) for d in directions]
    parts.append("</body></html>")
    return "".join(parts)
