"""Flags shared by the CLIs, their conversion to frozen configs, and error handling."""

from __future__ import annotations

import dataclasses
import errno
import logging as pylogging
import math
import os
import re
import sys
import time
from typing import Callable

from absl import app, flags, logging

from ssah_tf.config import PRESETS, make_config, preset_fields
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
WORKSPACE = os.environ.get("SSAH_WORKSPACE", "workspace")


def define_data_flags() -> None:
    from ssah_tf.data.registry import DATASETS

    flags.DEFINE_enum("dataset", "demo", DATASETS,
                      "Dataset: the embedded demo, a protocol dataset, mfeat digits, or npz "
                      "(your own feature file, data/README.md).")
    flags.DEFINE_string("data_path", None, "Dataset file or folder (.mat, .npz, text-list folder).")
    flags.DEFINE_string("data_dir", None, "TFDS data dir with a copy prepared by ssah-prepare "
                        "(images streamed from disk; the split is the prepared one).")
    flags.DEFINE_string("image_root", None, "Folder the text lists' image paths are relative to.")
    flags.DEFINE_string("vocab_file", None, "Tag vocabulary for text lists (default: found in folder).")
    flags.DEFINE_integer("split_seed", 0, "Seed of the query/train/database permutation.")
    flags.DEFINE_string("split_file", None, "Reuse a saved split (.npz with query_index, "
                        "train_index, database_index), e.g. another run's split.npz.")
    flags.DEFINE_integer("query_size", None, "Queries (default: the dataset's protocol).")
    flags.DEFINE_integer("train_size", None, "Training items, drawn from the database.")
    flags.DEFINE_integer("database_size", None, "Database items (default: all non-queries).")
    flags.DEFINE_integer("demo_items", 2000, "Demo: number of items.")
    flags.DEFINE_integer("demo_labels", 8, "Demo: number of labels.")
    flags.DEFINE_integer("demo_image_size", 32, "Demo: image side in pixels.")
    flags.DEFINE_integer("demo_vocab", 200, "Demo: tag vocabulary size (text dimension).")
    flags.DEFINE_integer("demo_seed", 0, "Demo: generator seed.")
    group_flags("data", ["dataset", "data_path", "data_dir", "image_root", "vocab_file",
                         "split_seed", "split_file", "query_size", "train_size", "database_size",
                         "allow_query_overlap", "demo_items", "demo_labels", "demo_image_size",
                         "demo_vocab", "demo_seed"])
    flags.DEFINE_bool("allow_query_overlap", False, "Accept a split whose queries are also "
                      "training or database items (a leak: refused unless this is set).")


def explicit(name: str) -> bool:
    """Whether the user gave --name (on the command line or in a flag file)."""
    return FLAGS[name].present > 0


def data_config(stored: dict | None = None):
    """DataConfig from the data flags; with ``stored`` (a resumed run's "data" record)
    the stored values, overridden by the flags the user gave."""
    from ssah_tf.data.registry import DataConfig

    values = {}
    for field in dataclasses.fields(DataConfig):
        if stored is not None and field.name in stored and not explicit(field.name):
            values[field.name] = stored[field.name]
        else:
            values[field.name] = getattr(FLAGS, field.name)
    return DataConfig(**values)


def define_model_flags() -> None:
    """--preset plus one flag per configuration field (None = the preset's default)."""
    flags.DEFINE_enum("preset", "paper", PRESETS,
                      "paper: the method as published; release: the authors' TF1 code, bugs "
                      "included. Chooses defaults only; every field below overrides it.")
    from ssah_tf.config import CHOICES

    for name, (section, field) in preset_fields().items():
        help_text = f"[{section}] override of the preset's {name}"
        kind = _field_kind(field)
        if name in CHOICES:
            flags.DEFINE_enum(name, None, list(CHOICES[name]), help_text)
        elif name == "bits":
            flags.DEFINE_integer(name, 16, "Code length K in bits.")
        elif kind == "int":
            flags.DEFINE_integer(name, None, help_text)
        elif kind == "float":
            flags.DEFINE_float(name, None, help_text)
        elif kind == "bool":
            flags.DEFINE_bool(name, None, help_text)
        elif kind == "str":
            flags.DEFINE_string(name, None, help_text)
        else:
            flags.DEFINE_list(name, None, help_text + " (comma-separated integers)")
    group_flags("method (the preset and each of its fields; README's preset table)",
                ["preset"] + list(preset_fields()))


