"""Configuration fields that carry their own help, choices and rule.

Every setting is declared once, in its frozen dataclass, with :func:`setting`: the
default, a help line, and the values it accepts. The dataclass checks its fields when
built (:func:`check_fields`, from ``__post_init__``) and the command-line tools derive
their flags (default, help, enum choices) from the same declaration.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from ssah_tf.errors import UserError


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _non_negative_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "positive_int": (_positive_int, "must be a positive integer"),
    "non_negative_int": (_non_negative_int, "must be a non-negative integer"),
    "positive": (lambda v: _number(v) and v > 0, "must be a positive finite number"),
    "non_negative": (lambda v: _number(v) and v >= 0, "must be a finite number >= 0"),
    "unit_open_right": (lambda v: _number(v) and 0 <= v < 1, "must be in [0, 1)"),
    "unit_open_left": (lambda v: _number(v) and 0 < v <= 1, "must be in (0, 1]"),
    "positive_ints": (
        lambda v: isinstance(v, tuple) and all(_positive_int(x) for x in v),
        "must be positive integers",
    ),
}


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple | None = None,
    rule: str | None = None,
    flag: bool = True,
) -> Any:
    """A dataclass field with its help line, accepted ``choices`` or ``rule`` (a key of
    :data:`RULES`); ``flag=False`` for fields the command line does not set directly."""
    if rule is not None and rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    metadata = {"help": help, "choices": choices, "rule": rule, "flag": flag}
    if isinstance(default, (list, dict, set)):
        raise ValueError("use tuples for defaults")
    return dataclasses.field(default=default, metadata=metadata)


_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "True or False"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "tuple": (lambda v: isinstance(v, (tuple, list)), "a sequence such as a tuple"),
}


def type_problem(field: dataclasses.Field, value: Any) -> str | None:
    """Why ``value`` is not of ``field``'s declared type (None: it is, or the type is
    not one checked here). Strings are never taken for sequences."""
    annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    kinds = [part.strip().split("[")[0] for part in annotation.split("|")]
    if value is None or any(kind not in _KINDS for kind in kinds if kind != "None"):
        return None
    if any(_KINDS[kind][0](value) for kind in kinds if kind != "None"):
        return None
    expected = " or ".join(_KINDS[kind][1] for kind in kinds if kind != "None")
    return f"must be {expected}, not {type(value).__name__} {value!r}"


def check_fields(obj: Any) -> None:
    """UserError naming the first field of ``obj`` whose value its declaration refuses
    (None passes where the field allows it: a default of None, or the preset's)."""
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        meta = field.metadata
        if value is None or not meta:
            continue
        choices, rule = meta.get("choices"), meta.get("rule")
        # Tuples as typed on a command line (16,0), strings quoted, numbers as they are.
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else repr(value)
        if choices is not None and value not in choices:
            raise UserError(
                f"`{field.name}={shown}` is not valid; use one of {', '.join(map(str, choices))}"
            )
        if rule is not None and not RULES[rule][0](value):
            raise UserError(f"`{field.name}={shown}` {RULES[rule][1]}")
        problem = type_problem(field, value)
        if problem:
            raise UserError(f"`{field.name}` {problem}")


def declared(cls) -> dict[str, dataclasses.Field]:
    """name -> field of every declared setting of ``cls``."""
    return {f.name: f for f in dataclasses.fields(cls) if f.metadata}
