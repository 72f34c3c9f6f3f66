"""build_trainer hands the Trainer its parts, each wired to the handles it reads."""

from tests.conftest import get_strategy
from tests.training.tiny import tiny_trainer


def test_the_trainer_is_handed_its_parts_and_hooks(tmp_path):
    marker = []
    trainer = tiny_trainer(tmp_path, get_strategy(1), pass_hooks=[marker.append])
    assert trainer.pass_hooks[0] is not None and len(trainer.pass_hooks) == 1
    # Every save is checked finite first; stop signals reach the runner's loops.
    assert trainer.saves.before_save == trainer.divergence.check_weights
    assert trainer.signals.stop_requested is trainer.runner.stop_requested
    assert trainer.signals.latest_checkpoint() is None and trainer.saves.latest is None
    assert trainer.table is trainer.runner.table and trainer.is_chief
    assert trainer.progress is not None and trainer.evaluator is not None
