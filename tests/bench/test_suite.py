"""The benchmark suite's pieces: its configuration and the reference mAP loops."""

import pytest

from ssah_tf.bench.suite import BenchConfig, _map_case, optimised_loop_map, release_style_map
from ssah_tf.evaluation.metrics import mean_average_precision


def test_reference_loops_agree_with_the_metric():
    config = BenchConfig.quick(map_queries=40, map_database=150)
    for bits in (16, 64):
        qc, dc, ql, dl = _map_case(config, bits)
        ours = mean_average_precision(
            query_codes=qc, database_codes=dc, query_labels=ql, database_labels=dl
        )
        assert release_style_map(qc, dc, ql, dl) == pytest.approx(ours, abs=1e-12)
        assert optimised_loop_map(qc, dc, ql, dl) == pytest.approx(ours, abs=1e-12)
