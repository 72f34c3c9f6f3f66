"""ssah-baseline: a simple supervised hashing baseline on the same data and split as
ssah-train, so every SSAH result has a number to beat.

  ssah-baseline --dataset=mfeat --data_path=../shared/data/mfeat --bits=32 --model_dir=DIR

Per modality an L2-regularised linear classifier (softmax for single-label data,
logistic per label for multi-label) on training-split-standardised inputs (image
features, or pictures as flattened pixels at --image_size; 0/1 tags as they are),
codes sign((P - training prior) R), R ~ N(0, 1) [classes, bits]
from --seed; label queries sign((L - prior) R). Writes DIR/results.json with the
same map_* keys as ssah-train, and DIR/split.npz.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags, logging

from ssah_tf.cli import common, tool
from ssah_tf.errors import UserError
from ssah_tf.workspace import default_run_dir

FLAGS = flags.FLAGS
common.define_data_flags()
flags.DEFINE_integer("bits", 16, "Code length K in bits.")
flags.DEFINE_integer("seed", 0, "Seed of the projection R (and of the l2 hold-out).")
flags.DEFINE_integer(
    "image_size",
    32,
    "Pictures are read as flattened pixels at this side (ssah-train's mlp backbone default).",
)
flags.DEFINE_float(
    "l2",
    None,
    "L2 penalty of the classifiers (default: chosen per modality "
    "from 1e-4 ... 1 on a held-out 20 % of the training items).",
)
common.define_map_flags("The k of --map_variant (alone: mAP@k, top_k), under map_<direction>@<k>.")
flags.DEFINE_integer(
    "val_size",
    None,
    "Validation queries, drawn as ssah-train draws them (the "
    "same default and --split_seed, so both train on the same items and both "
    "report validation mAPs); 0: none.",
)
flags.DEFINE_string(
    "model_dir", None, "Output folder (default: workspace/runs/<dataset>_baseline_<bits>b_<time>)."
)


def main(argv):
    from ssah_tf.config import check_map_variant

    check_map_variant(FLAGS.map_variant, FLAGS.map_top_k)
    # Imported here, after the flag checks: they answer before TensorFlow starts.
    from ssah_tf.data import load_dataset, resolve_split, save_split
    from ssah_tf.data.protocols import resolve_validation
    from ssah_tf.data.registry import data_label, split_path
    from ssah_tf.evaluation.baselines import run_baseline
    from ssah_tf.evaluation.protocol import protocol_record
    from ssah_tf.training.summaries import write_json_atomic

    data_config = common.data_settings()
    data = load_dataset(data_config)
    split = resolve_validation(
        resolve_split(data, data_config), FLAGS.val_size, seed=FLAGS.split_seed
    )
    model_dir = FLAGS.model_dir or default_run_dir(f"{data.name}_baseline_{FLAGS.bits}b")
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise UserError(f"--model_dir={model_dir} is an existing file; choose a folder")
    if os.path.isfile(os.path.join(model_dir, "config.json")):
        raise UserError(
            f"--model_dir={model_dir} is an ssah-train run: its results.json is the run's "
            "own record; choose another folder for the baseline"
        )
    logging.info("%s; split: %s", data.summary(), split.sizes())
    results = run_baseline(
        data,
        split,
        bits=FLAGS.bits,
        seed=FLAGS.seed,
        l2=FLAGS.l2,
        map_variant=FLAGS.map_variant,
        top_k=FLAGS.map_top_k,
        image_size=FLAGS.image_size,
    )
    results.update(
        bits=FLAGS.bits,
        seed=FLAGS.seed,
        data=dataclasses.asdict(data_config),
        setup={
            "method": "ssah-baseline",
            "dataset": data.name,
            "preset": None,
            "data": data_label(data_config.dataset, data_config.data_path),
            "command": tool.command_line(),
        },
        protocol=protocol_record(
            map_variant=FLAGS.map_variant,
            top_k=FLAGS.map_top_k,
            selected_on=None,
            split=split,
            bits=FLAGS.bits,
            seed=FLAGS.seed,
        ),
    )
    save_split(split, split_path(model_dir))
    write_json_atomic(os.path.join(model_dir, "results.json"), results)
    common.print_results(
        f"baseline ({FLAGS.bits} bits)", results, os.path.join(model_dir, "results.json")
    )
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
