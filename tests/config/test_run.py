"""The run's configuration: mAP variant checks, preset run defaults, field rules."""

import pytest

from ssah_tf.config.run import RunConfig, check_map_variant, preset_run_defaults
from ssah_tf.errors import UserError


def test_map_variant_and_k_go_together():
    check_map_variant(None, None)
    check_map_variant("top_k", 50)
    with pytest.raises(UserError, match="`map_variant='first_k_relevant'` needs `map_top_k`"):
        check_map_variant("first_k_relevant", None)
    with pytest.raises(UserError, match="is given with `map_variant='all'`"):
        check_map_variant("all", 5)


def test_release_selects_on_test_queries_and_runs_check_their_fields():
    assert preset_run_defaults("release")["select_on"] == "test"
    assert preset_run_defaults("paper") == {}
    with pytest.raises(UserError, match="`modalities="):
        RunConfig(modalities=("audio",))
    assert RunConfig(backbone="mlp").picture_size == 32
