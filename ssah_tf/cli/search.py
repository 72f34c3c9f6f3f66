"""ssah-search: exact Hamming search of packed code files (top-k and/or radius).

  ssah-search --database=db.npz --queries=q.npz --top_k=10 [--radius=2] [--output=hits.json|csv]
"""

from __future__ import annotations

import csv
import io
import json

from absl import flags

from ssah_tf.cli import common
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("database", None, "Code file of the collection (ssah-encode output).")
flags.DEFINE_string("queries", None, "Code file of the queries (ssah-encode output).")
flags.DEFINE_integer("top_k", None, "Return the k nearest items per query.")
flags.DEFINE_integer("radius", None, "Return the items within this Hamming distance.")
flags.DEFINE_string("output", None, "Write results to .json or .csv (default: JSON on stdout).")
flags.DEFINE_enum("backend", "numpy", ["numpy", "faiss_flat", "faiss_ivf", "faiss_hnsw"],
                  "numpy: exact popcount; faiss_flat: exact, identical results; faiss_ivf / "
                  "faiss_hnsw: approximate indexes for large collections (pip install \".[faiss]\").")


def main(argv):
    if not FLAGS.database or not FLAGS.queries:
        raise UserError("--database and --queries are required")
    from ssah_tf.atomic import write_atomic
    from ssah_tf.retrieval import FaissSearcher, load_code_file, search

    database, queries = load_code_file(FLAGS.database), load_code_file(FLAGS.queries)
    if int(database["bits"]) != int(queries["bits"]):
        raise UserError(f"code lengths differ: queries {int(queries['bits'])} bits, database "
                        f"{int(database['bits'])} bits")
    db_ids, labels = database["ids"], database.get("labels")
    if FLAGS.backend == "numpy":
        found = search(queries["codes"], database["codes"], top_k=FLAGS.top_k, radius=FLAGS.radius)
    else:
        searcher = FaissSearcher(database["codes"], kind=FLAGS.backend.split("_")[1])
        found = searcher.search(queries["codes"], top_k=FLAGS.top_k, radius=FLAGS.radius)
    results = []
    for query_id, (indices, distances) in zip(queries["ids"], found):
        hits = [{"id": str(db_ids[i]), "distance": int(d)} for i, d in zip(indices, distances)]
        if labels is not None:
            for hit, i in zip(hits, indices):
                hit["labels"] = [int(j) for j in labels[i].nonzero()[0]]
        results.append({"query": str(query_id), "results": hits})
    if FLAGS.output and FLAGS.output.endswith(".csv"):
        def write(f):
            writer = csv.writer(f)
            writer.writerow(["query", "rank", "id", "distance"])
            for r in results:
                for rank, hit in enumerate(r["results"], 1):
                    writer.writerow([r["query"], rank, hit["id"], hit["distance"]])
        write_atomic(FLAGS.output, write)
    elif FLAGS.output:
        write_atomic(FLAGS.output, lambda f: json.dump(results, f, indent=1))
    else:
        buffer = io.StringIO()
        json.dump(results, buffer, indent=1)
        print(buffer.getvalue())
    return 0


run = common.entry_point(main)


if __name__ == "__main__":
    run()
