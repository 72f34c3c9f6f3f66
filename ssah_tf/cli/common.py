"""Flags shared by the CLIs, their conversion to frozen configs, and error handling."""

from __future__ import annotations

import dataclasses
import errno
import logging as pylogging
import os
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
    for name, (section, field) in preset_fields().items():
        help_text = f"[{section}] override of the preset's {name}"
        kind = _field_kind(field)
        if name == "bits":
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
    """Drop INFO records that TensorFlow's internals log through absl."""

    def filter(self, record: pylogging.LogRecord) -> bool:
        return record.levelno > pylogging.INFO or "tensorflow" not in record.pathname


def disk_full_message(error: BaseException) -> str | None:
    """The one-line error for a write that failed on a full disk (None for any other
    error). TF reports it as ResourceExhaustedError, Python as OSError(ENOSPC)."""
    if not ((isinstance(error, OSError) and error.errno == errno.ENOSPC)
            or "No space left on device" in str(error)):
        return None
    return ("no space left on device while writing output; free disk space (or write to "
            "another --model_dir / --output_dir) and run again. Partial files were removed; "
            "a training run's completed checkpoints are intact: continue it with --resume")


def run_main(main: Callable[[list[str]], int | None]) -> None:
    """absl ``app.run`` with user errors as one line on stderr and exit status 2;
    every option is a --flag, so positional arguments are rejected here for all tools."""

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
            print(f"{os.path.basename(sys.argv[0])}: error: {error}", file=sys.stderr)
            sys.exit(2)
        except Exception as error:  # noqa: BLE001 — only a full disk is turned into one line
            message = disk_full_message(error)
            if message is None or FLAGS.verbosity >= 1:
                raise
            print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
            sys.exit(1)

    app.run(wrapped)
    logging.flush()


def entry_point(main: Callable[[list[str]], int | None]) -> Callable[[], None]:
    """The console-script function of a CLI module: ``run = entry_point(main)``."""
    return lambda: run_main(main)
