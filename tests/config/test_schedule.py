"""The schedule as the user sets it: default epochs follow the schedule's name."""

import pytest

from ssah_tf.config.schedule import DEFAULT_EPOCHS, ScheduleConfig
from ssah_tf.errors import UserError


def test_default_epochs_and_rules():
    assert ScheduleConfig().epochs == DEFAULT_EPOCHS["paper"] == 20
    assert ScheduleConfig(name="release").epochs == 500
    assert ScheduleConfig(epochs=3).epochs == 3
    with pytest.raises(UserError, match="`batch_size=0` must be a positive integer"):
        ScheduleConfig(batch_size=0)
