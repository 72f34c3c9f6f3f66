"""ssah-bench: time the release's MIRFLICKR configuration on this machine.

  ssah-bench --output=bench.json        # full sizes: a few minutes on 2 CPU cores
  ssah-bench --quick --output=q.json    # tiny sizes: checks that everything runs

Writes the JSON and a Markdown table next to it (``.md``) comparing each figure
with the original TF1 release's and the project's targets.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from absl import flags, logging

from ssah_tf.cli import common, tool
from ssah_tf.errors import UserError
from ssah_tf.workspace import WORKSPACE

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "output",
    None,
    "Results JSON (default: workspace/bench/bench_<time>.json); "
    "the Markdown table goes next to it with the .md extension.",
)
flags.DEFINE_bool(
    "quick", False, "Tiny sizes, one repeat: checks the suite runs (figures meaningless)."
)
flags.DEFINE_bool(
    "scale",
    False,
    "Instead of the suite: how evaluation (encode + mAP@all) and exact search cost grow "
    "with the database (10k -> 1M items, 1M -> 10M codes), with growth exponents, peak "
    "RSS and this machine's popcount and memory-bandwidth reference.",
)
flags.DEFINE_integer("repeats", None, "Timed repeats per measurement (median; default 3, quick 1).")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the networks' forward passes.")
flags.DEFINE_string(
    "workdir",
    None,
    "Scratch folder for the random CNN-F file, or with --scale the training runs' data and "
    "runs (kept; default: a system temp folder, removed after).",
)


def main(argv):
    # Imported here, not at the top: --help and flag errors answer before TensorFlow starts.
    from ssah_tf.atomic import write_atomic
    from ssah_tf.bench.suite import BenchConfig, markdown_table, run_benchmarks

    if FLAGS.output:
        common.check_output_file(FLAGS.output)
        common.check_output_file(os.path.splitext(FLAGS.output)[0] + ".md")
    if FLAGS.workdir and not os.path.isdir(FLAGS.workdir):
        raise UserError(f"--workdir {FLAGS.workdir} is not a folder; create it or omit the flag")
    overrides = {"jit_compile": FLAGS.jit_compile}
    if FLAGS.repeats is not None:
        overrides["repeats"] = FLAGS.repeats
    kind = "scale" if FLAGS.scale else "bench"
    output = FLAGS.output or os.path.join(
        WORKSPACE, "bench", f"{kind}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    markdown = os.path.splitext(output)[0] + ".md"
    start = time.perf_counter()
    if FLAGS.scale:
        from ssah_tf.bench.scale import ScaleConfig, run_scale, scale_table

        scale_overrides = {} if FLAGS.repeats is None else {"repeats": FLAGS.repeats}
        scale = (
            ScaleConfig.quick(**scale_overrides) if FLAGS.quick else ScaleConfig(**scale_overrides)
        )
        if FLAGS.workdir:
            results = run_scale(scale, workdir=FLAGS.workdir, log=logging.info)
        else:
            with tempfile.TemporaryDirectory(prefix="ssah-scale-") as workdir:
                results = run_scale(scale, workdir=workdir, log=logging.info)
        table = scale_table(results)
    else:
        config = BenchConfig.quick(**overrides) if FLAGS.quick else BenchConfig(**overrides)
        results = run_benchmarks(config, workdir=FLAGS.workdir, log=logging.info)
        table = markdown_table(results)
    results["total_s"] = time.perf_counter() - start
    write_atomic(output, lambda f: json.dump(results, f, indent=2))
    write_atomic(markdown, lambda f: f.write(table))
    print(table)
    print(f"wrote {output} and {markdown}")
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