def _field_kind(field: dataclasses.Field) -> str:
    """'int', 'float', 'bool', 'str' or 'tuple' (annotations are strings here)."""
    annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    return annotation if annotation in ("int", "float", "bool", "str") else "tuple"


def ssah_config(*, num_labels: int | None = None, text_dim: int | None = None,
                stored=None):
    """The frozen SSAHConfig from --preset and per-field flags (data fills label/text dims).

    ``stored``: a resumed run's SSAHConfig; its values stand unless a flag was given.
    """
    preset = stored.preset if stored is not None and not explicit("preset") else FLAGS.preset
    overrides = {}
    for name, (section, field) in preset_fields().items():
        if stored is not None and not explicit(name):
            overrides[name] = getattr(getattr(stored, section), name)
            continue
        value = getattr(FLAGS, name)
        if value is not None and _field_kind(field) == "tuple":
            try:
                value = tuple(int(v) for v in value)
            except ValueError:
                raise UserError(f"--{name} must be comma-separated integers") from None
        overrides[name] = value
    if overrides.get("num_labels") is None:
        overrides["num_labels"] = num_labels
    if overrides.get("text_dim") is None:
        overrides["text_dim"] = text_dim
    return make_config(preset, **overrides)


def define_execution_flags() -> None:
    """--mixed_precision and --jit_compile: how the networks run, not what they compute."""
    flags.DEFINE_bool("mixed_precision", None, "bf16 matmuls/convolutions on float32 weights "
                      "(image backbone, TxtNet hidden layer); "
                      "default: off, or the run's setting.")
    flags.DEFINE_bool("jit_compile", None, "XLA-compile every network's forward pass "
                      "(default: off, or the run's setting).")
    group_flags("execution (same results within rounding)", ["mixed_precision", "jit_compile"])


def define_map_flags(top_k_help: str) -> None:
    """--map_variant and --map_top_k (evaluation/metrics.py names the variants)."""
    from ssah_tf.evaluation.metrics import MAP_VARIANTS

    flags.DEFINE_enum("map_variant", None, list(MAP_VARIANTS),
                      "mAP definition (README: How to report a number): all = every relevant "
                      "item of the ranking; top_k = the relevant items among the first k; "
                      "first_k_relevant = the first min(k, #relevant) relevant items wherever "
                      "ranked (torchcmh's calc_map_k). Default: top_k with --map_top_k, else all.")
    flags.DEFINE_integer("map_top_k", None, top_k_help)


def define_report_flags() -> None:
    """The retrieval report and the projector files of an evaluation (ssah-eval; the
    final evaluation of ssah-train --report)."""
    flags.DEFINE_bool("report", False, "Write the retrieval report, report/index.html: one "
                      "self-contained page with the mAPs, curves, distance histograms and "
                      "sample queries with their top results (README: See what the codes "
                      "retrieve).")
    flags.DEFINE_string("baseline_dir", None, "An ssah-baseline run on the same split, shown "
                        "beside the mAPs in the report.")
    flags.DEFINE_integer("report_top_k", 10, "Database items shown per sample query.")
    flags.DEFINE_integer("projector_items", 300, "Items per modality written for TensorBoard's "
                         "Embedding Projector (codes, semantic features, labels; 0: none).")
    group_flags("report and projector", ["report", "baseline_dir", "report_top_k",
                                         "projector_items"])


def output_options(**overrides):
    """The evaluation's OutputOptions from the map and report flags."""
    from ssah_tf.evaluation.outputs import OutputOptions

    return OutputOptions(map_variant=FLAGS.map_variant, top_k=FLAGS.map_top_k,
                         report=FLAGS.report, report_top_k=FLAGS.report_top_k,
                         baseline_dir=FLAGS.baseline_dir, projector_items=FLAGS.projector_items,
                         **overrides)


