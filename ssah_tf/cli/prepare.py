"""ssah-prepare: a TFDS copy of a collection, from which pictures stream in training.

  ssah-prepare --data_path=../shared/data/emoji --name=emoji     # text lists + pictures
  ssah-prepare --data_path=items.csv --name=mine                 # a hand-written manifest
  ssah-prepare --dataset=mirflickr25k --data_path=workspace/data/mirflickr25k

Reads any documented form (text lists with all_imgs.txt, a .csv / .jsonl manifest,
an .npz, the DCMH .mat files; data/README.md), checks every picture once and writes
<data_dir>/<name>/ (a temporary folder renamed when complete: a failed or
interrupted prepare leaves nothing). Train with --data_dir=<that folder>.
"""

from __future__ import annotations

import os

from absl import flags

from ssah_tf.cli import tool
from ssah_tf.errors import UserError
from ssah_tf.vocabulary import PREPARED_DATASETS

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "dataset",
    "collection",
    list(PREPARED_DATASETS),
    "What the copy is of: collection (your own), or a protocol data set (its "
    "query/train/database sizes then apply when training).",
)
flags.DEFINE_string(
    "data_path", None, "The data: a text-list folder, a .csv/.jsonl manifest, .npz or .mat."
)
flags.DEFINE_string("manual_dir", None, "Older name of --data_path.")
flags.DEFINE_string(
    "image_root", None, "Folder the picture paths are relative to (default: the list's folder)."
)
flags.DEFINE_bool(
    "allow_images_outside_root",
    False,
    "Accept picture paths that lead outside the image folder (../ or absolute paths).",
)
flags.DEFINE_string("vocab_file", None, "Vocabulary (default: found with the data).")
flags.DEFINE_string("name", None, "Name of the copy (default: the data's folder or file name).")
flags.DEFINE_string("data_dir", None, "Where copies are written (default: $SSAH_WORKSPACE/tfds).")
flags.DEFINE_string(
    "image_background",
    "white",
    "Colour transparent pictures are composited on: white, black, gray or #rrggbb.",
)
flags.DEFINE_enum(
    "on_error",
    "fail",
    ["fail", "skip"],
    "An unreadable picture: fail (nothing written) or skip its item (counted).",
)


def main(argv):
    source = FLAGS.data_path or FLAGS.manual_dir
    if not source:
        raise UserError("--data_path is required (the folder or file to copy)")
    if FLAGS.data_path and FLAGS.manual_dir:
        raise UserError("give --data_path or --manual_dir (its older name), not both")
    if not os.path.exists(source):
        given = "--data_path" if FLAGS.data_path else "--manual_dir"
        raise UserError(f"{given}={source} does not exist")
    # Imported here, not at the top: --help and flag errors answer before TensorFlow starts.
    from ssah_tf.data.pictures import background_colour
    from ssah_tf.data.readers import detect_and_read, read_feature_file
    from ssah_tf.data.registry import path_name
    from ssah_tf.data.tfds_builders import summary, write_prepared_copy
    from ssah_tf.workspace import WORKSPACE

    background = background_colour(FLAGS.image_background)
    name = FLAGS.name or (
        path_name(source) if FLAGS.dataset in ("collection", "npz") else FLAGS.dataset
    )
    if os.sep in name or name.startswith("."):
        raise UserError(f"--name={name} must be a plain folder name")
    if FLAGS.dataset == "npz":
        data = read_feature_file(source, name=name, vocab_file=FLAGS.vocab_file)
    else:
        data = detect_and_read(
            source,
            name=name,
            image_root=FLAGS.image_root,
            vocab_file=FLAGS.vocab_file,
            background=background,
            allow_images_outside_root=FLAGS.allow_images_outside_root,
        )
    destination = os.path.join(FLAGS.data_dir or os.path.join(WORKSPACE, "tfds"), name)
    info = write_prepared_copy(
        data,
        destination=destination,
        dataset=FLAGS.dataset,
        background=FLAGS.image_background,
        on_error=FLAGS.on_error,
    )
    print(
        f"prepared {summary(info, destination)} at {destination}; train with "
        f"--dataset={FLAGS.dataset} --data_dir={destination}"
    )
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
