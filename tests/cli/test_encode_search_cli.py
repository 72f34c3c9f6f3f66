"""ssah-encode and ssah-search end to end on an exported demo model."""

import json

import numpy as np
import pytest

from ssah_tf.retrieval import load_code_file
from ssah_tf.training.runs import load_run
from tests.cli.test_train_cli import TINY
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("enc")
    assert run_cli("ssah_tf.cli.train", *TINY, "--epochs=1", f"--model_dir={tmp / 'run'}").returncode == 0
    result = run_cli("ssah_tf.cli.export", f"--model_dir={tmp / 'run'}", f"--export_dir={tmp / 'export'}")
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp, load_run(str(tmp / "run"), "best")


def test_encode_texts_labels_features_and_search(exported):
    tmp, trainer = exported
    rows = np.arange(30)
    tags = ["tag" + str(j) for j in range(trainer.data.texts.shape[1])]
    (tmp / "tags.txt").write_text("\n".join(",".join(tags[j] for j in np.flatnonzero(t))
                                            for t in trainer.data.texts[rows]) + "\n")
    np.save(tmp / "labels.npy", trainer.data.labels[rows])
    np.save(tmp / "feats.npy", trainer.built.feature_matrix[rows])
    for flag, path, modality in (("--texts", "tags.txt", "text"), ("--labels", "labels.npy", "label"),
                                 ("--image_features", "feats.npy", "image")):
        out = tmp / f"{modality}.npz"
        result = run_cli("ssah_tf.cli.encode", f"--export_dir={tmp / 'export'}",
                         f"{flag}={tmp / path}", f"--output={out}", "--batch_size=7")
        assert result.returncode == 0, result.stderr[-2000:]
        codes = load_code_file(str(out))
        expected = np.packbits(trainer.evaluator.encode(rows, modality) >= 0, axis=1)
        np.testing.assert_array_equal(codes["codes"], expected)
        assert int(codes["bits"]) == 16 and str(codes["modality"]) == modality
    result = run_cli("ssah_tf.cli.search", f"--database={tmp / 'image.npz'}",
                     f"--queries={tmp / 'text.npz'}", "--top_k=5", f"--output={tmp / 'hits.json'}")
    assert result.returncode == 0, result.stderr[-2000:]
    hits = json.loads((tmp / "hits.json").read_text())
    faiss_run = run_cli("ssah_tf.cli.search", f"--database={tmp / 'image.npz'}",
                        f"--queries={tmp / 'text.npz'}", "--top_k=5", "--backend=faiss_flat",
                        f"--output={tmp / 'faiss.json'}")
    assert faiss_run.returncode == 0, faiss_run.stderr[-2000:]
    assert json.loads((tmp / "faiss.json").read_text()) == hits
    q = np.unpackbits(load_code_file(str(tmp / "text.npz"))["codes"], axis=1)[:, :16]
    d = np.unpackbits(load_code_file(str(tmp / "image.npz"))["codes"], axis=1)[:, :16]
    dist = (q[:, None] != d[None]).sum(-1)
    for i, entry in enumerate(hits):
        order = sorted(range(len(d)), key=lambda j: (dist[i, j], j))[:5]
        assert [int(h["id"]) for h in entry["results"]] == order
        assert [h["distance"] for h in entry["results"]] == [int(dist[i, j]) for j in order]


