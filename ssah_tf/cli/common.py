"""Flags shared by the CLIs, their conversion to frozen configs, and error handling.

Library modules are imported inside the functions that use them: every tool defines
its flags from this module, and --help and flag errors answer before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
import errno
import logging as pylogging
import os
import re
import sys
from collections.abc import Callable

from absl import app, flags, logging

from ssah_tf.config import PRESETS, make_config, preset_fields
from ssah_tf.data.text_files import read_text_lines
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
        FLAGS[name]._ssah_field = (cls, field)
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
    if not (
        (isinstance(error, OSError) and error.errno == errno.ENOSPC)
        or "No space left on device" in str(error)
    ):
        return None
    return (
        "no space left on device while writing output; free disk space (or write to "
        "another --model_dir / --output_dir) and run again. Partial files were removed; "
        "a training run's completed checkpoints are intact: continue it with --resume"
    )


_IO_ERRNOS = {
    errno.EACCES: "permission denied",
    errno.EROFS: "read-only file system",
    errno.EPERM: "operation not permitted",
    errno.EDQUOT: "disk quota exceeded",
}


def io_error_message(error: BaseException) -> str | None:
    """One line for an output that cannot be written (full disk, read-only or
    unwritable place); None for any other error."""
    full = disk_full_message(error)
    if full is not None:
        return full
    if isinstance(error, OSError) and error.errno in _IO_ERRNOS:
        where = f" {error.filename}" if getattr(error, "filename", None) else ""
        return (
            f"cannot write{where}: {_IO_ERRNOS[error.errno]}; choose a writable place "
            "(--model_dir / --output_dir / --export_dir / --output)"
        )
    text = str(error)
    for marker, what in (
        ("Read-only file system", "read-only file system"),
        ("Permission denied", "permission denied"),
    ):
        if marker in text and type(error).__module__.startswith("tensorflow"):
            return (
                f"cannot write output: {what}; choose a writable place "
                "(--model_dir / --output_dir / --export_dir / --output)"
            )
    return None


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


# Console-script names of the CLI modules, for `python -m ssah_tf.cli.<module>` runs.
_SCRIPT_NAMES = {
    "train": "ssah-train",
    "evaluate": "ssah-eval",
    "export": "ssah-export",
    "encode": "ssah-encode",
    "search": "ssah-search",
    "baseline": "ssah-baseline",
    "bench": "ssah-bench",
    "prepare": "ssah-prepare",
    "import_release": "ssah-import-release",
    "table": "ssah-table",
}


def tool_name() -> str:
    """The name the user ran: the console script (also under ``python -m``)."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "ssah"
    return _SCRIPT_NAMES.get(name[:-3], name) if name.endswith(".py") else name


def command_line() -> str:
    """The command as run (console script and its arguments), for results records."""
    import shlex

    return " ".join([tool_name()] + [shlex.quote(a) for a in sys.argv[1:]])


def flag_text(message: str) -> str:
    """A library message with its backticked fields as this tool's flags."""
    from ssah_tf.errors import as_flags

    return as_flags(str(message), lambda name: name in FLAGS)


def fail(message: str, status: int) -> None:
    """Print ``<tool>: error: message`` on stderr (one line, fields as flags) and exit."""
    print(f"{tool_name()}: error: {' '.join(flag_text(message).split())}", file=sys.stderr)
    sys.exit(status)


class _FieldsAsFlags(pylogging.Filter):
    """Log lines (warnings of the library) name fields as this tool's flags."""

    def filter(self, record: pylogging.LogRecord) -> bool:
        if "`" in str(record.msg) or any("`" in str(a) for a in (record.args or ())):
            record.msg, record.args = flag_text(record.getMessage()), ()
        return True


# ----------------------------------------------------------------------------- flag rules
# Flags that are not configuration fields (those check themselves when built,
# fields.check_fields), with the rule of fields.RULES each must follow.
FLAG_RULES: dict[str, str] = {
    **{name: "positive_int" for name in ("bits", "map_top_k", "top_k", "repeats", "report_top_k")},
    **{name: "non_negative_int" for name in ("radius", "seed", "projector_items", "val_size")},
    "l2": "non_negative",
}


def register_flag_rules() -> None:
    """Attach :data:`FLAG_RULES` (absl validators) to the defined flags they name that
    are not configuration fields."""
    from ssah_tf.fields import RULES

    for name, rule in FLAG_RULES.items():
        if (
            name in FLAGS
            and not hasattr(FLAGS[name], "_ssah_field")
            and not getattr(FLAGS[name], "_ssah_rule", False)
        ):
            check, text = RULES[rule]
            flags.register_validator(
                name, lambda v, check=check: v is None or check(v), message=text
            )
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
    lines.append(
        "--helpfull lists every flag (absl's and TensorFlow's too); --flagfile=FILE "
        "reads flags from a file."
    )
    return "\n".join(lines)


def _flag_files(arguments: list[str], seen: set[str] | None = None) -> list[str]:
    """The --flagfile files among ``arguments``, and those they name in turn."""
    seen = set() if seen is None else seen
    found = []
    for index, argument in enumerate(arguments):
        path = None
        if argument.startswith("--flagfile="):
            path = argument.split("=", 1)[1]
        elif argument == "--flagfile" and index + 1 < len(arguments):
            path = arguments[index + 1]
        if path and path not in seen and os.path.isfile(path):
            seen.add(path)
            found.append(path)
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    inner = [line.strip() for line in f]
            except OSError:
                continue
            found += _flag_files(inner, seen)
    return found


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
        except UnicodeDecodeError:
            # absl reads flag files itself; name the file, line and column it choked on.
            for path in _flag_files(argv[1:]):
                try:
                    read_text_lines(path)
                except UserError as error:
                    fail(str(error), 2)
            fail("a flag file is not UTF-8; save it as UTF-8", 2)
        except flags.Error as error:
            # absl shows list flags parsed (['16', '0']); show them as the user typed them.
            message = re.sub(
                r"=\[((?:'[^']*'(?:, )?)*)\]",
                lambda m: "=" + ",".join(re.findall(r"'([^']*)'", m.group(1))),
                str(error),
            )
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
        # TF's own INFO lines (checkpoint sharding timings, logged through absl) drown
        # the progress lines. Its Python logger is set by name: TensorFlow itself starts
        # only when a tool needs it, so flag and input errors answer without its start-up.
        pylogging.getLogger("tensorflow").setLevel("WARNING")
        logging.get_absl_handler().addFilter(_QuietTensorFlow())
        logging.get_absl_handler().addFilter(_FieldsAsFlags())
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
        except Exception as error:  # only I/O failures become one line
            message = io_error_message(error)
            if message is None or FLAGS.verbosity >= 1:
                raise
            fail(message, 1)

    app.run(wrapped, flags_parser=parse_flags(module))
    logging.flush()


def entry_point(main: Callable[[list[str]], int | None]) -> Callable[[], None]:
    """The console-script function of a CLI module: ``run = entry_point(main)``."""
    return lambda: run_main(main)
