"""ssah-encode end to end on an exported demo model (with a search of what it wrote)."""

import json

import numpy as np
import tensorflow as tf

from ssah_tf.retrieval import load_code_file
from tests.helpers import assert_one_line_error, run_cli


def test_encode_texts_labels_features_and_search(exported):
    tmp, trainer = exported
    rows = np.arange(30)
    tags = ["tag" + str(j) for j in range(trainer.data.texts.shape[1])]
    (tmp / "tags.txt").write_text(
        "\n".join(",".join(tags[j] for j in np.flatnonzero(t)) for t in trainer.data.texts[rows])
        + "\n"
    )
    np.save(tmp / "labels.npy", trainer.data.labels[rows])
    # The demo's MLP reads pictures: its export takes picture files (PNG, lossless).
    (tmp / "pics").mkdir()
    for row, pixels in zip(rows, trainer.data.images.read(rows, 32)):
        (tmp / "pics" / f"p{row:03d}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    for flag, path, modality in (
        ("--texts", "tags.txt", "text"),
        ("--labels", "labels.npy", "label"),
        ("--images", "pics", "image"),
    ):
        out = tmp / f"{modality}.npz"
        result = run_cli(
            "ssah_tf.cli.encode",
            f"--export_dir={tmp / 'export'}",
            f"{flag}={tmp / path}",
            f"--output={out}",
            "--batch_size=7",
        )
        assert result.returncode == 0, result.stderr[-2000:]
        codes = load_code_file(str(out))
        expected = np.packbits(trainer.evaluator.encode(rows, modality) >= 0, axis=1)
        np.testing.assert_array_equal(codes["codes"], expected)
        assert int(codes["bits"]) == 16 and str(codes["modality"]) == modality
    result = run_cli(
        "ssah_tf.cli.search",
        f"--database={tmp / 'image.npz'}",
        f"--queries={tmp / 'text.npz'}",
        "--top_k=5",
        f"--output={tmp / 'hits.json'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    hits = json.loads((tmp / "hits.json").read_text())
    faiss_run = run_cli(
        "ssah_tf.cli.search",
        f"--database={tmp / 'image.npz'}",
        f"--queries={tmp / 'text.npz'}",
        "--top_k=5",
        "--backend=faiss_flat",
        f"--output={tmp / 'faiss.json'}",
    )
    assert faiss_run.returncode == 0, faiss_run.stderr[-2000:]
    assert json.loads((tmp / "faiss.json").read_text()) == hits
    q = np.unpackbits(load_code_file(str(tmp / "text.npz"))["codes"], axis=1)[:, :16]
    d = np.unpackbits(load_code_file(str(tmp / "image.npz"))["codes"], axis=1)[:, :16]
    dist = (q[:, None] != d[None]).sum(-1)
    for i, entry in enumerate(hits):
        order = sorted(range(len(d)), key=lambda j: (dist[i, j], j))[:5]
        ids = [str(x) for x in load_code_file(str(tmp / "image.npz"))["ids"]]
        assert [h["id"] for h in entry["results"]] == [ids[j] for j in order]
        assert ids[order[0]].endswith(f"p{order[0]:03d}.png")  # the pictures' paths, in order
        assert [h["distance"] for h in entry["results"]] == [int(dist[i, j]) for j in order]


def test_encode_bad_inputs_leave_nothing(exported):
    tmp, trainer = exported
    (tmp / "oov.txt").write_text("tag1,zebra\n")
    out = tmp / "oov.npz"
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--texts={tmp / 'oov.txt'}",
        f"--output={out}",
    )
    assert result.returncode == 2 and "'zebra'" in result.stderr and not out.exists()
    labels = trainer.data.labels[:4].copy()
    labels[2, 0] = np.nan
    np.save(tmp / "nan.npy", labels)
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--labels={tmp / 'nan.npy'}",
        f"--output={out}",
    )
    assert result.returncode == 2 and "row 3" in result.stderr and not out.exists()
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--labels={tmp / 'nan.npy'}",
        f"--output={out}",
        "--on_error=skip",
    )
    assert result.returncode == 0 and list(load_code_file(str(out))["ids"]) == ["0", "1", "3"]
    result = run_cli(
        "ssah_tf.cli.search", f"--database={tmp / 'missing.npz'}", f"--queries={out}", "--top_k=1"
    )
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_outputs_never_overwrite_inputs(exported, tmp_path):
    tmp, _ = exported
    tags = tmp_path / "tags.txt"
    tags.write_text("tag1,tag2\n")
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--texts={tags}",
        f"--output={tags}",
    )
    assert_one_line_error(result, 2, "is the same path as --texts=")
    assert tags.read_text() == "tag1,tag2\n"
    np.save(tmp_path / "labels.npy", np.eye(5, dtype=np.float32))
    db = tmp_path / "db.npz"
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--labels={tmp_path / 'labels.npy'}",
        f"--output={db}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    written = db.read_bytes()
    for output in (db, tmp_path / "." / "db.npz"):
        result = run_cli(
            "ssah_tf.cli.search",
            f"--database={db}",
            f"--queries={db}",
            "--top_k=2",
            f"--output={output}",
        )
        assert_one_line_error(result, 2, "is the same path as --database=")
    assert db.read_bytes() == written


def test_empty_text_lines_and_complex_arrays(exported, tmp_path):
    tmp, _ = exported
    (tmp_path / "tags.txt").write_text("tag1,tag2\n\ntag3\n , \n")
    out = tmp_path / "c.npz"
    args = [
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--texts={tmp_path / 'tags.txt'}",
        f"--output={out}",
    ]
    assert_one_line_error(run_cli(*args), 2, "tags.txt line 2 is empty (no tag)")
    assert not out.exists()
    result = run_cli(*args, "--on_error=skip")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped 2" in result.stdout
    assert list(load_code_file(str(out))["ids"]) == ["0", "2"]
    np.save(tmp_path / "labels.npy", np.eye(5, dtype=np.complex64))
    result = run_cli(
        "ssah_tf.cli.encode",
        f"--export_dir={tmp / 'export'}",
        f"--labels={tmp_path / 'labels.npy'}",
        f"--output={tmp_path / 'l.npz'}",
    )
    assert_one_line_error(result, 2, "holds complex numbers")