def test_encode_bad_inputs_leave_nothing(exported):
    tmp, trainer = exported
    (tmp / "oov.txt").write_text("tag1,zebra\n")
    out = tmp / "oov.npz"
    result = run_cli("ssah_tf.cli.encode", f"--export_dir={tmp / 'export'}",
                     f"--texts={tmp / 'oov.txt'}", f"--output={out}")
    assert result.returncode == 2 and "'zebra'" in result.stderr and not out.exists()
    labels = trainer.data.labels[:4].copy()
    labels[2, 0] = np.nan
    np.save(tmp / "nan.npy", labels)
    result = run_cli("ssah_tf.cli.encode", f"--export_dir={tmp / 'export'}",
                     f"--labels={tmp / 'nan.npy'}", f"--output={out}")
    assert result.returncode == 2 and "row 3" in result.stderr and not out.exists()
    result = run_cli("ssah_tf.cli.encode", f"--export_dir={tmp / 'export'}",
                     f"--labels={tmp / 'nan.npy'}", f"--output={out}", "--on_error=skip")
    assert result.returncode == 0 and list(load_code_file(str(out))["ids"]) == ["0", "1", "3"]
    result = run_cli("ssah_tf.cli.search", f"--database={tmp / 'missing.npz'}",
                     f"--queries={out}", "--top_k=1")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_raw_queries_and_labels_in_search_output(exported):
    """Raw text queries encoded on the fly give the same hits as an encoded query file;
    labels attached at encoding time come back with each hit (JSON and CSV)."""
    tmp, trainer = exported
    rows = np.arange(25)
    tags = ["tag" + str(j) for j in range(trainer.data.texts.shape[1])]
    (tmp / "q_tags.txt").write_text("\n".join(",".join(tags[j] for j in np.flatnonzero(t))
                                              for t in trainer.data.texts[rows[:6]]) + "\n")
    np.save(tmp / "db_feats.npy", trainer.built.feature_matrix[rows])
    np.save(tmp / "db_labels.npy", trainer.data.labels[rows])
    db = tmp / "db_labelled.npz"
    result = run_cli("ssah_tf.cli.encode", f"--export_dir={tmp / 'export'}",
                     f"--image_features={tmp / 'db_feats.npy'}",
                     f"--attach_labels={tmp / 'db_labels.npy'}", f"--output={db}")
    assert result.returncode == 0, result.stderr[-2000:]
    result = run_cli("ssah_tf.cli.encode", f"--export_dir={tmp / 'export'}",
                     f"--texts={tmp / 'q_tags.txt'}", f"--output={tmp / 'q.npz'}")
    assert result.returncode == 0, result.stderr[-2000:]
    from_file = run_cli("ssah_tf.cli.search", f"--database={db}", f"--queries={tmp / 'q.npz'}",
                        "--top_k=4", f"--output={tmp / 'a.json'}")
    on_the_fly = run_cli("ssah_tf.cli.search", f"--database={db}",
                         f"--export_dir={tmp / 'export'}", f"--query_texts={tmp / 'q_tags.txt'}",
                         "--top_k=4", f"--output={tmp / 'b.json'}")
    assert from_file.returncode == 0 and on_the_fly.returncode == 0, on_the_fly.stderr[-2000:]
    a, b = json.loads((tmp / "a.json").read_text()), json.loads((tmp / "b.json").read_text())
    assert a == b and len(a) == 6
    for hit in a[0]["results"]:
        expected = np.flatnonzero(trainer.data.labels[int(hit["id"])]).tolist()
        assert hit["labels"] == expected
    as_csv = run_cli("ssah_tf.cli.search", f"--database={db}", f"--queries={tmp / 'q.npz'}",
                     "--top_k=4", f"--output={tmp / 'a.csv'}")
    assert as_csv.returncode == 0
    lines = (tmp / "a.csv").read_text().splitlines()
    assert lines[0] == "query,rank,id,distance,labels" and len(lines) == 1 + 6 * 4
    # Raw queries without a model, or given twice, fail with one line.
    for args in ([f"--query_texts={tmp / 'q_tags.txt'}"],
                 [f"--queries={tmp / 'q.npz'}", f"--query_texts={tmp / 'q_tags.txt'}"]):
        bad = run_cli("ssah_tf.cli.search", f"--database={db}", "--top_k=4", *args)
        assert bad.returncode == 2 and "quer" in bad.stderr.strip().splitlines()[-1]
    wrong = np.zeros((3, trainer.data.labels.shape[1]))
    np.save(tmp / "short_labels.npy", wrong)
    bad = run_cli("ssah_tf.cli.encode", f"--export_dir={tmp / 'export'}",
                  f"--image_features={tmp / 'db_feats.npy'}",
                  f"--attach_labels={tmp / 'short_labels.npy'}", f"--output={tmp / 'x.npz'}")
    assert bad.returncode == 2 and "label rows" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp / "x.npz").exists()
