"""ssah-encode: images, texts or label vectors -> packed K-bit codes (.npz).

  ssah-encode --export_dir=EXPORT --images=FOLDER|FILE|LIST.txt --output=codes.npz
  ssah-encode --export_dir=EXPORT --texts=tags.txt (comma-separated tags per line, the
              export's vocabulary) or --texts=bow.npy --output=codes.npz
  ssah-encode --export_dir=EXPORT --labels=labels.npy|labels.txt --output=codes.npz
"""

from __future__ import annotations

import os
import time

import numpy as np
from absl import flags, logging

from ssah_tf.cli import common
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None, "A SavedModel written by ssah-export.")
flags.DEFINE_string("images", None, "Image file, folder (recursive) or .txt list of paths.")
flags.DEFINE_string("image_features", None, ".npy of image features (mlp-backbone exports).")
flags.DEFINE_string("texts", None, ".txt of comma-separated tags per line, or .npy bag-of-words.")
flags.DEFINE_string("labels", None, ".npy or .txt (space-separated 0/1 per line) label vectors.")
flags.DEFINE_string("vocab_file", None, "Tag vocabulary (default: the export's).")
flags.DEFINE_string("output", None, "Output code file (.npz).")
flags.DEFINE_integer("batch_size", 256, "Items per encoding batch.")
flags.DEFINE_enum("on_error", "fail", ["fail", "skip"],
                  "A corrupt input: fail (nothing written) or skip it (reported by name).")


def _load_array(path: str, key: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            if key not in f.files:
                raise UserError(f"{path} has no {key!r} (keys: {', '.join(f.files)})")
            return np.asarray(f[key], np.float32)
    if path.endswith(".npy"):
        return np.asarray(np.load(path, allow_pickle=False), np.float32)
    with open(path) as f:
        try:
            return np.array([[float(v) for v in line.split()] for line in f if line.strip()],
                            np.float32)
        except ValueError:
            raise UserError(f"{path}: expected space-separated numbers per line") from None


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


def main(argv):
    sources = [f for f in ("images", "image_features", "texts", "labels") if getattr(FLAGS, f)]
    if len(sources) != 1:
        raise UserError("give exactly one of --images, --image_features, --texts, --labels")
    if not FLAGS.export_dir or not FLAGS.output:
        raise UserError("--export_dir and --output are required")
    from ssah_tf.retrieval import (ExportedEncoder, decode_image, read_image_paths,
                                   save_code_file, texts_from_tags)

    encoder = ExportedEncoder(FLAGS.export_dir)
    source = sources[0]
    codes, ids, skipped = [], [], []
    started = time.time()
    if source == "images":
        if encoder.info["image_input"] != "pixels":
            raise UserError("this export encodes image features: use --image_features")
        paths = read_image_paths(FLAGS.images)
        size = encoder.info["image_shape"][0]
        for start, stop in _batches(len(paths), FLAGS.batch_size):
            batch, names = [], []
            for path in paths[start:stop]:
                try:
                    batch.append(decode_image(path, size))
                    names.append(path)
                except ValueError as error:
                    if FLAGS.on_error == "fail":
                        raise UserError(f"{error}; fix it or pass --on_error=skip") from None
                    logging.warning("skipping %s", error)
                    skipped.append(path)
            if batch:
                codes.append(encoder.encode("image", np.stack(batch)))
                ids += names
            logging.info("encoded %d/%d images (%.0f items/s)", stop, len(paths),
                         stop / max(time.time() - started, 1e-9))
        modality = "image"
    else:
        if source == "texts" and FLAGS.texts.endswith(".txt"):
            vocabulary = encoder.vocabulary
            if FLAGS.vocab_file:
                with open(FLAGS.vocab_file) as f:
                    vocabulary = [line.strip() for line in f if line.strip()]
            if not vocabulary:
                raise UserError("tag strings need a vocabulary: pass --vocab_file")
            with open(FLAGS.texts) as f:
                lines = [line.rstrip("\n") for line in f]
            try:
                matrix = texts_from_tags(lines, vocabulary, FLAGS.texts)
            except ValueError as error:
                raise UserError(str(error)) from None
        else:
            path = getattr(FLAGS, source)
            matrix = _load_array(path, {"texts": "texts", "labels": "labels",
                                        "image_features": "image_features"}[source])
        modality = {"texts": "text", "labels": "label", "image_features": "image"}[source]
        expected = {"text": encoder.info["text_dim"], "label": encoder.info["num_labels"],
                    "image": (encoder.info["image_shape"] or [None])[0]}[modality]
        if matrix.ndim != 2 or matrix.shape[1] != expected:
            raise UserError(f"{getattr(FLAGS, source)}: expected rows of {expected} values for "
                            f"this model, got shape {matrix.shape}")
        bad = ~np.isfinite(matrix).all(axis=1)
        if bad.any():
            if FLAGS.on_error == "fail":
                raise UserError(f"{getattr(FLAGS, source)}: row {int(np.argmax(bad)) + 1} has NaN "
                                "or inf; fix it or pass --on_error=skip")
            logging.warning("skipping %d rows with NaN/inf", int(bad.sum()))
        keep = np.flatnonzero(~bad)
        for start, stop in _batches(len(keep), FLAGS.batch_size):
            codes.append(encoder.encode(modality, matrix[keep[start:stop]]))
            logging.info("encoded %d/%d rows", stop, len(keep))
        ids = [str(i) for i in keep]
    if not codes:
        raise UserError("no input could be encoded; nothing written")
    all_codes = np.concatenate(codes)
    save_code_file(FLAGS.output, codes=all_codes, ids=ids, bits=encoder.bits, modality=modality,
                   model=encoder.identity)
    seconds = time.time() - started
    print(f"wrote {len(ids)} {modality} codes ({encoder.bits} bits) to {FLAGS.output} in "
          f"{seconds:.1f} s ({len(ids) / max(seconds, 1e-9):.0f} items/s)"
          + (f"; skipped {len(skipped)}" if skipped else ""))
    return 0


run = common.entry_point(main)


if __name__ == "__main__":
    run()
