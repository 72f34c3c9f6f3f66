import numpy as np

from ssah_tf.evaluation.directions import DIRECTIONS, direction_maps, label_prior_map
from ssah_tf.evaluation.metrics import mean_average_precision


def test_every_direction_whose_modalities_are_present():
    rng = np.random.default_rng(0)
    ql, dl = np.eye(3)[rng.integers(0, 3, 6)], np.eye(3)[rng.integers(0, 3, 20)]
    q = {m: rng.normal(size=(6, 8)) for m in ("label", "image", "text")}
    db = {m: rng.normal(size=(20, 8)) for m in ("image", "text")}
    maps = direction_maps(query_codes=q, database_codes=db, query_labels=ql, database_labels=dl)
    assert set(maps) == {f"map_{d}" for d in DIRECTIONS}
    expected = mean_average_precision(
        query_codes=np.sign(q["text"]),
        database_codes=np.sign(db["image"]),
        query_labels=ql,
        database_labels=dl,
    )
    assert maps["map_t2i"] == expected  # only the signs of real-valued outputs count
    text_only = direction_maps(
        query_codes={"label": q["label"], "text": q["text"]},
        database_codes={"text": db["text"]},
        query_labels=ql,
        database_labels=dl,
        map_variant="first_k_relevant",
        top_k=3,
    )
    assert set(text_only) == {"map_t2t@3", "map_l2t@3"}


def test_label_prior_is_the_database_order():
    # Query label 0; database relevant at positions 2 and 4 (1-based): AP = (1/2 + 2/4) / 2.
    ql = np.array([[1, 0]])
    dl = np.array([[0, 1], [1, 0], [0, 1], [1, 0]])
    assert label_prior_map(query_labels=ql, database_labels=dl) == (1 / 2 + 2 / 4) / 2
