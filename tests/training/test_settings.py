"""Settings checked and resolved: the config fields by name, types, paths, CLI words."""

import pathlib

import numpy as np
import pytest

from ssah_tf.errors import UserError
from ssah_tf.training.session import prepare
from ssah_tf.training.settings import check_setting_types, path_argument, setting_names


def test_settings_are_the_config_fields():
    names = setting_names()
    for name, owner in (
        ("dataset", "data"),
        ("preset", "ssah"),
        ("pairwise_form", "ssah"),
        ("schedule", "schedule"),
        ("lr_img", "schedule"),
        ("select_on", "run"),
        ("map_variant", "run"),
    ):
        assert names[name] == owner
    with pytest.raises(UserError, match="unknown setting `lr_image`"):
        prepare(None, lr_image=1e-3)


def test_setting_types_are_checked_and_paths_and_numpy_scalars_converted():
    checked = check_setting_types(
        {"data_path": pathlib.Path("/d/x.npz"), "bits": np.int64(16), "modalities": "text"}
    )
    assert checked == {"data_path": "/d/x.npz", "bits": 16, "modalities": "text"}
    assert type(checked["bits"]) is int
    for settings, fragment in (
        ({"modalities": "audio"}, "`modalities=audio` is not valid"),
        ({"discriminator_hidden": "32,16"}, "`discriminator_hidden` must be a sequence"),
        ({"lr_img": "fast"}, "`lr_img` must be a number"),
        ({"preset": 1}, "`preset` must be a string"),
        ({"data_path": 5}, "`data_path` must be a string"),
    ):
        with pytest.raises(UserError, match=fragment):
            check_setting_types(settings)
    assert path_argument("model_dir", None) is None
    with pytest.raises(UserError, match="`path` must be a path"):
        path_argument("path", None, required=True)
    with pytest.raises(UserError, match="`model_dir` must be a path"):
        path_argument("model_dir", "")
