"""Where a command may write: never over what it was given, never into a run's records.

Every tool that writes a file or folder asks here first. The rules (README, "When
something goes wrong"):

- an output path that is one of the inputs (the same file, however it is spelled:
  relative, absolute, through a link) is refused;
- an evaluation's folder is its own: not a run directory, not a run's own record
  folders (``checkpoints/``, ``best/``, ``eval/``, ``tensorboard/``, ...), and not a
  folder holding another run's or another evaluation's results.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from ssah_tf.errors import UserError

# Files only a run directory holds (ssah-train's config.json; a results.json with a
# "setup" record is ssah-train's or ssah-baseline's own).
RUN_CONFIG = "config.json"
RESULTS = "results.json"


def _same(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def refuse_output_over_inputs(
    output: str, *, output_name: str, inputs: Mapping[str, str | None]
) -> None:
    """UserError when ``output`` names the same file or folder as one of ``inputs``
    (name -> path; names are the flags or arguments the caller was given)."""
    for name, path in inputs.items():
        if path and _same(output, path):
            raise UserError(
                f"{output_name}={output} is the same path as {name}={path}: writing it would "
                f"destroy the input; choose another {output_name}"
            )


def _results(folder: str) -> dict | None:
    path = os.path.join(folder, RESULTS)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def is_run_directory(folder: str) -> bool:
    """A folder ssah-train or ssah-baseline wrote its records into."""
    if os.path.isfile(os.path.join(folder, RUN_CONFIG)):
        return True
    record = _results(folder)
    return record is not None and "setup" in record


def _enclosing_run(folder: str) -> str | None:
    path = os.path.realpath(folder)
    while True:
        if os.path.isdir(path) and is_run_directory(path):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def check_evaluation_folder(
    output_dir: str, *, output_name: str, source: str | None = None, run_dir: str | None = None
) -> None:
    """Refuse an evaluation output folder that would overwrite a run's own records or
    another evaluation's results. ``source`` is the file this evaluation measures;
    ``run_dir`` the run it evaluates, whose ``eval_*`` folders are its own to replace."""
    enclosing = _enclosing_run(output_dir)
    real = os.path.realpath(output_dir)
    if enclosing == real:
        raise UserError(
            f"{output_name}={output_dir} is a run directory: its results.json and config.json "
            "are the run's own records; leave the flag out (an evaluation of a run writes "
            "<run>/eval_<checkpoint>) or choose a folder of its own"
        )
    if enclosing is not None:
        first = os.path.relpath(real, enclosing).split(os.sep)[0]
        if not first.startswith("eval_") and os.path.exists(os.path.join(enclosing, first)):
            raise UserError(
                f"{output_name}={output_dir} is inside {os.path.join(enclosing, first)}, part "
                f"of the run {enclosing}'s own records; write an evaluation to "
                "<run>/eval_<name> or a folder of its own"
            )
        if run_dir is not None and enclosing == os.path.realpath(run_dir):
            return  # the evaluated run's own eval_* folder: a re-evaluation replaces it
    record = _results(output_dir)
    if record is None:
        return
    previous = record.get("source")
    if not (previous and source and _same(str(previous), source)):
        raise UserError(
            f"{output_name}={output_dir} already holds the results of "
            f"{previous or 'something else (no source recorded)'}; choose another folder "
            "or remove that one first"
        )
