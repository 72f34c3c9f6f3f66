"""ssah-table's text: the paper's layout with our figures beside it."""

import numpy as np

from ssah_tf.evaluation.table_text import paper_markdown
from ssah_tf.evaluation.tables import group_rows, read_run
from tests.evaluation.test_tables import write_run


def test_paper_layout_puts_ours_beside_the_paper(tmp_path):
    runs = [
        write_run(
            tmp_path / f"s{s}",
            seed=s,
            dataset="mirflickr25k",
            k=None,
            maps={"i2t": 0.78 + 0.01 * s, "t2i": 0.8},
        )
        for s in (0, 1)
    ]
    rows = group_rows(read_run(r) for r in runs)
    paper = [
        {
            "dataset": "mirflickr25k",
            "backbone": "mlp",
            "bits": "16",
            "direction": "i2t",
            "map": "0.782",
        },
        {
            "dataset": "mirflickr25k",
            "backbone": "mlp",
            "bits": "32",
            "direction": "i2t",
            "map": "0.790",
        },
    ]
    text = paper_markdown(paper, rows)
    assert "| mirflickr25k (mlp) | i→t | 0.785 ± 0.007 (2) / 0.782 | — / 0.790 |" in text
    assert np.isclose(np.std([0.78, 0.79], ddof=1), 0.00707, atol=1e-5)
