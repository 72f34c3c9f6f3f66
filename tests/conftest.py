"""Test set-up: two virtual CPU devices (before TF initialises) and shared paths."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:  # already initialised by an earlier import
    pass

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared"
GOLDEN = SHARED / "golden"
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def golden_dir():
    if not (GOLDEN / "golden.npz").exists():
        pytest.skip(f"golden data not found at {GOLDEN} (../shared beside the checkout)")
    return GOLDEN


@pytest.fixture(scope="session")
def shared_data_dir():
    if not DATA.exists():
        pytest.skip(f"real data not found at {DATA} (../shared/data beside the checkout)")
    return DATA


_STRATEGIES = {}


def get_strategy(replicas: int) -> tf.distribute.Strategy:
    """One strategy object per replica count for the whole session.

    A second MirroredStrategy over the same devices in one process reuses
    collective instance keys and clashes with the first one's ops, so tests
    share these instead of building their own.
    """
    if replicas not in _STRATEGIES:
        _STRATEGIES[replicas] = (
            tf.distribute.OneDeviceStrategy("/cpu:0")
            if replicas == 1
            else tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
        )
    return _STRATEGIES[replicas]
