"""ssah-eval: evaluate a trained run, or a code file in the original release's layout.

  ssah-eval --model_dir=RUN [--checkpoint=best|latest|PATH] [--write_codes]
  ssah-eval --codes=FILE.mat --output_dir=DIR

Writes <output_dir>/results.json (map_i2t, map_t2i, map_i2i, map_t2t, map_l2i,
map_l2t as available: mAP@all; map_<d>@<k> for --map_variant with --map_top_k; the
tie-aware mAP@all map_tie_aware_<d>; precision within radius 2; the protocol),
curves as CSV (precision-recall by Hamming radius, precision@N) and, with
matplotlib installed (the ``plot`` extra), PNG plots.
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags, logging

from ssah_tf.atomic import staged_output
from ssah_tf.cli import common
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
common.define_execution_flags()
flags.DEFINE_string("model_dir", None, "A training run directory to evaluate.")
flags.DEFINE_string("checkpoint", "best", "best, latest, or a checkpoint path (with --model_dir).")
flags.DEFINE_string("codes", None, "A code file in the release's layout (Qi, Qt, Di, Dt, "
                    "query_L, retrieval_L) to evaluate instead of a model.")
flags.DEFINE_string("output_dir", None, "Where results go (default: <model_dir>/eval_<checkpoint>).")
common.define_map_flags("Also report the --map_variant figure with this k (alone: mAP@k, "
                        "top_k) under map_<direction>@<k>.")
flags.DEFINE_bool("write_codes", False, "Also write our codes as codes.mat in the release's layout.")


def main(argv):
    from ssah_tf.config import check_map_variant
    from ssah_tf.evaluation.codes import evaluate_codes, read_code_file, write_code_file, write_curves
    from ssah_tf.evaluation.protocol import protocol_record
    from ssah_tf.training.summaries import SummaryWriter, write_json_atomic

    check_map_variant(FLAGS.map_variant, FLAGS.map_top_k)
    if bool(FLAGS.codes) == bool(FLAGS.model_dir):
        raise UserError("give exactly one of --codes=FILE.mat or --model_dir=RUN")
    if FLAGS.output_dir and os.path.exists(FLAGS.output_dir) and not os.path.isdir(FLAGS.output_dir):
        raise UserError(f"--output_dir={FLAGS.output_dir} is an existing file; choose a folder")
    if FLAGS.codes:
        if not FLAGS.output_dir:
            raise UserError("--codes needs --output_dir")
        codes = read_code_file(FLAGS.codes)
        source = os.path.abspath(FLAGS.codes)
        output_dir = FLAGS.output_dir
        bits = next(v.shape[1] for k, v in codes.items() if k[0] in "QD" and k != "Ql")
        protocol = protocol_record(
            map_variant=FLAGS.map_variant, top_k=FLAGS.map_top_k, selected_on=None,
            counts={"queries": len(codes["query_L"]), "database": len(codes["retrieval_L"])},
            bits=bits, seed=None)
    else:
        from ssah_tf.training.runs import load_run

        run = load_run(FLAGS.model_dir, FLAGS.checkpoint, **common.execution_overrides())
        source = run.checkpoint
        query, database = np.asarray(run.split.query), np.asarray(run.split.database)
        evaluator = run.evaluator
        codes = {"query_L": run.data.labels[query], "retrieval_L": run.data.labels[database],
                 "Ql": evaluator.codes(query, "label")}
        for modality, key in (("image", "i"), ("text", "t")):
            if modality in evaluator.modalities:
                codes[f"Q{key}"] = evaluator.codes(query, modality)
                codes[f"D{key}"] = evaluator.codes(database, modality)
        output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, f"eval_{FLAGS.checkpoint}")
        # best/ holds the run's selected checkpoint; any other is no selection of ours.
        selected_on = run.config.run.select_on if FLAGS.checkpoint == "best" else None
        protocol = protocol_record(map_variant=FLAGS.map_variant, top_k=FLAGS.map_top_k,
                                   selected_on=selected_on, split=run.split,
                                   bits=run.config.ssah.network.bits, seed=run.config.run.seed)
    results, curves = evaluate_codes(codes, map_variant=FLAGS.map_variant, top_k=FLAGS.map_top_k)
    with staged_output(output_dir) as staging:  # all files or none
        write_json_atomic(os.path.join(staging, "results.json"),
                          {**results, "source": source, "protocol": protocol})
        written = write_curves(staging, curves)
        if FLAGS.write_codes and not FLAGS.codes:
            write_code_file(os.path.join(staging, "codes.mat"),
                            {k: v for k, v in codes.items() if k != "Ql"})
        writer = SummaryWriter(os.path.join(staging, "tensorboard"))
        writer.scalars({f"eval/{k}": v for k, v in results.items()}, step=0)
        writer.flush()
        writer.writer.close()
    logging.info("wrote %d curve files", len(written))
    print("\n".join(f"  {k:18s} {v:.4f}" for k, v in sorted(results.items())))
    print(f"results: {os.path.join(output_dir, 'results.json')}")
    return 0


run = common.entry_point(main)


if __name__ == "__main__":
    run()
