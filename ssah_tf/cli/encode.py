"""ssah-encode: images, texts or label vectors -> packed K-bit codes (.npz).

Examples:
  ssah-encode --export_dir=EXPORT --images=FOLDER|FILE|LIST.txt --output=codes.npz
  ssah-encode --export_dir=EXPORT --texts=tags.txt (comma-separated tags per line, the
              export's vocabulary) or --texts=bow.npy --output=codes.npz
  ssah-encode --export_dir=EXPORT --labels=labels.npy|labels.txt --output=codes.npz
"""

from __future__ import annotations

import time

from absl import flags

from ssah_tf.cli import common, tool
from ssah_tf.encoding import SOURCES
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None, "A SavedModel written by ssah-export.")
flags.DEFINE_string("images", None, "Image file, folder (recursive) or .txt list of paths.")
flags.DEFINE_string("image_features", None, ".npy of image features (mlp-backbone exports).")
flags.DEFINE_string("texts", None, ".txt of comma-separated tags per line, or .npy bag-of-words.")
flags.DEFINE_string("labels", None, ".npy or .txt (space-separated 0/1 per line) label vectors.")
flags.DEFINE_bool(
    "trust_export",
    False,
    "Skip the check that --export_dir holds only the ops "
    "ssah-export writes (a SavedModel is a program: only for exports you made).",
)
flags.DEFINE_string("vocab_file", None, "Tag vocabulary (default: the export's).")
flags.DEFINE_string("output", None, "Output code file (.npz).")
flags.DEFINE_integer("batch_size", 256, "Items per encoding batch.")
flags.DEFINE_enum(
    "on_error",
    "fail",
    ["fail", "skip"],
    "A corrupt input: fail (nothing written) or skip it (reported by name).",
)
flags.DEFINE_string(
    "attach_labels",
    None,
    "Label vectors (.npy/.txt, one row per input) stored "
    "with the codes, so ssah-search reports each hit's labels.",
)


def main(argv):
    sources = [f for f in SOURCES if getattr(FLAGS, f)]
    if len(sources) != 1:
        raise UserError("give exactly one of --images, --image_features, --texts, --labels")
    if not FLAGS.export_dir or not FLAGS.output:
        raise UserError("--export_dir and --output are required")
    common.check_output_file(
        FLAGS.output,
        inputs={
            f"--{name}": getattr(FLAGS, name)
            for name in (*SOURCES, "export_dir", "vocab_file", "attach_labels")
        },
    )
    # Imported here, not at the top: --help and flag errors answer before TensorFlow starts.
    from ssah_tf.encoding import attached_labels, encode_source
    from ssah_tf.retrieval import ExportedEncoder, save_code_file

    encoder = ExportedEncoder(FLAGS.export_dir, trust=FLAGS.trust_export)
    source = sources[0]
    path = getattr(FLAGS, source)
    started = time.time()
    items = encode_source(
        encoder,
        source,
        path,
        vocab_file=FLAGS.vocab_file,
        batch_size=FLAGS.batch_size,
        on_error=FLAGS.on_error,
    )
    labels = None
    if FLAGS.attach_labels:
        labels = attached_labels(
            FLAGS.attach_labels, len(items.ids) + len(items.skipped), items.rows
        )
    elif source == "labels":
        labels = attached_labels(path, len(items.ids) + len(items.skipped), items.rows)
    save_code_file(
        FLAGS.output,
        codes=items.codes,
        ids=items.ids,
        bits=encoder.bits,
        modality=items.modality,
        model=encoder.identity,
        labels=labels,
        label_names=encoder.info.get("label_names") if labels is not None else None,
    )
    seconds = time.time() - started
    print(
        f"wrote {len(items.ids)} {items.modality} codes ({encoder.bits} bits) to {FLAGS.output} "
        f"in {seconds:.1f} s ({len(items.ids) / max(seconds, 1e-9):.0f} items/s)"
        + (f"; skipped {len(items.skipped)}" if items.skipped else "")
    )
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