def execution_overrides() -> dict:
    """The execution flags the user set, as RunConfig fields."""
    return {name: getattr(FLAGS, name) for name in ("mixed_precision", "jit_compile")
            if getattr(FLAGS, name) is not None}


def stored_or_flag(name: str, stored: dict | None, default_from_flags=None):
    """A resumed run's stored value of ``name`` unless --name was given."""
    if stored is not None and name in stored and not explicit(name):
        return stored[name]
    return getattr(FLAGS, name) if default_from_flags is None else default_from_flags


def default_run_dir(name: str) -> str:
    return os.path.join(WORKSPACE, "runs", f"{name}_{time.strftime('%Y%m%d-%H%M%S')}")


class _QuietTensorFlow(pylogging.Filter):
    """Drop INFO and WARNING records that TensorFlow's and Keras' internals log through
    absl (checkpoint sharding timings, "unsaved custom gradients" on loading an export):
    they drown the progress lines and the one-line errors; their errors still show."""

    def filter(self, record: pylogging.LogRecord) -> bool:
        internal = any(part in record.pathname for part in ("/tensorflow/", "/keras/"))
        return record.levelno >= pylogging.ERROR or not internal


def disk_full_message(error: BaseException) -> str | None:
    """The one-line error for a write that failed on a full disk (None for any other
    error). TF reports it as ResourceExhaustedError, Python as OSError(ENOSPC)."""
    if not ((isinstance(error, OSError) and error.errno == errno.ENOSPC)
            or "No space left on device" in str(error)):
        return None
    return ("no space left on device while writing output; free disk space (or write to "
            "another --model_dir / --output_dir) and run again. Partial files were removed; "
            "a training run's completed checkpoints are intact: continue it with --resume")


_IO_ERRNOS = {errno.EACCES: "permission denied", errno.EROFS: "read-only file system",
              errno.EPERM: "operation not permitted", errno.EDQUOT: "disk quota exceeded"}


def io_error_message(error: BaseException) -> str | None:
    """One line for an output that cannot be written (full disk, read-only or
    unwritable place); None for any other error."""
    full = disk_full_message(error)
    if full is not None:
        return full
    if isinstance(error, OSError) and error.errno in _IO_ERRNOS:
        where = f" {error.filename}" if getattr(error, "filename", None) else ""
        return (f"cannot write{where}: {_IO_ERRNOS[error.errno]}; choose a writable place "
                "(--model_dir / --output_dir / --export_dir / --output)")
    text = str(error)
    for marker, what in (("Read-only file system", "read-only file system"),
                         ("Permission denied", "permission denied")):
        if marker in text and type(error).__module__.startswith("tensorflow"):
            return (f"cannot write output: {what}; choose a writable place "
                    "(--model_dir / --output_dir / --export_dir / --output)")
    return None


def check_output_file(path: str) -> None:
    """An output file path must not name an existing folder."""
    if os.path.isdir(path):
        raise UserError(f"--output={path} is an existing directory; give a file name")


def print_results(title: str, results: dict, path: str) -> None:
    """The final mAP table (map_* keys) with the label prior beside it."""
    table = "\n".join(f"  {k:8s} {v:.4f}" for k, v in sorted(results.items())
                      if k.startswith("map_"))
    print(f"{title}:\n{table}\n  label-prior baseline (random ranking) "
          f"{results['label_prior_map']:.4f}\nresults: {path}")


def final_table(results: dict, path: str) -> str:
    """ssah-train's closing table: the selected checkpoint's test mAPs (what best/ holds,
    and what ssah-eval / ssah-export use) beside the last epoch's, each labelled."""
    selected, last = results["selected_epoch"], results["last_epoch"]
    where = {"validation": f"selected on {results['selection'].get('validation_queries', 0)} "
                           "validation queries",
             "test": "selected on the test queries: optimistic",
             "last": "the last epoch, no selection"}[results["selected_on"]]
    stopped = results.get("stopped") or {}
    why = {"early_stopping": f"; stopped early: no new best for {stopped.get('patience')} "
                             "evaluations",
           "schedule_exhausted": "; the release's learning-rate lists ran out"}.get(
        stopped.get("reason"), "")
    head_a, head_b = f"best/ (epoch {selected})", f"last (epoch {last['epoch']})"
    lines = [f"final evaluation, test queries ({where}{why}):",
             f"  {'':8s} {head_a:>18s} {head_b:>18s}"]
    for key in sorted(k for k in results if k.startswith("map_")):
        lines.append(f"  {key:8s} {results[key]:18.4f} {last.get(key, float('nan')):18.4f}")
    lines.append(f"  label-prior baseline (random ranking) {results['label_prior_map']:.4f}")
    lines.append(f"results: {path}")
    return "\n".join(lines)


