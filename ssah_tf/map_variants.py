"""The mAP variants and the results keys they are reported under, named once.

``map_<direction>`` (over the whole ranking), ``map_<direction>@<k>`` (a variant with
its k; the variant itself is named in the results' protocol),
``map_tie_aware_<direction>`` and ``precision_r2_<direction>``. Pure Python: the
configuration, the metrics, the tables and the report all read them from here.
"""

from __future__ import annotations

MAP_VARIANTS = ("all", "top_k", "first_k_relevant")


def map_variant_and_k(map_variant: str | None, top_k: int | None) -> tuple[str, int | None]:
    """The variant and its k, checked: None means ``top_k`` when a k is given, else
    ``all``; ``all`` takes no k and the other two need one (ValueError otherwise)."""
    variant = map_variant or ("top_k" if top_k is not None else "all")
    if variant not in MAP_VARIANTS:
        raise ValueError(f"map_variant={variant!r}; use one of {', '.join(MAP_VARIANTS)}")
    if variant == "all" and top_k is not None:
        raise ValueError(
            f"top_k={top_k} is given with map_variant='all', which ranks the "
            "whole database; choose top_k or first_k_relevant, or drop top_k"
        )
    if variant != "all":
        if top_k is None:
            raise ValueError(f"map_variant={variant!r} needs top_k (the k)")
        if int(top_k) <= 0:
            raise ValueError("top_k must be positive")
    return variant, (None if top_k is None else int(top_k))


def map_key(direction: str, map_variant: str | None = None, top_k: int | None = None) -> str:
    """The results key of a direction's mAP: ``map_<direction>``, or with a k
    ``map_<direction>@<k>``."""
    _, k = map_variant_and_k(map_variant, top_k)
    return f"map_{direction}" if k is None else f"map_{direction}@{k}"


def tie_aware_key(direction: str) -> str:
    """The results key of a direction's tie-aware mAP."""
    return f"map_tie_aware_{direction}"


def precision_within_radius_key(direction: str, radius: int = 2) -> str:
    """The results key of a direction's precision within a Hamming radius."""
    return f"precision_r{radius}_{direction}"


def queries_within_radius_key(direction: str, radius: int = 2) -> str:
    """The results key of how many queries that precision averages over (those that
    retrieve at least one item within the radius)."""
    return f"queries_r{radius}_{direction}"
