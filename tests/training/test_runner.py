"""The parts of a run and the stage runner, used alone (as the benchmark does)."""

import numpy as np

from ssah_tf.training.runner import StageRunner, build_parts
from tests.conftest import get_strategy
from tests.training.tiny import state, tiny_trainer


def test_a_standalone_runner_steps_exactly_as_the_trainer(tmp_path):
    """Same config and seed: the Trainer's runner and one built from build_parts alone
    start from the same weights and banks and take the same steps."""
    trainer = tiny_trainer(tmp_path / "t", get_strategy(1), epochs=1)
    config, data, split = trainer.config, trainer.data, trainer.split
    import keras

    keras.utils.set_random_seed(config.run.seed)  # as tiny_trainer does before building
    parts = build_parts(config, data, split, get_strategy(1))
    runner = StageRunner(parts)
    for net in ("lab", "img", "txt", "dis"):
        for r in (trainer.runner, runner):
            r.new_pass_table()
            r.run_steps(net, 0, 2)
    np.testing.assert_array_equal(
        trainer.parts.state.pass_table.numpy(), parts.state.pass_table.numpy()
    )
    ours = {k: v for k, v in state(trainer).items()}
    theirs = {}
    for name, item in parts.networks.checkpoint_items().items():
        for v in item.weights:
            theirs[f"{name}/{v.path}"] = v.numpy()
    for key, value in theirs.items():
        np.testing.assert_array_equal(value, ours[key], err_msg=key)
    for name, bank in parts.state.banks.items():
        np.testing.assert_array_equal(
            bank.hash.numpy(), trainer.parts.state.banks[name].hash.numpy()
        )


def test_parts_and_runner_geometry(tmp_path):
    trainer = tiny_trainer(tmp_path, get_strategy(1), batch_size=8)
    parts, runner = trainer.parts, trainer.runner
    assert parts.num_train == 32 and parts.batch_size == 8 and parts.steps_per_pass == 4
    assert parts.networks_present == ("lab", "img", "txt", "dis")
    assert runner.term_names("dis") == ["IL", "L1", "TL", "L2", "total"]
    assert not runner.needs_image_batches("img")  # the mlp backbone reads features
    sums = runner.run_steps("lab", 0, 3)
    assert sums.shape == (len(runner.term_names("lab")),) and np.all(np.isfinite(sums))
    assert set(runner.discriminator_accuracy()) == {"IL", "L1", "TL", "L2"}
