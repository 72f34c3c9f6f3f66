import dataclasses

import pytest

from ssah_tf.errors import UserError
from ssah_tf.fields import RULES, check_fields, declared, setting


@dataclasses.dataclass(frozen=True)
class Example:
    size: int = setting(3, "A size.", rule="positive_int")
    form: str = setting("a", "A form.", choices=("a", "b"))
    rate: float = setting(0.5, "A rate.", rule="unit_open_left")
    optional: int | None = setting(None, "Optional.", rule="positive_int")
    plain: int = 0

    def __post_init__(self):
        check_fields(self)


def test_declared_fields_check_themselves():
    Example()
    Example(size=1, form="b", rate=1.0, optional=2)
    with pytest.raises(UserError, match=r"`size=0` must be a positive integer"):
        Example(size=0)
    with pytest.raises(UserError, match=r"`size=True` must be a positive integer"):
        Example(size=True)  # a bool is not an integer setting
    with pytest.raises(UserError, match=r"`form='c'` is not valid; use one of a, b"):
        Example(form="c")
    with pytest.raises(UserError, match=r"`rate=nan` must be in \(0, 1\]"):
        Example(rate=float("nan"))
    assert set(declared(Example)) == {"size", "form", "rate", "optional"}
    assert declared(Example)["size"].metadata["help"] == "A size."


def test_rules_by_hand():
    positive, _ = RULES["positive"]
    assert positive(1e-9) and not positive(0) and not positive(float("inf"))
    ints, _ = RULES["positive_ints"]
    assert ints((1, 2)) and not ints((1, 0)) and not ints([1, 2])
    with pytest.raises(ValueError, match="unknown rule"):
        setting(1, "x", rule="prime")
