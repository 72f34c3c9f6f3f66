"""Evaluating a run's checkpoint (or a release-layout code file) into a folder:
results.json with its protocol, curves, TensorBoard scalars and projector files and,
on request, the retrieval report. ``ssah-eval`` and ``ssah-train --report`` use it.

Everything is computed once from the codes: the report and the projector read the
same arrays as the mAPs (only the projector's semantic features encode its few items).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np
import tensorflow as tf

from ssah_tf.atomic import staged_output, write_atomic
from ssah_tf.data.files import load_json
from ssah_tf.errors import UserError
from ssah_tf.evaluation.codes import evaluate_codes, write_code_file, write_curves
from ssah_tf.evaluation.projector import Embedding, write_projector
from ssah_tf.evaluation.protocol import protocol_record, split_sha256
from ssah_tf.evaluation.report import ItemView, ReportInputs, build_report


@dataclasses.dataclass(frozen=True)
class OutputOptions:
    """What an evaluation writes besides results.json and the curves."""

    map_variant: str | None = None
    top_k: int | None = None
    write_codes: bool = False
    report: bool = False
    report_top_k: int = 10  # database items shown per sample query
    report_queries: int = 3  # sample queries per group (best, median, worst)
    baseline_dir: str | None = None
    projector_items: int = 300  # items per embedding (0: no projector files)
    seed: int = 0  # the report's and the projector's samples


def run_codes(run) -> dict[str, np.ndarray]:
    """{-1, +1} codes of a loaded run's test queries (label, image, text) and database
    (image, text) in the release's layout, with their labels."""
    query, database = np.asarray(run.split.query), np.asarray(run.split.database)
    evaluator = run.evaluator
    codes = {
        "query_L": run.data.labels[query],
        "retrieval_L": run.data.labels[database],
        "Ql": evaluator.codes(query, "label"),
    }
    for modality, key in (("image", "i"), ("text", "t")):
        if modality in evaluator.modalities:
            codes[f"Q{key}"] = evaluator.codes(query, modality)
            codes[f"D{key}"] = evaluator.codes(database, modality)
    return codes


def _baseline(options: OutputOptions, split=None) -> dict | None:
    if not options.baseline_dir:
        return None
    path = os.path.join(options.baseline_dir, "results.json")
    if not os.path.isfile(path):
        raise UserError(
            f"`baseline_dir={options.baseline_dir}` has no results.json; give an "
            "ssah-baseline run directory"
        )
    baseline = load_json(path)
    protocol = baseline.get("protocol") or {}
    if split is not None and protocol.get("split_sha256") not in (None, split_sha256(split)):
        raise UserError(
            f"`baseline_dir={options.baseline_dir}` was measured on another split; "
            "run ssah-baseline --split_file=RUN/split.npz"
        )
    return baseline


def _projector_embeddings(run, codes: dict, count: int, seed: int) -> list[Embedding]:
    """A seeded sample of the database's image and text items and of the queries' label
    vectors: codes, semantic features, metadata (and thumbnails for images)."""
    if count <= 0:
        return []
    rng = np.random.default_rng(seed)
    split, data = run.split, run.data
    names = data.label_names
    out = []
    for modality, key, rows in (
        ("label", "Ql", np.asarray(split.query)),
        ("image", "Di", np.asarray(split.database)),
        ("text", "Dt", np.asarray(split.database)),
    ):
        if key not in codes:
            continue
        pick = np.sort(rng.choice(len(rows), min(count, len(rows)), replace=False))
        items = rows[pick]
        hot = [np.flatnonzero(data.labels[r] > 0) for r in items]
        columns = {
            "id": [str(r) for r in items],
            "split": ["query" if modality == "label" else "database"] * len(items),
            "labels": [
                ", ".join(names[i] if names else str(i) for i in h) or "(none)" for h in hot
            ],
            "first_label": [
                (names[h[0]] if names else str(h[0])) if len(h) else "(none)" for h in hot
            ],
        }
        images = (
            data.images.read(items, 32) if modality == "image" and data.images is not None else None
        )
        out.append(
            Embedding(f"codes_{modality}", codes[key][pick].astype(np.float32), columns, images)
        )
        out.append(
            Embedding(
                f"features_{modality}",
                run.evaluator.encode(items, modality, output="feature"),
                columns,
                images,
            )
        )
    return out


def _write(
    output_dir: str,
    *,
    codes: dict,
    results: dict,
    curves: dict,
    protocol: dict,
    source: str,
    options: OutputOptions,
    report_inputs: dict | None,
    embeddings: list[Embedding],
    release_codes: dict | None,
) -> dict[str, Any]:

    record = {**results, "source": source, "protocol": protocol}
    with staged_output(output_dir) as staging:  # all files or none
        write_atomic(
            os.path.join(staging, "results.json"),
            lambda f: json.dump(record, f, indent=1, sort_keys=True),
        )
        write_curves(staging, curves)
        if release_codes is not None:
            write_code_file(os.path.join(staging, "codes.mat"), release_codes)
        writer = tf.summary.create_file_writer(os.path.join(staging, "tensorboard"))
        with writer.as_default(step=0):
            for key, value in results.items():
                if isinstance(value, float):
                    tf.summary.scalar(f"eval/{key}", value)
        writer.close()
        if embeddings:
            write_projector(os.path.join(staging, "tensorboard"), embeddings)
        if report_inputs is not None:
            page = build_report(
                ReportInputs(
                    codes=codes,
                    results=results,
                    curves=curves,
                    protocol=protocol,
                    top_k=options.report_top_k,
                    per_group=options.report_queries,
                    seed=options.seed,
                    **report_inputs,
                )
            )
            path = os.path.join(staging, "report", "index.html")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(page)
    return record


