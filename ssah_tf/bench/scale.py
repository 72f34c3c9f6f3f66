"""How training, evaluation and search cost grow with size (``ssah-bench --scale``).

Figures, never assertions: each size is timed (median of ``repeats``) beside this
run's own hardware reference (XOR + popcount throughput, memory copy bandwidth), and
each curve gets its growth exponent (the log-log slope from the smallest to the
largest size). Training runs ``ssah-train`` for one epoch in a child process per
size (its own epoch time and the child's peak RSS); evaluation and search run in
this process, whose peak RSS is its high-water mark after each size (sizes run in
increasing order, so it is that size's peak or an earlier, smaller one's).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from ssah_tf.bench.measure import hardware_reference, median_seconds, peak_rss_gb
from ssah_tf.bench.scale_training import training_scaling


@dataclasses.dataclass(frozen=True)
class ScaleConfig:
    """Sizes of the scaling measurements (``quick``: tiny, checks the code runs)."""

    bits: int = 64
    num_labels: int = 24
    queries: int = 2000
    eval_database_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    encode_feature_dim: int = 128
    search_database_sizes: tuple[int, ...] = (1_000_000, 10_000_000)
    search_queries: int = 200
    top_k: int = 100
    repeats: int = 3
    # Training: items trained on, as feature vectors and as pictures streamed from a
    # TFDS copy that ssah-prepare made of PNG files (MLP on 32-px pictures).
    # SSAH's pairwise terms compare each batch with the whole training set's memory
    # banks, so an epoch has a term in the square of the items; sizes stop at 10,000
    # to keep the bench short on a 2-core machine (experiments/RESULTS.md).
    train_feature_sizes: tuple[int, ...] = (1_000, 3_000, 10_000)
    train_picture_sizes: tuple[int, ...] = (3_000, 10_000)
    train_queries: int = 1000
    train_bits: int = 64

    @classmethod
    def quick(cls, **overrides) -> ScaleConfig:
        return cls(
            **{
                "queries": 50,
                "eval_database_sizes": (500, 2_000),
                "encode_feature_dim": 16,
                "search_database_sizes": (1_000, 4_000),
                "search_queries": 5,
                "top_k": 10,
                "repeats": 1,
                "train_feature_sizes": (200,),
                "train_picture_sizes": (200,),
                "train_queries": 50,
                "train_bits": 16,
                **overrides,
            }
        )


def growth_exponent(sizes, seconds) -> float | None:
    """The log-log slope from the first to the last point (1.0: linear)."""
    if len(sizes) < 2 or seconds[0] <= 0 or seconds[-1] <= 0:
        return None
    return math.log(seconds[-1] / seconds[0]) / math.log(sizes[-1] / sizes[0])


def _codes(rng, n: int, bits: int) -> np.ndarray:
    return (rng.integers(0, 2, (n, bits), dtype=np.int8) * 2 - 1).astype(np.int8)


def evaluation_scaling(config: ScaleConfig, log: Callable[..., None]) -> list[dict]:
    """Encode (the MLP image network over streamed feature batches) + mAP@all of
    ``queries`` queries against each database size."""
    import tensorflow as tf

    from ssah_tf.evaluation.metrics import mean_average_precision
    from ssah_tf.models.imgnet import ImgNet, MLPBackbone

    rng = np.random.default_rng(0)
    net = ImgNet(
        backbone=MLPBackbone(config.encode_feature_dim, 4096),
        num_labels=config.num_labels,
        bits=config.bits,
    )
    encode_batch = tf.function(lambda x: net(x).hash)
    batch = 4096
    features = tf.random.normal([batch, config.encode_feature_dim], seed=1)
    encode_batch(features)  # trace once, outside the timings
    rows = []
    query_codes = _codes(rng, config.queries, config.bits)
    query_labels = (rng.random((config.queries, config.num_labels)) < 0.15).astype(np.float32)
    for size in config.eval_database_sizes:

        def encode(size=size):
            codes = np.empty((size, config.bits), np.int8)
            for start in range(0, size, batch):
                count = min(batch, size - start)
                codes[start : start + count] = np.where(
                    encode_batch(features).numpy()[:count] >= 0, 1, -1
                )
            return codes

        encode_s = median_seconds(encode, 1)  # long at the large sizes: timed once
        database_codes = _codes(rng, size, config.bits)
        labels = (rng.random((size, config.num_labels)) < 0.15).astype(np.float32)
        mean_average_precision(
            query_codes=query_codes[:2],
            database_codes=database_codes[:100],
            query_labels=query_labels[:2],
            database_labels=labels[:100],
        )
        map_s = median_seconds(
            lambda database_codes=database_codes, labels=labels: mean_average_precision(
                query_codes=query_codes,
                database_codes=database_codes,
                query_labels=query_labels,
                database_labels=labels,
            ),
            config.repeats,
        )
        row = {
            "database": size,
            "encode_s": encode_s,
            "map_s": map_s,
            "ns_per_pair": map_s / (size * config.queries) * 1e9,
            "peak_rss_gb": peak_rss_gb(),
        }
        log("evaluation scale %s", row)
        rows.append(row)
    return rows


def search_scaling(config: ScaleConfig, log: Callable[..., None]) -> list[dict]:
    """Exact top-k search latency per query against each database size, checked
    against brute force on the first queries."""
    from ssah_tf.retrieval import search

    rng = np.random.default_rng(1)
    width = config.bits // 8
    rows = []
    for size in config.search_database_sizes:
        database = rng.integers(0, 256, (size, width), dtype=np.uint8)
        queries = rng.integers(0, 256, (config.search_queries, width), dtype=np.uint8)
        list(search(queries[:1], database[:1000], top_k=10))
        seconds = median_seconds(
            lambda database=database, queries=queries: list(
                search(queries, database, top_k=config.top_k)
            ),
            config.repeats,
        )
        indices, distances = next(iter(search(queries[:1], database, top_k=config.top_k)))
        brute = np.unpackbits(queries[:1] ^ database, axis=1).sum(1)
        order = np.lexsort((np.arange(size), brute))[: config.top_k]
        row = {
            "database": size,
            "ms_per_query": seconds / config.search_queries * 1e3,
            "identical_to_brute_force": bool(
                np.array_equal(indices, order) and np.array_equal(distances, brute[order])
            ),
            "peak_rss_gb": peak_rss_gb(),
        }
        log("search scale %s", row)
        rows.append(row)
    return rows


def run_scale(config: ScaleConfig, workdir: str, log: Callable[..., None]) -> dict:
    """Every scaling measurement, with growth exponents and the hardware reference;
    ``workdir`` holds the training runs' data and run folders."""
    hardware = hardware_reference(config.repeats, 1_000_000 if config.queries < 100 else 50_000_000)
    training = training_scaling(config, workdir, log)
    evaluation = evaluation_scaling(config, log)
    search_rows = search_scaling(config, log)
    sizes = [r["database"] for r in evaluation]
    exponents = {}
    for kind in ("features", "pictures"):
        rows = [r for r in training if r["input"] == kind]
        exponents[kind] = growth_exponent(
            [r["train_items"] for r in rows], [r["epoch_s"] for r in rows]
        )
    return {
        "config": dataclasses.asdict(config),
        "hardware": hardware,
        "training": training,
        "training_exponent": exponents,
        "evaluation": evaluation,
        "evaluation_exponent": {
            "encode": growth_exponent(sizes, [r["encode_s"] for r in evaluation]),
            "map": growth_exponent(sizes, [r["map_s"] for r in evaluation]),
        },
        "search": search_rows,
        "search_exponent": growth_exponent(
            [r["database"] for r in search_rows], [r["ms_per_query"] for r in search_rows]
        ),
    }


