"""ssah-import-release: convert an original-release checkpoint to this project's format.

  ssah-import-release --checkpoint=checkpoint/Flickr_16/SSAH-0 --cnnf=imagenet-vgg-f.mat \
      --bits=16 --num_labels=24 --text_dim=1386 --output_dir=workspace/imported/flickr16

The output checkpoint holds the networks under the same names a training run
uses, so ``ssah-train --init_from=DIR`` (and evaluation/encoding) can start from it.
"""

from __future__ import annotations

import json
import os

from absl import flags, logging

from ssah_tf.atomic import staged_directory
from ssah_tf.cli import tool
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Release checkpoint prefix, e.g. .../Flickr_16/SSAH-12.")
flags.DEFINE_string("cnnf", None, "The imagenet-vgg-f.mat the release model was built from.")
flags.DEFINE_integer("bits", None, "Code length K of the release model.")
flags.DEFINE_integer("num_labels", None, "Number of labels c.")
flags.DEFINE_integer("text_dim", None, "Text dimension d_t.")
flags.DEFINE_string("output_dir", None, "Where to write the converted checkpoint (must not exist).")


def main(argv):
    missing = [
        name
        for name in ("checkpoint", "cnnf", "bits", "num_labels", "text_dim", "output_dir")
        if getattr(FLAGS, name) is None
    ]
    if missing:
        raise UserError("missing required flags: " + ", ".join(f"--{m}" for m in missing))
    if os.path.exists(FLAGS.output_dir) and not os.path.isdir(FLAGS.output_dir):
        raise UserError(f"--output_dir {FLAGS.output_dir} is an existing file; choose a folder")
    if os.path.exists(FLAGS.output_dir) and os.listdir(FLAGS.output_dir):
        raise UserError(f"--output_dir {FLAGS.output_dir} exists and is not empty")
    # Imported here, not at the top: --help and flag errors answer before TensorFlow starts.
    from ssah_tf.release import load_release_checkpoint
    from ssah_tf.training.run_record import to_dict

    models = load_release_checkpoint(
        FLAGS.checkpoint,
        FLAGS.cnnf,
        bits=FLAGS.bits,
        num_labels=FLAGS.num_labels,
        text_dim=FLAGS.text_dim,
    )
    with staged_directory(FLAGS.output_dir, ".import-") as staging:  # all or nothing
        path = models.networks.checkpoint().write(os.path.join(staging, "imported"))
        with open(os.path.join(staging, "config.json"), "w") as f:
            json.dump(
                {
                    "ssah": to_dict(models.config),
                    "source": os.path.abspath(FLAGS.checkpoint),
                    "cnnf": os.path.abspath(FLAGS.cnnf),
                    "checkpoint": os.path.basename(path),
                },
                f,
                indent=1,
                default=list,
            )
        with open(os.path.join(staging, "checkpoint"), "w") as f:
            f.write('model_checkpoint_path: "imported"\nall_model_checkpoint_paths: "imported"\n')
    logging.info("imported %s", FLAGS.checkpoint)
    print(
        f"wrote {os.path.join(FLAGS.output_dir, 'imported')} "
        f"(use ssah-train --preset=release --init_from={FLAGS.output_dir})"
    )
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
