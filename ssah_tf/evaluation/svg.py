"""Small inline SVG charts for the retrieval report (no plotting library needed):
line charts for the curves, grouped bars for histograms."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
_MARGIN = (44, 96, 14, 36)  # left, right (the legend), top, bottom


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` ticks at round numbers (a step of 1, 2, 2.5 or 5 times a power
    of ten) from ``low`` to ``high``."""
    if high <= low:
        return [low]
    raw = (high - low) / (count - 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = max(m * magnitude for m in (1, 2, 2.5, 5) if m * magnitude <= raw * (1 + 1e-9))
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _frame(
    width: int,
    height: int,
    x_label: str,
    y_label: str,
    x_ticks,
    y_ticks,
    sx,
    sy,
    x_format,
    y_format,
    title: str,
) -> list[str]:
    left, right, top, bottom = _MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f"<title>{html.escape(title)}</title>",
        f'<rect x="{left}" y="{top}" width="{width - left - right}" '
        f'height="{height - top - bottom}" fill="none" stroke="#999"/>',
    ]
    for t in x_ticks:
        x = sx(t)
        parts.append(
            f'<line x1="{x:.1f}" y1="{height - bottom}" x2="{x:.1f}" '
            f'y2="{height - bottom + 4}" stroke="#999"/>'
            f'<text x="{x:.1f}" y="{height - bottom + 14}" font-size="10" '
            f'text-anchor="middle">{html.escape(x_format(t))}</text>'
        )
    for t in y_ticks:
        y = sy(t)
        parts.append(
            f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" '
            f'stroke="#999"/><text x="{left - 6}" y="{y + 3:.1f}" font-size="10" '
            f'text-anchor="end">{html.escape(y_format(t))}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2:.1f}" y="{height - 4}" font-size="11" '
        f'text-anchor="middle">{html.escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="11" y="{(top + height - bottom) / 2:.1f}" font-size="11" '
        f'text-anchor="middle" transform="rotate(-90 11 {(top + height - bottom) / 2:.1f})">'
        f"{html.escape(y_label)}</text>"
    )
    return parts


def _legend(names: Sequence[str], width: int) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        y = _MARGIN[2] + 8 + 13 * i
        x = width - _MARGIN[1] + 8
        parts.append(
            f'<rect x="{x}" y="{y - 7}" width="8" height="8" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{x + 11}" y="{y}" '
            f'font-size="10">{html.escape(name)}</text>'
        )
    return parts


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    x_label: str,
    y_label: str,
    title: str,
    log_x: bool = False,
    width: int = 380,
    height: int = 230,
) -> str:
    """Lines (with point marks) of named (x, y) series; y on [0, 1]."""
    left, right, top, bottom = _MARGIN
    xs = [float(x) for xs_, _ in series.values() for x in xs_]
    transform = (lambda v: math.log10(max(v, 1e-12))) if log_x else float
    low, high = (min(map(transform, xs)), max(map(transform, xs))) if xs else (0.0, 1.0)
    if high == low:
        high = low + 1.0

    def sx(v):
        return left + (transform(v) - low) / (high - low) * (width - left - right)

    def sy(v):
        return height - bottom - max(0.0, min(1.0, v)) * (height - top - bottom)

    if log_x:
        x_ticks = [
            10.0**e
            for e in range(math.floor(low), math.ceil(high) + 1)
            if low - 1e-9 <= e <= high + 1e-9
        ]
    else:
        x_ticks = _ticks(10**low if log_x else low, high)
    parts = _frame(
        width,
        height,
        x_label,
        y_label,
        x_ticks,
        _ticks(0.0, 1.0),
        sx,
        sy,
        lambda t: f"{t:g}",
        lambda t: f"{t:.2f}",
        title,
    )
    for i, (x_values, y_values) in enumerate(series.values()):
        color = PALETTE[i % len(PALETTE)]
        points = " ".join(
            f"{sx(float(x)):.1f},{sy(float(y)):.1f}" for x, y in zip(x_values, y_values)
        )
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>'
        )
        parts.extend(
            f'<circle cx="{sx(float(x)):.1f}" cy="{sy(float(y)):.1f}" r="2" fill="{color}"/>'
            for x, y in zip(x_values, y_values)
        )
    parts.extend(_legend(list(series), width))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    groups: Mapping[str, Sequence[float]],
    *,
    x_label: str,
    y_label: str,
    title: str,
    width: int = 380,
    height: int = 230,
    y_max: float | None = None,
) -> str:
    """Grouped bars: for every position 0..n-1 one bar per named group."""
    left, right, top, bottom = _MARGIN
    names = list(groups)
    length = max((len(v) for v in groups.values()), default=0)
    peak = y_max or max((float(x) for v in groups.values() for x in v), default=1.0) or 1.0
    slot = (width - left - right) / max(length, 1)
    bar = slot / (len(names) + 1)

    def sx(position):
        return left + (position + 0.5) * slot

    def sy(v):
        return height - bottom - min(float(v), peak) / peak * (height - top - bottom)

    step = max(1, length // 8)
    parts = _frame(
        width,
        height,
        x_label,
        y_label,
        list(range(0, length, step)),
        _ticks(0.0, peak),
        sx,
        sy,
        lambda t: f"{int(t)}",
        lambda t: f"{t:.2g}",
        title,
    )
    for g, name in enumerate(names):
        color = PALETTE[g % len(PALETTE)]
        for position, value in enumerate(groups[name]):
            x = left + position * slot + bar * (g + 0.5)
            y = sy(value)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{height - bottom - y:.1f}" fill="{color}"/>'
            )
    parts.extend(_legend(names, width))
    parts.append("</svg>")
    return "".join(parts)
