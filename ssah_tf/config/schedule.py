"""The training schedule as the user sets it (ScheduleConfig); the tables a schedule
becomes live in training/schedules.py."""

from __future__ import annotations

import dataclasses

from ssah_tf.fields import check_fields, setting

SCHEDULES = ("paper", "release")

# Epochs of each schedule when not given: the paper preset's 20; the release's
# setting.py says 500 (its learning-rate lists stop it near epoch 189).
DEFAULT_EPOCHS = {"paper": 20, "release": 500}


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """The training schedule as the user sets it: ``name`` selects a table of stages
    (:func:`schedule_table`); the paper table is built from the knobs below, the
    release's is fixed (its setting.py)."""

    name: str = setting(
        "paper",
        "Training schedule: paper, or release = its setting.py exactly (docs/method.md §4).",
        choices=SCHEDULES,
        flag=False,
    )
    epochs: int | None = setting(
        None,
        "Epochs (default: 20 paper, 500 release as setting.py; "
        "the release's learning-rate lists stop it near epoch 189).",
        rule="positive_int",
    )
    batch_size: int = setting(
        128, "Global batch size (split across replicas).", rule="positive_int"
    )
    # Paper schedule knobs (ignored by the release schedule). Learning rates from a sweep
    # on the demo (experiments/RESULTS.md): lab 1e-3 beat 1e-2 and 1e-4; img = txt = 3e-4
    # beat 1e-4 and 1e-3.
    lr_lab: float = setting(1e-3, "Paper schedule: Adam learning rate of LabNet.", rule="positive")
    lr_img: float = setting(3e-4, "Paper schedule: Adam learning rate of ImgNet.", rule="positive")
    lr_txt: float = setting(3e-4, "Paper schedule: Adam learning rate of TxtNet.", rule="positive")
    lr_dis: float = setting(
        1e-4, "Paper schedule: Adam learning rate of the discriminators.", rule="positive"
    )
    lr_decay: float = setting(
        0.9, "Paper schedule: learning-rate factor per epoch.", rule="positive"
    )
    passes_lab: int = setting(2, "Paper schedule: passes of LabNet per epoch.", rule="positive_int")
    passes_img: int = setting(2, "Paper schedule: passes of ImgNet per epoch.", rule="positive_int")
    passes_txt: int = setting(2, "Paper schedule: passes of TxtNet per epoch.", rule="positive_int")
    passes_dis: int = setting(
        1, "Paper schedule: passes of the discriminators per epoch.", rule="positive_int"
    )
    # 2 passes of 1,000 items at batch 128 are 14 steps, too few for LabNet to leave its
    # start.
    min_stage_steps: int = setting(
        100,
        "Paper schedule: LabNet, ImgNet and TxtNet stages run "
        "at least this many steps (more passes on small training "
        "sets).",
        rule="non_negative_int",
    )

    def __post_init__(self):
        check_fields(self)
        if self.epochs is None:
            object.__setattr__(self, "epochs", DEFAULT_EPOCHS[self.name])