def scale_table(results: dict) -> str:
    """The results as Markdown tables."""
    hw = results["hardware"]
    config = results["config"]
    lines = [
        f"Hardware reference (this run): XOR+popcount {hw['xor_popcount_words_per_s'] / 1e9:.2f} "
        f"G words/s on one core; memory copy {hw['memory_copy_gb_per_s']:.1f} GB/s.",
        "",
        f"Training: one epoch of ssah-train (paper preset, {config['train_bits']} bits), "
        "512-d image features + 1,386-d texts, or 32-px PNG pictures streamed from the "
        "ssah-prepare copy (MLP); epoch s excludes start-up and the final evaluation.",
        "",
        "| input | training items | epoch s | evaluation s | whole run s | prepare s "
        "| peak RSS GB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["training"]:
        prepare = "-" if r["prepare_s"] is None else f"{r['prepare_s']:.0f}"
        lines.append(
            f"| {r['input']} | {r['train_items']:,} | {r['epoch_s']:.1f} | {r['eval_s']:.1f} | "
            f"{r['wall_s']:.0f} | {prepare} | {r['peak_rss_gb']:.2f} |"
        )
    for kind, exponent in results["training_exponent"].items():
        lines.append(f"| growth exponent ({kind}) | | {_fmt(exponent)} | | | | |")
    lines += [
        "",
        f"Evaluation: encode the database (MLP on {config['encode_feature_dim']}-d features) "
        f"+ mAP@all of {config['queries']} queries, {config['bits']}-bit codes.",
        "",
        "| database | encode s | mAP@all s | ns a pair | peak RSS GB |",
        "|---|---|---|---|---|",
    ]
    for r in results["evaluation"]:
        lines.append(
            f"| {r['database']:,} | {r['encode_s']:.2f} | {r['map_s']:.2f} | "
            f"{r['ns_per_pair']:.2f} | {r['peak_rss_gb']:.2f} |"
        )
    exponents = results["evaluation_exponent"]
    lines += [
        f"| growth exponent | {_fmt(exponents['encode'])} | {_fmt(exponents['map'])} | | |",
        "",
        f"Exact top-{config['top_k']} search, {config['search_queries']} queries.",
        "",
        "| database | ms a query | identical to brute force | peak RSS GB |",
        "|---|---|---|---|",
    ]
    for r in results["search"]:
        lines.append(
            f"| {r['database']:,} | {r['ms_per_query']:.2f} | {r['identical_to_brute_force']} | "
            f"{r['peak_rss_gb']:.2f} |"
        )
    lines.append(f"| growth exponent | {_fmt(results['search_exponent'])} | | |")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