# Console-script names of the CLI modules, for `python -m ssah_tf.cli.<module>` runs.
_SCRIPT_NAMES = {"train": "ssah-train", "evaluate": "ssah-eval", "export": "ssah-export",
                 "encode": "ssah-encode", "search": "ssah-search", "baseline": "ssah-baseline",
                 "bench": "ssah-bench", "prepare": "ssah-prepare",
                 "import_release": "ssah-import-release", "table": "ssah-table"}


def tool_name() -> str:
    """The name the user ran: the console script (also under ``python -m``)."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "ssah"
    return _SCRIPT_NAMES.get(name[:-3], name) if name.endswith(".py") else name


def command_line() -> str:
    """The command as run (console script and its arguments), for results records."""
    import shlex

    return " ".join([tool_name()] + [shlex.quote(a) for a in sys.argv[1:]])


def fail(message: str, status: int) -> None:
    """Print ``<tool>: error: message`` on stderr (one line) and exit."""
    print(f"{tool_name()}: error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(status)


# ----------------------------------------------------------------------------- flag rules
def _positive_int(v):
    return v is None or (isinstance(v, int) and v > 0)


def _non_negative_int(v):
    return v is None or (isinstance(v, int) and v >= 0)


def _positive_float(v):
    return v is None or (math.isfinite(v) and v > 0)


def _non_negative_float(v):
    return v is None or (math.isfinite(v) and v >= 0)


def _unit_interval_open_right(v):
    return v is None or (math.isfinite(v) and 0 <= v < 1)


def _unit_interval(v):
    return v is None or (math.isfinite(v) and 0 < v <= 1)


def _positive_int_list(v):
    if v is None:
        return True
    try:
        return all(int(x) > 0 for x in v)
    except (TypeError, ValueError):
        return False


# One table for every tool: a flag with this name gets this rule wherever it exists.
FLAG_RULES: dict[str, tuple[Callable, str]] = {}
for _names, _rule, _text in (
        (("bits", "batch_size", "image_size", "keep_checkpoints", "demo_items", "demo_labels",
          "demo_image_size", "demo_vocab", "epochs", "map_top_k", "hidden_dim", "semantic_dim",
          "num_labels", "text_dim", "query_size", "train_size", "database_size", "top_k",
          "passes_lab", "passes_img", "passes_txt", "passes_dis", "repeats",
          "eval_batch_size", "report_top_k"), _positive_int, "must be a positive integer"),
        (("eval_every", "save_every_passes", "steps_per_loop", "val_size", "min_stage_steps",
          "radius", "split_seed", "seed", "demo_seed", "projector_items",
          "early_stopping_patience"), _non_negative_int,
         "must be a non-negative integer"),
        (("lr_lab", "lr_img", "lr_txt", "lr_dis", "lr_decay", "init_stddev", "adam_epsilon",
          "squares_factor"), _positive_float, "must be a positive finite number"),
        (("checkpoint_interval_seconds", "weight_decay", "weight_feature_pair",
          "weight_hash_pair", "weight_quantization", "weight_label", "weight_adversarial",
          "l2"), _non_negative_float, "must be a finite number >= 0"),
        (("adam_beta1", "adam_beta2"), _unit_interval_open_right, "must be in [0, 1)"),
        (("similarity_value",), _unit_interval, "must be in (0, 1]"),
        (("multiscale_windows", "discriminator_hidden"), _positive_int_list,
         "must be comma-separated positive integers")):
    for _name in _names:
        FLAG_RULES[_name] = (_rule, _text)


def register_flag_rules() -> None:
    """Attach :data:`FLAG_RULES` (absl validators) to every defined flag they name."""
    for name, (rule, text) in FLAG_RULES.items():
        if name in FLAGS and not getattr(FLAGS[name], "_ssah_rule", False):
            flags.register_validator(name, rule, message=text)
            FLAGS[name]._ssah_rule = True


# ----------------------------------------------------------------------------- help
_GROUPS: dict[str, str] = {}


def group_flags(title: str, names) -> None:
    """Show ``names`` under ``title`` in --help."""
    for name in names:
        _GROUPS.setdefault(name, title)


def _help_text(module) -> str:
    doc = (module.__doc__ or "").strip()
    own = [f.name for f in FLAGS.get_flags_for_module(module.__name__)]
    order = [module.__name__.rsplit(".", 1)[-1]]
    groups: dict[str, list[str]] = {order[0]: []}
    for name in own:
        title = _GROUPS.get(name, order[0])
        groups.setdefault(title, []).append(name)
    for name, title in _GROUPS.items():
        if name in FLAGS and name not in own:
            groups.setdefault(title, []).append(name)
    lines = [doc, ""]
    for title, names in groups.items():
        if not names:
            continue
        lines.append(f"{title} flags:" if title != order[0] else f"{tool_name()} flags:")
        for name in names:
            flag = FLAGS[name]
            default = "" if flag.default is None else f" (default: {flag.default_as_str})"
            lines.append(f"  --{name}: {' '.join(flag.help.split())}{default}")
        lines.append("")
    lines.append("--helpfull lists every flag (absl's and TensorFlow's too); --flagfile=FILE "
                 "reads flags from a file.")
    return "\n".join(lines)


def parse_flags(module):
    """absl flag parsing with --help / --helpfull that print and exit 0, and parse
    errors as one ``<tool>: error:`` line with exit status 2."""

    def parser(argv):
        for arg in argv[1:]:
            if arg in ("--help", "-h", "-?", "--helpshort"):
                print(_help_text(module))
                sys.exit(0)
            if arg == "--helpfull":
                print((module.__doc__ or "").strip() + "\n\n" + FLAGS.get_help())
                sys.exit(0)
        try:
            return FLAGS(argv)
        except flags.Error as error:
            # absl shows list flags parsed (['16', '0']); show them as the user typed them.
            message = re.sub(r"=\[((?:'[^']*'(?:, )?)*)\]",
                             lambda m: "=" + ",".join(re.findall(r"'([^']*)'", m.group(1))),
                             str(error))
            fail(f"{message}; see --help", 2)

    return parser


def run_main(main: Callable[[list[str]], int | None], module=None) -> None:
    """absl ``app.run`` with user errors as one line on stderr and exit status 2,
    output that cannot be written (full disk, read-only or unwritable place) as one
    line with status 1, Ctrl-C as one line with status 130; every option is a --flag,
    so positional arguments are rejected here for all tools."""
    module = module or sys.modules[main.__module__]
    register_flag_rules()

    def wrapped(argv):
        import tensorflow as tf

        # TF's own INFO lines (checkpoint sharding timings, logged through absl) drown
        # the progress lines.
        tf.get_logger().setLevel("WARNING")
        logging.get_absl_handler().addFilter(_QuietTensorFlow())
        try:
            if len(argv) > 1:
                raise UserError(f"unexpected arguments {argv[1:]}; all options are --flags")
            return main(argv)
        except UserError as error:
            if FLAGS.verbosity >= 1:
                raise
            fail(str(error), 2)
        except KeyboardInterrupt:
            fail("interrupted (Ctrl-C); nothing half-written was left behind", 130)
        except Exception as error:  # noqa: BLE001 — only I/O failures become one line
            message = io_error_message(error)
            if message is None or FLAGS.verbosity >= 1:
                raise
            fail(message, 1)

    app.run(wrapped, flags_parser=parse_flags(module))
    logging.flush()


def entry_point(main: Callable[[list[str]], int | None]) -> Callable[[], None]:
    """The console-script function of a CLI module: ``run = entry_point(main)``."""
    return lambda: run_main(main)