def evaluate_loaded_run(
    run, output_dir: str, options: OutputOptions = OutputOptions(), *, checkpoint_name: str = "best"
) -> dict[str, Any]:
    """Evaluate ``run`` (training.runs.open_run) into ``output_dir``; returns results.json."""
    baseline = _baseline(options, run.split)
    codes = run_codes(run)
    results, curves = evaluate_codes(codes, map_variant=options.map_variant, top_k=options.top_k)
    config = run.config
    # best/ holds the run's selected checkpoint; any other is no selection of ours.
    selected_on = config.run.select_on if checkpoint_name == "best" else None
    protocol = protocol_record(
        map_variant=options.map_variant,
        top_k=options.top_k,
        selected_on=selected_on,
        split=run.split,
        bits=config.ssah.network.bits,
        seed=config.run.seed,
    )
    report_inputs = None
    if options.report:
        split = run.split
        trained = _trained_results(run.model_dir)
        header = {
            "title": f"SSAH retrieval report: {os.path.basename(os.path.normpath(run.model_dir))}",
            "data set": run.data.summary(),
            "split": split.sizes(),
            "bits": config.ssah.network.bits,
            "preset": config.ssah.preset,
            "backbone": config.run.backbone,
            "checkpoint": run.checkpoint,
            "how it was chosen": _selection_text(checkpoint_name, trained),
        }
        items = ItemView(
            run.data,
            np.asarray(split.query),
            np.asarray(split.database),
            query_labels=codes["query_L"],
            database_labels=codes["retrieval_L"],
        )
        report_inputs = {"header": header, "items": items, "baseline": baseline}
    release_codes = {k: v for k, v in codes.items() if k != "Ql"} if options.write_codes else None
    if run.data_changed:  # allowed by allow_data_change: said with the numbers
        results = {**results, "data_changed": list(run.data_changed)}
    return _write(
        output_dir,
        codes=codes,
        results=results,
        curves=curves,
        protocol=protocol,
        source=run.checkpoint,
        options=options,
        report_inputs=report_inputs,
        embeddings=_projector_embeddings(run, codes, options.projector_items, options.seed),
        release_codes=release_codes,
    )


def evaluate_code_file(
    codes: dict, source: str, output_dir: str, options: OutputOptions = OutputOptions()
) -> dict[str, Any]:
    """Evaluate release-layout codes (codes.read_code_file) into ``output_dir``: the
    report shows ids and label indices (a code file holds no items)."""
    baseline = _baseline(options)
    results, curves = evaluate_codes(codes, map_variant=options.map_variant, top_k=options.top_k)
    bits = next(v.shape[1] for k, v in codes.items() if k[0] in "QD")
    protocol = protocol_record(
        map_variant=options.map_variant,
        top_k=options.top_k,
        selected_on=None,
        counts={"queries": len(codes["query_L"]), "database": len(codes["retrieval_L"])},
        bits=bits,
        seed=None,
    )
    report_inputs = None
    if options.report:
        header = {
            "title": f"Retrieval report: {os.path.basename(source)}",
            "code file": source,
            "queries": len(codes["query_L"]),
            "database": len(codes["retrieval_L"]),
            "bits": bits,
        }
        items = ItemView(query_labels=codes["query_L"], database_labels=codes["retrieval_L"])
        report_inputs = {"header": header, "items": items, "baseline": baseline}
    embeddings = []
    if options.projector_items > 0:
        rng = np.random.default_rng(options.seed)
        for key, labels, split in (
            ("Di", "retrieval_L", "database"),
            ("Dt", "retrieval_L", "database"),
            ("Qi", "query_L", "query"),
            ("Qt", "query_L", "query"),
        ):
            if key in codes:
                pick = np.sort(
                    rng.choice(
                        len(codes[key]),
                        min(options.projector_items, len(codes[key])),
                        replace=False,
                    )
                )
                hot = [np.flatnonzero(codes[labels][i] > 0) for i in pick]
                embeddings.append(
                    Embedding(
                        f"codes_{key}",
                        codes[key][pick].astype(np.float32),
                        {
                            "id": [str(i) for i in pick],
                            "split": [split] * len(pick),
                            "labels": [", ".join(map(str, h)) for h in hot],
                            "first_label": [str(h[0]) if len(h) else "(none)" for h in hot],
                        },
                    )
                )
    return _write(
        output_dir,
        codes=codes,
        results=results,
        curves=curves,
        protocol=protocol,
        source=source,
        options=options,
        report_inputs=report_inputs,
        embeddings=embeddings,
        release_codes=None,
    )


def _trained_results(model_dir: str) -> dict | None:
    path = os.path.join(model_dir, "results.json")
    try:
        return load_json(path) if os.path.isfile(path) else None
    except UserError:
        return None


def _selection_text(checkpoint_name: str, trained: dict | None) -> str:
    if checkpoint_name != "best":
        return f"chosen by hand ({checkpoint_name}), not by the run's selection"
    if not trained or "selected_on" not in trained:
        return "the run's best/ checkpoint"
    where = {
        "validation": "on validation queries",
        "test": "on the test queries (optimistic)",
        "last": "as the last evaluated epoch",
    }.get(trained["selected_on"], "")
    return f"best/: epoch {trained.get('selected_epoch')}, selected {where}"
