"""ssah-eval: evaluate a trained run, or a code file in the original release's layout.

  ssah-eval --model_dir=RUN [--checkpoint=best|latest|PATH] [--write_codes] [--report]
  ssah-eval --codes=FILE.mat --output_dir=DIR [--report]

Writes <output_dir>/results.json (map_i2t, map_t2i, map_i2i, map_t2t, map_l2i,
map_l2t as available: mAP@all; map_<d>@<k> for --map_variant with --map_top_k; the
tie-aware mAP@all map_tie_aware_<d>; precision within radius 2; the label prior; the
protocol), curves as CSV (precision-recall by Hamming radius, precision@N), PNG plots
with matplotlib installed (the ``plot`` extra), TensorBoard scalars and Embedding
Projector files (tensorboard/), and with --report a retrieval report
(report/index.html) that opens in a browser from disk.
"""

from __future__ import annotations

import os

from absl import flags

from ssah_tf.cli import common, tool
from ssah_tf.errors import UserError
from ssah_tf.output_paths import check_evaluation_folder, refuse_output_over_inputs

FLAGS = flags.FLAGS
common.define_execution_flags()
flags.DEFINE_string("model_dir", None, "A training run directory to evaluate.")
common.define_allow_data_change()
flags.DEFINE_string("checkpoint", "best", "best, latest, or a checkpoint path (with --model_dir).")
flags.DEFINE_string(
    "codes",
    None,
    "A code file in the release's layout (Qi, Qt, Di, Dt, "
    "query_L, retrieval_L) to evaluate instead of a model.",
)
flags.DEFINE_string(
    "output_dir", None, "Where results go (default: <model_dir>/eval_<checkpoint>)."
)
common.define_map_flags(
    "Also report the --map_variant figure with this k (alone: mAP@k, "
    "top_k) under map_<direction>@<k>."
)
flags.DEFINE_bool(
    "write_codes", False, "Also write our codes as codes.mat in the release's layout."
)
common.define_report_flags()


def main(argv):
    # Imported here, not at the top: --help and flag errors answer before TensorFlow starts.
    from ssah_tf.config import check_map_variant

    check_map_variant(FLAGS.map_variant, FLAGS.map_top_k)
    if bool(FLAGS.codes) == bool(FLAGS.model_dir):
        raise UserError("give exactly one of --codes=FILE.mat or --model_dir=RUN")
    if (
        FLAGS.output_dir
        and os.path.exists(FLAGS.output_dir)
        and not os.path.isdir(FLAGS.output_dir)
    ):
        raise UserError(f"--output_dir={FLAGS.output_dir} is an existing file; choose a folder")
    if FLAGS.codes and not FLAGS.output_dir:
        raise UserError("--codes needs --output_dir")
    checkpoint_name = os.path.basename(os.path.normpath(FLAGS.checkpoint))
    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, f"eval_{checkpoint_name}")
    refuse_output_over_inputs(
        output_dir,
        output_name="--output_dir",
        inputs={"--codes": FLAGS.codes, "--baseline_dir": FLAGS.baseline_dir},
    )
    check_evaluation_folder(
        output_dir,
        output_name="--output_dir",
        source=os.path.abspath(FLAGS.codes) if FLAGS.codes else None,
        run_dir=FLAGS.model_dir,
    )
    options = common.output_options(write_codes=FLAGS.write_codes)
    from ssah_tf.evaluation.codes import read_code_file
    from ssah_tf.evaluation.outputs import evaluate_code_file, evaluate_loaded_run

    if FLAGS.codes:
        results = evaluate_code_file(
            read_code_file(FLAGS.codes), os.path.abspath(FLAGS.codes), output_dir, options
        )
    else:
        from ssah_tf.training.runs import open_run

        run = open_run(
            FLAGS.model_dir,
            FLAGS.checkpoint,
            allow_data_change=FLAGS.allow_data_change,
            **common.execution_overrides(),
        )
        results = evaluate_loaded_run(run, output_dir, options, checkpoint_name=FLAGS.checkpoint)
    print(
        "\n".join(f"  {k:18s} {v:.4f}" for k, v in sorted(results.items()) if isinstance(v, float))
    )
    print(f"results: {os.path.join(output_dir, 'results.json')}")
    if FLAGS.report:
        print(f"report: {os.path.join(output_dir, 'report', 'index.html')}")
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
