"""ssah-search end to end: queries from code files or encoded on the fly."""

import json

import numpy as np
import tensorflow as tf

from tests.helpers import run_cli


def test_raw_queries_and_labels_in_search_output(exported):
    """Raw text queries encoded on the fly give the same hits as an encoded query file;
    labels attached at encoding time come back with each hit (JSON and CSV)."""
    tmp, trainer = exported
    rows = np.arange(25)
    tags = ["tag" + str(j) for j in range(trainer.data.texts.shape[1])]
    (tmp / "q_tags.txt").write_text(
        "\n".join(
            ",".join(tags[j] for j in np.flatnonzero(t)) for t in trainer.data.texts[rows[:6]]
        )
        + "\n"
    )
    (tmp / "db_pics").mkdir()
    for row, pixels in zip(rows, trainer.data.images.read(rows, 32)):
        (tmp / "db_pics" / f"{row:03d}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    np.save(tmp / "db_labels.npy", trainer.data.labels[rows])
    db = tmp / "db_labelled.npz"
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--images={tmp / 'db_pics'}",
        f"--attach_labels={tmp / 'db_labels.npy'}",
        f"--output={db}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--texts={tmp / 'q_tags.txt'}",
        f"--output={tmp / 'q.npz'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from_file = run_cli(
        "ssah_tf.cli.search",
        f"--database={db}",
        f"--queries={tmp / 'q.npz'}",
        "--top_k=4",
        f"--output={tmp / 'a.json'}",
    )
    on_the_fly = run_cli(
        "ssah_tf.cli.search",
        f"--database={db}",
        f"--export_dir={tmp / 'export'}",
        f"--query_texts={tmp / 'q_tags.txt'}",
        "--top_k=4",
        f"--output={tmp / 'b.json'}",
    )
    assert from_file.returncode == 0 and on_the_fly.returncode == 0, on_the_fly.stderr[-2000:]
    a, b = json.loads((tmp / "a.json").read_text()), json.loads((tmp / "b.json").read_text())
    assert a == b and len(a) == 6
    for hit in a[0]["results"]:
        row = int(hit["id"].rsplit("/", 1)[-1].split(".")[0])  # db_pics/<row>.png
        names = trainer.data.label_names  # carried by the export into the code file
        expected = [names[j] for j in np.flatnonzero(trainer.data.labels[row])]
        assert hit["labels"] == expected
    as_csv = run_cli(
        "ssah_tf.cli.search",
        f"--database={db}",
        f"--queries={tmp / 'q.npz'}",
        "--top_k=4",
        f"--output={tmp / 'a.csv'}",
    )
    assert as_csv.returncode == 0
    lines = (tmp / "a.csv").read_text().splitlines()
    assert lines[0] == "query,rank,id,distance,labels" and len(lines) == 1 + 6 * 4
    # Raw queries without a model, or given twice, fail with one line.
    for args in (
        [f"--query_texts={tmp / 'q_tags.txt'}"],
        [f"--queries={tmp / 'q.npz'}", f"--query_texts={tmp / 'q_tags.txt'}"],
    ):
        bad = run_cli("ssah_tf.cli.search", f"--database={db}", "--top_k=4", *args)
        assert bad.returncode == 2 and "quer" in bad.stderr.strip().splitlines()[-1]
    wrong = np.zeros((3, trainer.data.labels.shape[1]))
    np.save(tmp / "short_labels.npy", wrong)
    bad = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--images={tmp / 'db_pics'}",
        f"--attach_labels={tmp / 'short_labels.npy'}",
        f"--output={tmp / 'x.npz'}",
    )
    assert bad.returncode == 2 and "label rows" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp / "x.npz").exists()
