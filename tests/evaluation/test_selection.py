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


def test_tolerance_lets_a_higher_mean_win_within_a_small_drop_of_the_weaker_direction():
    # The demo's seed-2 case by hand: after epoch 0 the weaker direction (i->t) falls by
    # 0.004 while the other rises by 0.037 (mean 0.768 -> 0.784).
    history = [record(0, (0, 0), (0.738, 0.798)), record(1, (0, 0), (0.734, 0.835))]
    assert ModelSelection("validation", "min").best(history)["epoch"] == 0
    tolerant = ModelSelection("validation", "min", tolerance=0.005)
    assert tolerant.best(history)["epoch"] == 1
    assert tolerant.improves(history[1], history[:1])
    # A drop of more than the tolerance is a drop, whatever the mean does.
    dropped = [history[0], record(1, (0, 0), (0.732, 0.90))]
    assert tolerant.best(dropped)["epoch"] == 0
    # A higher weaker direction still wins with a lower mean (the plain min's rule).
    assert tolerant.best([history[0], record(1, (0, 0), (0.739, 0.74))])["epoch"] == 1
    # The tolerance is measured from the highest weaker direction so far, not from the
    # current best, so small steps cannot walk it down: 0.740 -> 0.736 (mean up) -> 0.732.
    walk = [
        record(0, (0, 0), (0.740, 0.80)),
        record(1, (0, 0), (0.736, 0.82)),
        record(2, (0, 0), (0.732, 0.84)),
    ]
    assert [tolerant.improves(r, walk[:i]) for i, r in enumerate(walk)] == [True, True, False]
    assert tolerant.best(walk)["epoch"] == 1
    # The mean criterion and the release's test selection ignore the tolerance.
    assert ModelSelection("validation", "mean", tolerance=0.005).best(dropped)["epoch"] == 1
    assert (
        ModelSelection("validation", "min", tolerance=0.005)
        .describe()
        .startswith("the min of the selection directions (within 0.005")
    )


def test_tolerance_keeps_a_run_going_while_the_mean_rises():
    # MIRFLICKR-25K's text side by hand: t->t levels off at 0.767-0.765 from epoch 2 on
    # while l->t rises by 0.001 an epoch; the plain min stops after `patience` epochs.
    def text_record(epoch, t2t, l2t):
        return {"epoch": epoch, "validation": {"map_t2t": t2t, "map_l2t": l2t}, "test": {}}

    history = [text_record(0, 0.760, 0.870), text_record(1, 0.764, 0.875)]
    history += [
        text_record(e, t2t, 0.878 + 0.001 * e)
        for e, t2t in zip(range(2, 8), (0.767, 0.765, 0.765, 0.766, 0.765, 0.766))
    ]
    plain = ModelSelection("validation", "min", patience=5)
    tolerant = ModelSelection("validation", "min", patience=5, tolerance=0.005)
    assert plain.best(history)["epoch"] == 2 and plain.should_stop(history)
    assert tolerant.best(history)["epoch"] == 7 and not tolerant.should_stop(history)


def test_invalid_selection_settings():
    with pytest.raises(ValueError, match="select_on"):
        ModelSelection("train")
    with pytest.raises(ValueError, match="criterion"):
        ModelSelection("validation", "max")
    with pytest.raises(ValueError, match="patience"):
        ModelSelection("validation", "mean", patience=-1)
    with pytest.raises(ValueError, match="tolerance"):
        ModelSelection("validation", "min", tolerance=-0.1)
    with pytest.raises(ValueError, match="tolerance"):
        ModelSelection("validation", "min", tolerance=float("nan"))
