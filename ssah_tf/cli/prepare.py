"""ssah-prepare: write a TFDS copy (TFRecord/array_record) of a dataset from your files.

  ssah-prepare --dataset=mirflickr25k --manual_dir=workspace/data/mirflickr25k

Images then stream from disk during training (ssah-train --data_dir=...).
"""

from __future__ import annotations

from absl import flags

from ssah_tf.cli import common
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", None, ["mirflickr25k", "nus_wide", "ms_coco"], "Dataset to prepare.")
flags.DEFINE_string("manual_dir", None, "Folder with your files (see data/README.md).")
flags.DEFINE_string("data_dir", "workspace/tfds", "Where TFDS data is written.")
flags.DEFINE_integer("split_seed", 0, "Seed of the protocol split written as query/train/database.")


def main(argv):
    if not FLAGS.dataset or not FLAGS.manual_dir:
        raise UserError("--dataset and --manual_dir are required")
    # Imported here, not at the top: --help and flag errors answer before TensorFlow starts.
    from ssah_tf.data.tfds_builders import prepare

    path = prepare(
        FLAGS.dataset,
        manual_dir=FLAGS.manual_dir,
        data_dir=FLAGS.data_dir,
        split_seed=FLAGS.split_seed,
    )
    print(
        f"prepared {FLAGS.dataset} at {path}; train with --dataset={FLAGS.dataset} "
        f"--data_dir={FLAGS.data_dir} --split_seed={FLAGS.split_seed}"
    )
    return 0


run = common.entry_point(main)


if __name__ == "__main__":
    run()
