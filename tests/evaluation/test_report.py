"""The retrieval report: escaping, the sample of queries, the page's structure, and the
demo's page in a real headless browser."""

import os
import re
import shutil

import numpy as np
import pytest

from ssah_tf.data.dataset import ArrayImages, CrossModalDataset
from ssah_tf.evaluation.codes import evaluate_codes
from ssah_tf.evaluation.report import ItemView, ReportInputs, build_report, sample_queries


def small_report(top_k=4, tag="<script>alert(1)</script>", label="<b>bold</b>", seed=0):
    rng = np.random.default_rng(seed)
    n_query, n_db, bits = 9, 30, 8
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n_query + n_db)]
    texts = (rng.random((n_query + n_db, 6)) < 0.5).astype(np.float32)
    images = ArrayImages(rng.integers(0, 255, (n_query + n_db, 8, 8, 3), dtype=np.uint8))
    data = CrossModalDataset(
        name="toy",
        labels=labels,
        texts=texts,
        images=images,
        label_names=(label, "cat", "dog"),
        tag_names=(tag, "b", "c", "d", "e", "f"),
    )
    query, database = np.arange(n_query), np.arange(n_query, n_query + n_db)
    codes = {"query_L": labels[query], "retrieval_L": labels[database]}
    for key, n in (("Qi", n_query), ("Qt", n_query), ("Ql", n_query), ("Di", n_db), ("Dt", n_db)):
        codes[key] = rng.choice([-1, 1], size=(n, bits))
    results, curves = evaluate_codes(codes)
    items = ItemView(
        data, query, database, query_labels=codes["query_L"], database_labels=codes["retrieval_L"]
    )
    inputs = ReportInputs(
        codes=codes,
        results=results,
        curves=curves,
        header={"title": "toy <report>", "data set": data.summary()},
        protocol={"map_variant": "all", "queries": n_query},
        items=items,
        top_k=top_k,
        per_group=2,
        baseline={"map_i2t": 0.5},
    )
    return build_report(inputs), codes


def test_tags_labels_and_titles_are_escaped():
    page, _ = small_report()
    assert "<script>" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<title>toy &lt;report&gt;</title>" in page


def test_every_direction_lists_its_sample_queries_with_k_results():
    page, _ = small_report(top_k=4)
    sections = re.findall(
        r'<section class="direction" data-direction="(\w+)">(.*?)</section>', page, re.S
    )
    assert [d for d, _ in sections] == ["i2t", "t2i", "i2i", "t2t", "l2i", "l2t"]
    for _, body in sections:
        queries = body.split('<div class="query"')[1:]
        assert len(queries) == 6  # 2 best, 2 median, 2 worst
        for query in queries:
            assert query.count("<li class=") == 4
            assert re.search(r"AP \d\.\d{3}", query)
    assert page.count("<svg") == 2 + 6 + 1  # PR, P@N, six histograms, bit balance
    assert "How to read this page" in page and "ssah-baseline mAP@all" in page
    # Precision within radius 2 says over how many queries it is averaged.
    assert re.search(r"\d\.\d{4} \(\d+ of \d+ queries retrieve any\)", page)


def test_sample_is_seeded_and_orders_best_median_worst():
    ap = np.array([0.1, 0.9, 0.5, 0.5, 0.5, 0.5, 0.2, 0.95, 0.5, 0.5, 0.05, 0.7])
    a = sample_queries(ap, per_group=2, seed=0)
    assert a == sample_queries(ap, per_group=2, seed=0)
    assert sorted(a["best"]) == [1, 7] and sorted(a["worst"]) == [0, 10]
    assert all(ap[i] == 0.5 for i in a["median"]) and len(a["median"]) == 2
    # Ties among the median APs are broken by the seed, not by index.
    medians = {tuple(sample_queries(ap, per_group=2, seed=s)["median"]) for s in range(10)}
    assert len(medians) > 1
    chosen = a["best"] + a["median"] + a["worst"]
    assert len(set(chosen)) == len(chosen)
    assert min(ap[a["best"]]) >= max(ap[a["median"]]) >= max(ap[a["worst"]])
    assert sample_queries(np.array([0.3]), per_group=3, seed=0)["worst"] == [0]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(
    chromium() is None or shutil.which("chromedriver") is None,
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_demo_report_in_a_real_browser(tmp_path):
    pytest.importorskip("selenium", reason="the test extra (pip install '.[test]')")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.cli.test_train import TINY
    from tests.helpers import run_cli

    run_dir = tmp_path / "run"
    assert (
        run_cli("ssah_tf.cli.train", *TINY, "--epochs=1", f"--model_dir={run_dir}").returncode == 0
    )
    result = run_cli(
        "ssah_tf.cli.evaluate", f"--model_dir={run_dir}", "--report", "--report_top_k=10"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    page = run_dir / "eval_best" / "report" / "index.html"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(page.as_uri())
        assert driver.title.startswith("SSAH retrieval report")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);"
        )
        assert images and all(done and width > 0 for done, width in images)
        charts = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg')).map("
            "s => s.getBoundingClientRect().width);"
        )
        assert len(charts) == 9 and all(width > 100 for width in charts)
        per_direction = driver.execute_script(
            "return Array.from(document.querySelectorAll('section.direction')).map(s => "
            "[s.dataset.direction, Array.from(s.querySelectorAll('.query')).map("
            "q => q.querySelectorAll('li').length)]);"
        )
        assert [d for d, _ in per_direction] == ["i2t", "t2i", "i2i", "t2t", "l2i", "l2t"]
        for _, counts in per_direction:
            assert len(counts) >= 3 and all(c == 10 for c in counts)
        artefacts = os.environ.get("SSAH_TEST_ARTEFACTS", str(tmp_path))
        os.makedirs(artefacts, exist_ok=True)
        assert driver.save_screenshot(os.path.join(artefacts, "demo_report.png"))
    finally:
        driver.quit()
