"""ssah-table: result tables from run directories, mean ± std over seeds, the baseline
beside every SSAH row and the protocol in each caption.

  ssah-table --runs='workspace/runs/mfeat_*' --output=experiments/tables/mfeat
  ssah-table --runs='workspace/runs/*' --paper=experiments/tables/paper_ssah.csv

Groups ssah-train and ssah-baseline runs by data set, split (the SHA-256 of its
indices), mAP variant, code length, method and preset; runs that differ only in the
seed share a cell. Runs with different protocols or splits are never averaged: the
tool refuses in one line. Writes <output>.md and <output>.csv (and prints the
Markdown); with --paper, the paper's table layout with our figures beside its own.
"""

from __future__ import annotations

import glob
import os

from absl import flags

from ssah_tf.cli import common, tool
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "runs",
    None,
    "Run directories (or results.json files), glob patterns "
    "allowed: ssah-train and ssah-baseline runs of every seed.",
)
flags.DEFINE_string("output", None, "Write <output>.md and <output>.csv (default: print only).")
flags.DEFINE_string(
    "paper",
    None,
    "A CSV of published figures (dataset, backbone, bits, "
    "direction, map; e.g. experiments/tables/paper_ssah.csv): adds the paper's "
    "table layout with our figures beside them.",
)


def expand(patterns: list[str]) -> list[str]:
    """Each pattern's matches (a path that matches nothing is kept, to be named)."""
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        paths.extend(matches or [pattern])
    return [
        p
        for p in dict.fromkeys(paths)
        if not os.path.isdir(p) or os.path.isfile(os.path.join(p, "results.json")) or p in patterns
    ]


def main(argv):
    # Imported here, not at the top: --help and flag errors answer before TensorFlow starts.
    from ssah_tf.atomic import write_atomic
    from ssah_tf.evaluation.table_text import (
        csv_text,
        markdown,
        paper_markdown,
        read_paper_table,
    )
    from ssah_tf.evaluation.tables import build_tables, group_rows, read_run

    if not FLAGS.runs:
        raise UserError("--runs is required (run directories or glob patterns)")
    paper = read_paper_table(FLAGS.paper) if FLAGS.paper else None
    if FLAGS.output:
        for suffix in (".md", ".csv"):
            common.check_output_file(FLAGS.output + suffix, inputs={"--paper": FLAGS.paper})
    rows = group_rows(read_run(path) for path in expand(FLAGS.runs))
    text = markdown(build_tables(rows))
    if paper is not None:
        text += "\n**The paper's table**\n\n" + paper_markdown(paper, rows)
    if FLAGS.output:
        write_atomic(FLAGS.output + ".md", lambda f: f.write(text))
        write_atomic(FLAGS.output + ".csv", lambda f: f.write(csv_text(build_tables(rows))))
    print(text, end="")
    if FLAGS.output:
        print(f"tables: {FLAGS.output}.md, {FLAGS.output}.csv")
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
