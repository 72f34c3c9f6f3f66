"""Flags shared by the CLIs and their conversion to frozen configs and settings (running
a tool, its help and its one-line errors: tool.py).

Library modules are imported inside the functions that use them: every tool defines
its flags from this module, and --help and flag errors answer before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags

from ssah_tf.cli.tool import CONFIG_FIELD_FLAGS, group_flags
from ssah_tf.config import PRESETS, make_config, preset_fields
from ssah_tf.errors import UserError
from ssah_tf.output_paths import refuse_output_over_inputs

FLAGS = flags.FLAGS


def _flag_kind(field: dataclasses.Field) -> str:
    """'int', 'float', 'bool', 'str' or 'list' (a tuple of integers) of a declared field
    (annotations are strings here)."""
    annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    base = annotation.split("|")[0].strip()
    return "list" if base.startswith("tuple") else base


def define_field_flags(
    cls, names=None, *, default_none: bool = False, help_suffix=None, group: str | None = None
) -> list[str]:
    """One flag per declared field of ``cls`` (or of ``names``): its default (None with
    ``default_none``: a preset chooses), help line and choices come from the field's
    declaration (fields.setting), the one home of every default."""
    from ssah_tf.fields import declared

    fields = declared(cls)
    defined = []
    for name in names or [n for n, f in fields.items() if f.metadata.get("flag", True)]:
        field = fields[name]
        meta = field.metadata
        default = None if default_none else field.default
        help_text = meta["help"] + (help_suffix(name) if help_suffix else "")
        kind = _flag_kind(field)
        if meta.get("choices"):
            flags.DEFINE_enum(name, default, [str(c) for c in meta["choices"]], help_text)
        elif kind == "bool":
            flags.DEFINE_bool(name, default, help_text)
        elif kind == "int":
            flags.DEFINE_integer(name, default, help_text)
        elif kind == "float":
            flags.DEFINE_float(name, default, help_text)
        elif kind == "list":
            flags.DEFINE_list(
                name,
                None if default is None else [str(v) for v in default],
                help_text + " (comma-separated integers)",
            )
        else:
            flags.DEFINE_string(name, default, help_text)
        CONFIG_FIELD_FLAGS.add(name)
        defined.append(name)
    if group:
        group_flags(group, defined)
    return defined


def define_data_flags() -> None:
    """Every DataConfig field as a flag."""
    from ssah_tf.data.registry import DataConfig

    define_field_flags(DataConfig, group="data")


def explicit(name: str) -> bool:
    """Whether the user gave --name (on the command line or in a flag file)."""
    return FLAGS[name].present > 0


def given_settings(names) -> dict:
    """{name: value} of the flags among ``names`` the user gave, as config values
    (lists of integers as tuples)."""
    out = {}
    for name in names:
        if name not in FLAGS or not explicit(name):
            continue
        value = FLAGS[name].value
        if isinstance(value, list):
            try:
                value = tuple(int(v) for v in value)
            except ValueError:
                raise UserError(f"--{name} must be comma-separated integers") from None
        out[name] = value
    return out


def data_settings():
    """The DataConfig the data flags describe."""
    from ssah_tf.data.registry import DataConfig
    from ssah_tf.fields import declared

    return DataConfig(**given_settings(declared(DataConfig)))


def define_model_flags() -> None:
    """--preset plus one flag per method field (None = the preset's default)."""
    flags.DEFINE_enum(
        "preset",
        "paper",
        PRESETS,
        "paper: the method as published; release: the authors' TF1 code, bugs "
        "included. Chooses defaults only; every field below overrides it.",
    )
    from ssah_tf.config import SECTIONS

    paper, release = make_config("paper"), make_config("release")

    def preset_values(name):
        if "default:" in preset_fields()[name][1].metadata["help"]:
            return ""
        section = preset_fields()[name][0]
        a, b = (getattr(getattr(c, section), name) for c in (paper, release))
        show = lambda v: ",".join(map(str, v)) if isinstance(v, tuple) else v
        return f" (paper: {show(a)}; release: {show(b)})" if a != b else f" (default: {show(a)})"

    for cls in SECTIONS.values():
        define_field_flags(cls, default_none=True, help_suffix=preset_values)
    group_flags(
        "method (the preset and each of its fields; README's preset table)",
        ["preset"] + list(preset_fields()),
    )


def define_execution_flags() -> None:
    """--mixed_precision and --jit_compile: how the networks run, not what they compute."""
    flags.DEFINE_bool(
        "mixed_precision",
        None,
        "bf16 matmuls/convolutions on float32 weights "
        "(image backbone, TxtNet hidden layer); "
        "default: off, or the run's setting.",
    )
    flags.DEFINE_bool(
        "jit_compile",
        None,
        "XLA-compile every network's forward pass (default: off, or the run's setting).",
    )
    group_flags("execution (same results within rounding)", ["mixed_precision", "jit_compile"])


def define_map_flags(top_k_help: str) -> None:
    """--map_variant and --map_top_k (evaluation/metrics.py names the variants)."""
    from ssah_tf.map_variants import MAP_VARIANTS

    flags.DEFINE_enum(
        "map_variant",
        None,
        list(MAP_VARIANTS),
        "mAP definition (README: How to report a number): all = every relevant "
        "item of the ranking; top_k = the relevant items among the first k; "
        "first_k_relevant = the first min(k, #relevant) relevant items wherever "
        "ranked (torchcmh's calc_map_k). Default: top_k with --map_top_k, else all.",
    )
    flags.DEFINE_integer("map_top_k", None, top_k_help)


def define_report_flags() -> None:
    """The retrieval report and the projector files of an evaluation (ssah-eval; the
    final evaluation of ssah-train --report)."""
    flags.DEFINE_bool(
        "report",
        False,
        "Write the retrieval report, report/index.html: one "
        "self-contained page with the mAPs, curves, distance histograms and "
        "sample queries with their top results (README: See what the codes "
        "retrieve).",
    )
    flags.DEFINE_string(
        "baseline_dir",
        None,
        "An ssah-baseline run on the same split, shown beside the mAPs in the report.",
    )
    flags.DEFINE_integer("report_top_k", 10, "Database items shown per sample query.")
    flags.DEFINE_integer(
        "projector_items",
        300,
        "Items per modality written for TensorBoard's "
        "Embedding Projector (codes, semantic features, labels; 0: none).",
    )
    group_flags(
        "report and projector", ["report", "baseline_dir", "report_top_k", "projector_items"]
    )


def output_options(**overrides):
    """The evaluation's OutputOptions from the map and report flags."""
    from ssah_tf.evaluation.outputs import OutputOptions

    return OutputOptions(
        map_variant=FLAGS["map_variant"].value,
        top_k=FLAGS["map_top_k"].value,
        report=FLAGS.report,
        report_top_k=FLAGS.report_top_k,
        baseline_dir=FLAGS.baseline_dir,
        projector_items=FLAGS.projector_items,
        **overrides,
    )


def execution_overrides() -> dict:
    """The execution flags the user set, as RunConfig fields."""
    return {
        name: getattr(FLAGS, name)
        for name in ("mixed_precision", "jit_compile")
        if getattr(FLAGS, name) is not None
    }


def define_allow_data_change() -> None:
    """--allow_data_change: go on with data or a split other than the run's (recorded)."""
    flags.DEFINE_bool(
        "allow_data_change",
        False,
        "Go on although the data (or, for evaluation, the split) differs from what the "
        "run recorded in config.json; the difference is recorded with the results.",
    )
    group_flags("data binding", ["allow_data_change"])


def check_output_file(path: str, *, inputs: dict[str, str | None] | None = None) -> None:
    """An output file path must not name an existing folder or any of the inputs
    (flag -> path) the command reads."""
    if os.path.isdir(path):
        raise UserError(f"--output={path} is an existing directory; give a file name")
    refuse_output_over_inputs(path, output_name="--output", inputs=inputs or {})


def print_results(title: str, results: dict, path: str) -> None:
    """The final mAP table (map_* keys) with the label prior beside it."""
    table = "\n".join(
        f"  {k:8s} {v:.4f}" for k, v in sorted(results.items()) if k.startswith("map_")
    )
    print(
        f"{title}:\n{table}\n  label-prior baseline (random ranking) "
        f"{results['label_prior_map']:.4f}\nresults: {path}"
    )


def final_table(results: dict, path: str) -> str:
    """ssah-train's closing table: the selected checkpoint's test mAPs (what best/ holds,
    and what ssah-eval / ssah-export use) beside the last epoch's, each labelled."""
    selected, last = results["selected_epoch"], results["last_epoch"]
    where = {
        "validation": f"selected on {results['selection'].get('validation_queries', 0)} "
        "validation queries",
        "test": "selected on the test queries: optimistic",
        "last": "the last epoch, no selection",
    }[results["selected_on"]]
    stopped = results.get("stopped") or {}
    why = {
        "early_stopping": f"; stopped early: no new best for {stopped.get('patience')} evaluations",
        "schedule_exhausted": "; the release's learning-rate lists ran out",
    }.get(stopped.get("reason"), "")
    head_a, head_b = f"best/ (epoch {selected})", f"last (epoch {last['epoch']})"
    lines = [
        f"final evaluation, test queries ({where}{why}):",
        f"  {'':8s} {head_a:>18s} {head_b:>18s}",
    ]
    for key in sorted(k for k in results if k.startswith("map_")):
        lines.append(f"  {key:8s} {results[key]:18.4f} {last.get(key, float('nan')):18.4f}")
    lines.append(f"  label-prior baseline (random ranking) {results['label_prior_map']:.4f}")
    lines.append(f"results: {path}")
    return "\n".join(lines)
