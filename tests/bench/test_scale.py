"""ssah-bench --scale's arithmetic and a tiny run (figures are not asserted)."""

import pytest

from ssah_tf.bench.scale import ScaleConfig, growth_exponent, run_scale, scale_table


def test_growth_exponent_by_hand():
    assert growth_exponent([10, 100], [1.0, 10.0]) == pytest.approx(1.0)  # linear
    assert growth_exponent([10, 1000], [2.0, 2e4]) == pytest.approx(2.0)  # 100x size, 1e4x time
    assert growth_exponent([10], [1.0]) is None


def test_quick_scale_run_checks_search_against_brute_force(tmp_path):
    results = run_scale(ScaleConfig.quick(), workdir=str(tmp_path), log=lambda *a: None)
    # One epoch of ssah-train each on features and on pictures prepared from PNG files.
    assert [(r["input"], r["train_items"]) for r in results["training"]] == [
        ("features", 200),
        ("pictures", 200),
    ]
    assert all(r["epoch_s"] > 0 and r["peak_rss_gb"] > 0 for r in results["training"])
    assert results["training"][1]["prepare_s"] > 0
    assert [r["database"] for r in results["evaluation"]] == [500, 2000]
    assert all(r["identical_to_brute_force"] for r in results["search"])
    assert all(r["peak_rss_gb"] > 0 for r in results["evaluation"])
    table = scale_table(results)
    assert "growth exponent" in table and "4,000" in table
