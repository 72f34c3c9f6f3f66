"""The method's configuration: presets as data and per-field overrides."""

import pytest

from ssah_tf.config.method import PRESETS, make_config, preset_differences, preset_fields
from ssah_tf.errors import UserError


def test_presets_differ_only_in_named_fields_and_any_field_overrides():
    paper, release = make_config("paper"), make_config("release")
    differing = {name for name, _, _ in preset_differences()}
    assert "pairwise_form" in differing and "bits" not in differing
    assert paper.loss.pairwise_form != release.loss.pairwise_form
    assert make_config("paper", bits=32).network.bits == 32
    assert make_config("paper", discriminator_hidden=[8, 4]).network.discriminator_hidden == (8, 4)
    assert set(PRESETS) == {"paper", "release"} and "bits" in preset_fields()


def test_bad_presets_fields_and_values_are_one_line_user_errors():
    with pytest.raises(UserError, match="unknown preset 'paperr'"):
        make_config("paperr")
    with pytest.raises(UserError, match="unknown configuration field 'bitz'"):
        make_config("paper", bitz=16)
    with pytest.raises(UserError, match="`bits='16'` must be a positive integer"):
        make_config("paper", bits="16")
