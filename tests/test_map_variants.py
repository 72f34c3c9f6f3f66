"""mAP variants and their results keys."""

import pytest

from ssah_tf.map_variants import (
    map_key,
    map_variant_and_k,
    precision_within_radius_key,
    tie_aware_key,
)


def test_map_variant_checks_and_keys():
    assert map_variant_and_k(None, None) == ("all", None)
    assert map_variant_and_k(None, 50) == ("top_k", 50)
    assert map_variant_and_k("first_k_relevant", 5000) == ("first_k_relevant", 5000)
    with pytest.raises(ValueError, match="given with map_variant='all'"):
        map_variant_and_k("all", 5)
    with pytest.raises(ValueError, match="needs top_k"):
        map_variant_and_k("first_k_relevant", None)
    with pytest.raises(ValueError, match="map_variant="):
        map_variant_and_k("mean", None)
    with pytest.raises(ValueError, match="positive"):
        map_variant_and_k("top_k", 0)
    assert map_key("i2t") == "map_i2t" and map_key("t2i", "first_k_relevant", 50) == "map_t2i@50"
    assert tie_aware_key("i2t") == "map_tie_aware_i2t"
    assert precision_within_radius_key("t2t") == "precision_r2_t2t"
