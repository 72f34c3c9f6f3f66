import pytest

from ssah_tf.evaluation.selection import ModelSelection, selection_directions, selection_value


def record(epoch, test, validation=None):
    out = {"epoch": epoch, "test": {"map_i2t": test[0], "map_t2i": test[1], "map_l2t": 0.9}}
    if validation is not None:
        out["validation"] = {"map_i2t": validation[0], "map_t2i": validation[1], "map_l2t": 0.9}
    return out


def test_selection_directions_and_values():
    maps = {"map_i2t": 0.6, "map_t2i": 0.8, "map_l2t": 0.99}
    assert selection_directions(maps) == ["map_i2t", "map_t2i"]
    assert selection_value(maps, "mean") == pytest.approx(0.7)
    assert selection_value(maps, "min") == pytest.approx(0.6)
    text_only = {"map_l2t": 0.9, "map_t2t": 0.7}
    assert selection_directions(text_only) == ["map_l2t", "map_t2t"]
    assert selection_value(text_only, "min") == pytest.approx(0.7)
    with pytest.raises(ValueError):
        selection_value(maps, "median")


def test_validation_selection_never_reads_the_test_maps():
    # Test and validation disagree on every epoch: the test maps rise, validation peaks at 1.
    history = [
        record(0, (0.5, 0.5), (0.70, 0.70)),
        record(1, (0.6, 0.6), (0.80, 0.80)),
        record(2, (0.9, 0.9), (0.75, 0.75)),
    ]
    assert ModelSelection("validation", "mean").best(history)["epoch"] == 1
    assert ModelSelection("test", "mean").best(history)["epoch"] == 2
    assert ModelSelection("last", "mean").best(history)["epoch"] == 2
    # A record without validation maps cannot be selected on validation.
    with pytest.raises(ValueError, match="no validation"):
        ModelSelection("validation").value(record(3, (0.5, 0.5)))


def test_min_criterion_prefers_the_balanced_epoch():
    # Epoch 0: mean 0.80 but one direction at 0.65; epoch 1: mean 0.78, both >= 0.76.
    history = [record(0, (0, 0), (0.95, 0.65)), record(1, (0, 0), (0.80, 0.76))]
    assert ModelSelection("validation", "mean").best(history)["epoch"] == 0
    assert ModelSelection("validation", "min").best(history)["epoch"] == 1


def test_ties_keep_the_earlier_epoch_and_early_stopping_counts_evaluations():
    selection = ModelSelection("validation", "mean", patience=2)
    history = [
        record(0, (0, 0), (0.7, 0.7)),
        record(1, (0, 0), (0.8, 0.8)),
        record(2, (0, 0), (0.8, 0.8)),
    ]
    assert selection.best(history)["epoch"] == 1  # equal later: not an improvement
    assert not selection.improves(history[2], history[:2])
    assert selection.improves(history[1], history[:1]) and selection.improves(history[0], [])
    assert selection.evaluations_since_best(history) == 1
    assert not selection.should_stop(history)
    history.append(record(3, (0, 0), (0.79, 0.79)))
    assert selection.evaluations_since_best(history) == 2 and selection.should_stop(history)
    assert not ModelSelection("validation", "mean", patience=0).should_stop(history)
    # Never stopped by the test queries' figure.
    assert not ModelSelection("test", "mean", patience=1).should_stop(history)
    assert not selection.should_stop([])


def test_invalid_selection_settings():
    with pytest.raises(ValueError, match="select_on"):
        ModelSelection("train")
    with pytest.raises(ValueError, match="criterion"):
        ModelSelection("validation", "max")
    with pytest.raises(ValueError, match="patience"):
        ModelSelection("validation", "mean", patience=-1)
