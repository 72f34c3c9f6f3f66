"""What every tool shares when it runs: its name, flag parsing with --help that lists its
own flags by group, UTF-8 flag files named when they are not, and ``run_main``: a user
error as one line with exit status 2, an output that cannot be written as one line with
status 1, Ctrl-C as one line with status 130.
"""

from __future__ import annotations

import errno
import logging as pylogging
import os
import re
import sys
from collections.abc import Callable

from absl import app, flags, logging

from ssah_tf.cli import quiet_start
from ssah_tf.data.text_files import read_text_lines
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS


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


# Flags defined from configuration fields (checked by fields.check_fields, not here),
# and the flags register_flag_rules has already given a validator.
CONFIG_FIELD_FLAGS: set[str] = set()
_RULED_FLAGS: set[str] = set()


def register_flag_rules() -> None:
    """Attach :data:`FLAG_RULES` (absl validators) to the defined flags they name that
    are not configuration fields."""
    from ssah_tf.fields import RULES

    for name, rule in FLAG_RULES.items():
        if name in FLAGS and name not in CONFIG_FIELD_FLAGS | _RULED_FLAGS:
            check, text = RULES[rule]
            flags.register_validator(
                name, lambda v, check=check: v is None or check(v), message=text
            )
            _RULED_FLAGS.add(name)


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
    # The shared flags this tool defined through common.py but no group names.
    listed = {name for names in groups.values() for name in names}
    for flag in FLAGS.get_flags_for_module("ssah_tf.cli.common"):
        if flag.name not in listed:
            groups.setdefault("shared", []).append(flag.name)
            listed.add(flag.name)
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
        if FLAGS.verbosity < 1:
            quiet_start.install()  # TensorFlow's C++ start-up lines, when it starts
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
