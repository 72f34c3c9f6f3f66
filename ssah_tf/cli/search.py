"""ssah-search: exact Hamming search of packed code files (top-k and/or radius).

Examples:
  ssah-search --database=db.npz --queries=q.npz --top_k=10 [--radius=2] [--output=hits.json]
  ssah-search --database=db.npz --export_dir=EXPORT --query_texts=tags.txt --top_k=10
              (raw queries encoded on the fly: --query_images / --query_image_features /
              --query_texts / --query_labels, as ssah-encode reads them)
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from absl import flags, logging

from ssah_tf.cli import common, tool
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("database", None, "Code file of the collection (ssah-encode output).")
flags.DEFINE_string("queries", None, "Code file of the queries (ssah-encode output).")
flags.DEFINE_string("export_dir", None, "Model (ssah-export) that encodes raw --query_* inputs.")
QUERY_HELP = {
    "images": "image file, folder or .txt list",
    "image_features": ".npy image features",
    "texts": ".txt tags per line or .npy bag-of-words",
    "labels": ".npy/.txt label vectors",
}
QUERY_SOURCES = tuple(f"query_{source}" for source in QUERY_HELP)
for _source, _help in QUERY_HELP.items():
    flags.DEFINE_string(f"query_{_source}", None, f"Raw queries to encode: {_help}.")
flags.DEFINE_bool(
    "trust_export",
    False,
    "Skip the check that --export_dir holds only the ops "
    "ssah-export writes (a SavedModel is a program: only for exports you made).",
)
flags.DEFINE_string("vocab_file", None, "Tag vocabulary for --query_texts (default: the export's).")
flags.DEFINE_integer("top_k", None, "Return the k nearest items per query.")
flags.DEFINE_integer("radius", None, "Return the items within this Hamming distance.")
flags.DEFINE_string("output", None, "Write results to .json or .csv (default: JSON on stdout).")
flags.DEFINE_enum(
    "backend",
    "numpy",
    ["numpy", "faiss_flat", "faiss_ivf", "faiss_hnsw"],
    "numpy: exact popcount; faiss_flat: exact, identical results; faiss_ivf / "
    'faiss_hnsw: approximate indexes for large collections (pip install ".[faiss]").',
)


def _queries(database: dict) -> dict:
    """The query codes: a code file, or raw inputs encoded with --export_dir."""
    from ssah_tf.bits import pack_bits
    from ssah_tf.encoding import SOURCES, encode_source
    from ssah_tf.retrieval import ExportedEncoder, load_code_file

    raw = [s for s in SOURCES if getattr(FLAGS, f"query_{s}")]
    if bool(FLAGS.queries) + len(raw) != 1:
        raise UserError(
            "give the queries once: --queries=CODES.npz or one --query_images / "
            "--query_image_features / --query_texts / --query_labels"
        )
    if FLAGS.queries:
        return load_code_file(FLAGS.queries)
    if not FLAGS.export_dir:
        raise UserError(
            f"--query_{raw[0]} needs --export_dir (the model that encoded the database)"
        )
    encoder = ExportedEncoder(FLAGS.export_dir, trust=FLAGS.trust_export)
    model = str(database.get("model", ""))
    if model and model != encoder.identity:
        # Identity includes the export's path, so a moved export also differs: warn only.
        logging.warning(
            "--export_dir is %s but %s was encoded by %s; codes of different "
            "models are not comparable",
            encoder.identity,
            FLAGS.database,
            model,
        )
    items = encode_source(
        encoder, raw[0], getattr(FLAGS, f"query_{raw[0]}"), vocab_file=FLAGS.vocab_file
    )
    return {
        "codes": pack_bits(items.codes),
        "ids": np.asarray(items.ids),
        "bits": np.array(encoder.bits),
    }


def main(argv):
    if not FLAGS.database:
        raise UserError("--database is required")
    if FLAGS.top_k is None and FLAGS.radius is None:
        raise UserError("give --top_k and/or --radius")
    if FLAGS.output:
        names = ("database", "queries", "export_dir", "vocab_file", *QUERY_SOURCES)
        common.check_output_file(
            FLAGS.output, inputs={f"--{name}": getattr(FLAGS, name) for name in names}
        )
    # Imported here, not at the top: --help and flag errors answer before TensorFlow starts.
    from ssah_tf.atomic import write_atomic
    from ssah_tf.retrieval import FaissSearcher, load_code_file, search, tie_at_cut

    database = load_code_file(FLAGS.database)
    queries = _queries(database)
    if int(database["bits"]) != int(queries["bits"]):
        raise UserError(
            f"code lengths differ: queries {int(queries['bits'])} bits, database "
            f"{int(database['bits'])} bits"
        )
    db_ids, labels = database["ids"], database.get("labels")
    names = database.get("label_names")
    if names is not None and labels is not None and len(names) != labels.shape[1]:
        names = None  # an inconsistent file: show columns
    # One hit more than asked shows whether the k-th is inside a tie; only those
    # queries pay the full pass that counts the tie.
    asked = FLAGS.top_k + 1 if FLAGS.top_k else None
    if FLAGS.backend == "numpy":
        found = search(queries["codes"], database["codes"], top_k=asked, radius=FLAGS.radius)
    else:
        searcher = FaissSearcher(database["codes"], kind=FLAGS.backend.split("_")[1])
        found = searcher.search(queries["codes"], top_k=asked, radius=FLAGS.radius)
    results, cut_ties = [], []
    for row, (query_id, (indices, distances)) in enumerate(zip(queries["ids"], found)):
        cut_inside = (
            FLAGS.top_k is not None
            and len(distances) > FLAGS.top_k
            and distances[FLAGS.top_k] == distances[FLAGS.top_k - 1]
        )
        indices, distances = indices[: FLAGS.top_k], distances[: FLAGS.top_k]
        hits = [{"id": str(db_ids[i]), "distance": int(d)} for i, d in zip(indices, distances)]
        if labels is not None:
            for hit, i in zip(hits, indices):
                columns = labels[i].nonzero()[0]
                hit["labels"] = (
                    [str(names[j]) for j in columns]
                    if names is not None
                    else [int(j) for j in columns]
                )
        result = {"query": str(query_id), "results": hits}
        tie = (
            tie_at_cut(queries["codes"][row], database["codes"], distances, FLAGS.top_k)
            if cut_inside
            else None
        )
        if tie:
            # The k-th hit is one of many at its distance: say how many tie there.
            distance, items, shown = tie
            result["tie_at_cut"] = {"distance": distance, "items": items, "shown": shown}
            cut_ties.append((str(query_id), distance, items, shown))
        results.append(result)
    if cut_ties:
        query_id, distance, items, shown = cut_ties[0]
        logging.warning(
            "%d of %d queries cut inside a tie at their k-th hit (e.g. query %s: %d items "
            "at distance %d, %d shown; which of them is shown is by database order); "
            "raise --top_k or use --radius to see them all",
            len(cut_ties),
            len(results),
            query_id,
            items,
            distance,
            shown,
        )
    if FLAGS.output and FLAGS.output.endswith(".csv"):

        def write(f):
            writer = csv.writer(f)
            writer.writerow(
                ["query", "rank", "id", "distance"] + (["labels"] if labels is not None else [])
            )
            for r in results:
                for rank, hit in enumerate(r["results"], 1):
                    writer.writerow(
                        [r["query"], rank, hit["id"], hit["distance"]]
                        + (
                            [("; " if names is not None else " ").join(map(str, hit["labels"]))]
                            if labels is not None
                            else []
                        )
                    )

        write_atomic(FLAGS.output, write)
    elif FLAGS.output:
        write_atomic(FLAGS.output, lambda f: json.dump(results, f, indent=1))
    else:
        buffer = io.StringIO()
        json.dump(results, buffer, indent=1)
        print(buffer.getvalue())
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
