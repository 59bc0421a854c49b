"""Inline SVG bar charts for the HTML report: no scripts, no external files.

Pure: numbers and labels in, an SVG string out; every label is escaped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from html import escape

COLOURS = ("#2f6fb3", "#e08a1e", "#3c9a5f", "#b83b5e")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]


@dataclass(frozen=True)
class Line:
    value: float
    label: str


def bar_chart(
    title: str,
    description: str,
    categories: list[str],
    series: list[Series],
    x_label: str,
    y_label: str,
    line: Line | None = None,
    width: int = 720,
    height: int = 300,
) -> str:
    """Grouped bars with axes, axis titles, a legend and an optional reference line."""
    chart_id = f"chart{next(_ids)}"
    left, right, top, bottom = 56, 16, 36, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([*(v for s in series for v in s.values), line.value if line else 0, 1])
    scale = _nice_ceiling(peak)
    slot = plot_w / max(1, len(categories))
    bar_w = max(1.0, slot * 0.8 / max(1, len(series)))

    def y(value: float) -> float:
        return top + plot_h - value / scale * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="chart">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for step in range(5):
        value = scale * step / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-size="11">{value:g}</text>'
        )
    for i, category in enumerate(categories):
        for j, one in enumerate(series):
            value = one.values[i]
            x = left + i * slot + slot * 0.1 + j * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar_w:.1f}" '
                f'height="{top + plot_h - y(value):.1f}" fill="{COLOURS[j % len(COLOURS)]}">'
                f"<title>{escape(one.name)}, {escape(category)}: {value:g}</title></rect>"
            )
        if len(categories) <= 16 or i % max(1, len(categories) // 12) == 0:
            parts.append(
                f'<text x="{left + (i + 0.5) * slot:.1f}" y="{top + plot_h + 16}" '
                f'text-anchor="middle" font-size="11">{escape(category)}</text>'
            )
    if line is not None:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(line.value):.1f}" '
            f'y2="{y(line.value):.1f}" stroke="#c0392b" stroke-width="2" '
            f'stroke-dasharray="6 4"/>'
        )
        parts.append(
            f'<text x="{width - right}" y="{y(line.value) - 6:.1f}" text-anchor="end" '
            f'font-size="12" fill="#c0392b">{escape(line.label)}</text>'
        )
    parts += [
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#333"/>',
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#333"/>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 30}" text-anchor="middle" '
        f'font-size="12" class="axis-label">{escape(x_label)}</text>',
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" font-size="12" class="axis-label">{escape(y_label)}</text>',
    ]
    for j, one in enumerate(series):
        x = left + j * 160
        parts.append(
            f'<rect x="{x}" y="{height - 18}" width="12" height="12" '
            f'fill="{COLOURS[j % len(COLOURS)]}"/>'
        )
        parts.append(
            f'<text x="{x + 18}" y="{height - 8}" font-size="12">{escape(one.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 4, 5, 10 x 10^n at or above VALUE, for round axis ticks."""
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for factor in (1, 2, 4, 5, 10):
        if factor * magnitude >= value:
            return factor * magnitude
    return 10 * magnitude
