"""Server-side SVG charts: pure functions from numbers to markup.

The dashboard must work on plant networks without internet access, so charts are drawn here
instead of by a JavaScript library. Every text that came from data is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_FONT = 'font-family="sans-serif" font-size="11"'
Point = tuple[float, float]
Scale = Callable[[float], float]
MARKERS_UP_TO = 60
"""Series this short get a dot per point: a few batches read as points, not as a trend line."""


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    # a range narrower than float resolution (a flat series) gets a unit-sized axis
    if high - low <= 1e-9 * max(1.0, abs(low), abs(high)):
        high = low + max(abs(low), 1.0)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    # integer multiples of the step, so no float drift accumulates along the axis
    first, last = math.floor(low / step), math.ceil(high / step)
    # the divisions can underflow to zero for subnormal inputs
    first -= first * step > low
    last += last * step < high
    return [k * step for k in range(first, max(last, first + 1) + 1)]


def format_number(value: float) -> str:
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-2):
        return f"{value:.3g}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _time_label(ms: float, span_ms: float) -> str:
    # a batch's curve spans hours, a product's trend spans weeks: label what differs
    pattern = "%H:%M:%S" if span_ms < 3_600_000 else "%H:%M" if span_ms < 86_400_000 else "%Y-%m-%d"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(pattern)


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{width}" height="{height}" fill="#fff"/>' + "".join(body) + "</svg>"
    )


def _empty(width: int, height: int, title: str) -> str:
    text = f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {_FONT}>no data</text>'
    return _frame(width, height, title, [text])


def line_chart(
    series: Mapping[str, Sequence[Point]], *, title: str, y_unit: str,
    width: int = 720, height: int = 300, time_axis: bool = True,
) -> str:
    """One polyline per series over a shared x axis (epoch ms when `time_axis`)."""
    points = [p for values in series.values() for p in values if math.isfinite(p[1])]
    if not points:
        return _empty(width, height, title)
    left, right, top, bottom = 64, 40, 24, 40
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_ticks = nice_ticks(min(0.0, min(p[1] for p in points)), max(p[1] for p in points))
    x_span = (x_high - x_low) or 1.0
    y_span = (y_ticks[-1] - y_ticks[0]) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x_low) / x_span * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y_ticks[0]) / y_span * plot_h

    body = _y_axis(y_ticks, sy, left, width - right, y_unit)
    body += _x_axis(x_low, x_high, sx, top + plot_h, time_axis)
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values if math.isfinite(y))
        body.append(
            f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{colour}" '
            f'stroke-width="1.5" points="{path}"/>'
        )
        body.append(_legend_entry(index, name, colour, max(left, 16 + 6.5 * len(y_unit)), top))
        if len(values) <= MARKERS_UP_TO:
            body += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>'
                     for x, y in values if math.isfinite(y)]
    return _frame(width, height, title, body)


def _y_axis(ticks: list[float], sy: Scale, x0: float, x1: float, unit: str) -> list[str]:
    out = []
    for tick in ticks:
        y = sy(tick)
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        label = format_number(tick)
        out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{label}</text>')
    out.append(f'<text x="4" y="14" {_FONT}>{escape(unit)}</text>')
    return out


def _x_axis(low: float, high: float, sx: Scale, y: float, time_axis: bool) -> list[str]:
    out = [f'<line x1="{sx(low):.1f}" x2="{sx(high):.1f}" y1="{y}" y2="{y}" stroke="#333"/>']
    for index in range(5):
        x = low + (high - low) * index / 4
        label = _time_label(x, high - low) if time_axis else format_number(x)
        out.append(f'<text x="{sx(x):.1f}" y="{y + 16}" text-anchor="middle" {_FONT}>{label}</text>')
    return out


def _legend_entry(index: int, name: str, colour: str, left: float, top: float) -> str:
    x = left + 8 + index * 130
    return (
        f'<rect x="{x}" y="{top - 16}" width="10" height="10" fill="{colour}"/>'
        f'<text x="{x + 14}" y="{top - 7}" {_FONT}>{escape(name)}</text>'
    )


def bar_chart(
    items: Sequence[tuple[str, float]], *, title: str, unit: str, width: int = 480, bar_height: int = 22,
) -> str:
    """Horizontal bars, one per (label, value); negative values are drawn as zero-length."""
    if not items:
        return _empty(width, 60, title)
    label_w, value_w, gap = 150, 90, 6
    height = len(items) * (bar_height + gap) + gap
    largest = max((v for _, v in items if math.isfinite(v)), default=0.0) or 1.0
    body = []
    for index, (label, value) in enumerate(items):
        y = gap + index * (bar_height + gap)
        length = max(0.0, value) / largest * (width - label_w - value_w) if math.isfinite(value) else 0.0
        colour = PALETTE[index % len(PALETTE)]
        text_y = y + bar_height * 0.7
        body.append(
            f'<text x="{label_w - 6}" y="{text_y:.1f}" text-anchor="end" {_FONT}>{escape(label)}</text>'
        )
        body.append(
            f'<rect class="bar" data-label="{escape(label)}" data-value="{value!r}" x="{label_w}" y="{y}" '
            f'width="{length:.1f}" height="{bar_height}" fill="{colour}"/>'
        )
        body.append(
            f'<text x="{label_w + length + 4:.1f}" y="{text_y:.1f}" {_FONT}>'
            f"{format_number(value)} {escape(unit)}</text>"
        )
    return _frame(width, height, title, body)
