"""The progress lines: steps per second, the epoch's ETA, the epoch table."""

import logging

import numpy as np
from absl import logging as absl_logging

from ssah_tf.training.progress import Progress
from ssah_tf.training.schedules import StagePlan


def stage(network, passes, index=0):
    return StagePlan(network=network, index=index, passes=passes, learning_rate=1e-3)


class Lines(logging.Handler):
    """The messages absl's logger emits (whatever other tests did to its propagation)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        self.logger = absl_logging.get_absl_logger()
        # Not `self.level`: that is this handler's own threshold.
        self.saved_level = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved_level)


def test_pass_lines_and_the_eta_from_each_networks_last_pass():
    progress = Progress()
    with Lines() as caplog:
        # An img pass of 3 s, then a txt pass of 2 s with one txt pass and an img stage of
        # 2 passes left: ETA = 2 (txt) + 2 * 3 (img, its last pass) = 8 s.
        progress.pass_done(
            epoch=0,
            stage=stage("img", 3),
            pass_index=0,
            names=["a", "total"],
            means=np.array([1.0, 2.0]),
            seconds=3.0,
            steps_per_second=10 / 3,  # 10 steps in 3 s
            monitored=None,
            remaining_stages=[],
            stopped=False,
        )
        progress.pass_done(
            epoch=0,
            stage=stage("txt", 2),
            pass_index=0,
            names=["a", "total"],
            means=np.array([1.0, 2.5]),
            seconds=2.0,
            steps_per_second=5.0,
            monitored=0.25,
            remaining_stages=[stage("img", 2, 1)],
            stopped=True,
        )
    lines = [r.getMessage() for r in caplog.records]
    assert "epoch 0 img[0] pass 1/3: 3.3 steps/s, loss 2 (a 1)" in lines[0]
    assert "monitor 0.25 -> early break, epoch ETA 00:00:08" in lines[1]
    with Lines() as caplog:
        progress.epoch_done(0, 12.5)
    table = caplog.records[-1].getMessage()
    assert "epoch 0 summary (12.5 s)" in table and "img[0]" in table and "txt[0]" in table
    assert progress.rows == {}
