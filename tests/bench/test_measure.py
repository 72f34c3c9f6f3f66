"""Measuring helpers: medians, memory units, the hardware reference."""

import time

from ssah_tf.bench.measure import hardware_reference, median_seconds, peak_rss_gb, peak_rss_gib


def test_median_of_repeats_divided_per_item_and_memory_in_both_units():
    calls = []
    seconds = median_seconds(lambda: (calls.append(1), time.sleep(0.01)), 3, per=2.0)
    assert len(calls) == 3 and 0.004 < seconds < 0.5
    # The same high-water mark in GB (10^9) and GiB (2^30): their ratio is fixed.
    gb, gib = peak_rss_gb(), peak_rss_gib()
    assert gb > 0 and abs(gb / gib - 2**30 / 1e9) < 0.01


def test_hardware_reference_reports_positive_rates():
    reference = hardware_reference(1, words=100_000)
    assert reference["xor_popcount_words_per_s"] > 0 and reference["memory_copy_gb_per_s"] > 0
