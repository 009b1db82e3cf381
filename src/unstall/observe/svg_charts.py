"""Small server-side SVG charts for the HTML report.

The charts are drawn here, in Python, so the page needs neither a script nor the network
to show them: a line chart over time, stacked columns over time and stacked horizontal
bars, each with axes and a legend. Every text that reaches the markup goes through
:func:`html.escape`. A chart with nothing to draw is a short "no data in this window" note
instead of an empty frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

NO_DATA: Final = "no data in this window"
# Okabe-Ito colours: told apart with the common colour-vision deficiencies, and in print.
PALETTE: Final = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#999999",
    "#000000",
)
WIDTH: Final = 760
_LEFT: Final = 64
_RIGHT: Final = 16
_TOP: Final = 12
_PLOT_H: Final = 200
_AXIS_H: Final = 36
_LEGEND_ROW: Final = 18
_LABEL_W: Final = 210
_BAND: Final = 26

Formatter = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Point:
    """One drawn value: ``x`` (Unix seconds on time charts), ``y``, and its tooltip."""

    x: float
    y: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a line chart; ``markers`` are drawn as crosses (e.g. failures)."""

    name: str
    points: tuple[Point, ...]
    markers: tuple[Point, ...] = ()


@dataclass(frozen=True, slots=True)
class Stack:
    """One layer of a stacked chart: its value per column or bar (0 draws nothing)."""

    name: str
    values: tuple[float, ...]
    color: str | None = None


def color_for(index: int) -> str:
    """The palette colour of the ``index``-th series."""
    return PALETTE[index % len(PALETTE)]


def no_data() -> str:
    """What a chart shows when the window holds nothing for it."""
    return f'<p class="no-data">{NO_DATA}</p>'


def plain_number(value: float) -> str:
    """A compact axis label: ``0.5``, ``250``, ``12k``."""
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _n(value: float) -> str:
    """A coordinate: one decimal is finer than a pixel."""
    return f"{value:.1f}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_ticks(top: float, count: int = 5) -> list[float]:
    """Ticks 0, step, 2*step... up to at least ``top``, with a 1/2/2.5/5 x 10^k step."""
    if not math.isfinite(top) or top <= 0:
        top = 1.0
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude * 1.000001)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _open(kind: str, title: str, height: float) -> str:
    label = escape(title)
    return (
        f'<svg class="chart {kind}" viewBox="0 0 {WIDTH} {_n(height)}" width="{WIDTH}" '
        f'height="{_n(height)}" role="img" aria-label="{label}"><title>{label}</title>'
    )


def _legend(items: Sequence[tuple[str, str]], top: float) -> tuple[str, float]:
    """Legend entries laid out in rows from ``top``; returns the markup and its height."""
    parts = ['<g class="legend">']
    x, y = float(_LEFT), top
    for name, color in items:
        label = _short(name, 60)
        width = 30 + 6.4 * len(label)
        if x + width > WIDTH - _RIGHT and x > _LEFT:
            x, y = float(_LEFT), y + _LEGEND_ROW
        parts.append(
            f'<g class="legend-item"><title>{escape(name)}</title>'
            f'<rect x="{_n(x)}" y="{_n(y)}" width="12" height="12" fill="{color}"/>'
            f'<text x="{_n(x + 16)}" y="{_n(y + 10)}">{escape(label)}</text></g>'
        )
        x += width
    parts.append("</g>")
    return "".join(parts), y + _LEGEND_ROW - top


def _y_axis(ticks: Sequence[float], fmt: Formatter, left: float, right: float) -> str:
    """Horizontal grid lines with labels for a plot of height _PLOT_H below _TOP."""
    parts = ['<g class="axis y-axis">']
    for tick in ticks:
        y = _TOP + _PLOT_H - tick / ticks[-1] * _PLOT_H
        parts.append(
            f'<line class="grid" x1="{_n(left)}" x2="{_n(right)}" y1="{_n(y)}" y2="{_n(y)}"/>'
            f'<text x="{_n(left - 6)}" y="{_n(y + 4)}" text-anchor="end">'
            f"{escape(fmt(tick))}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _x_time_axis(domain: tuple[float, float], fmt: Formatter) -> str:
    """Five evenly spaced labelled ticks under the plot."""
    x0, x1 = domain
    base = _TOP + _PLOT_H
    parts = [
        f'<g class="axis x-axis"><line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{base}" y2="{base}"/>'
    ]
    for i in range(5):
        value = x0 + (x1 - x0) * i / 4
        x = _LEFT + (WIDTH - _LEFT - _RIGHT) * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{base}" y2="{base + 4}"/>'
            f'<text x="{_n(x)}" y="{base + 16}" text-anchor="{anchor}">'
            f"{escape(fmt(value))}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _x_scale(domain: tuple[float, float]) -> Callable[[float], float]:
    x0, x1 = domain
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x0 + 0.5
    width = WIDTH - _LEFT - _RIGHT

    def scale(x: float) -> float:
        return _LEFT + (min(max(x, x0), x1) - x0) / (x1 - x0) * width

    return scale


def line_chart(
    lines: Sequence[Line],
    *,
    title: str,
    x_domain: tuple[float, float],
    x_format: Formatter,
    y_format: Formatter = plain_number,
) -> str:
    """Lines over time, one ``<g class="series">`` each, with point tooltips and markers."""
    drawn = [line for line in lines if line.points or line.markers]
    if not drawn:
        return no_data()
    ticks = _nice_ticks(max(p.y for line in drawn for p in (*line.points, *line.markers)))
    sx = _x_scale(x_domain)

    def sy(y: float) -> float:
        return _TOP + _PLOT_H - max(y, 0.0) / ticks[-1] * _PLOT_H

    legend, legend_h = _legend(
        [(line.name, color_for(i)) for i, line in enumerate(drawn)], _TOP + _PLOT_H + _AXIS_H
    )
    parts = [
        _open("line-chart", title, _TOP + _PLOT_H + _AXIS_H + legend_h + 4),
        _y_axis(ticks, y_format, _LEFT, WIDTH - _RIGHT),
        _x_time_axis(x_domain, x_format),
    ]
    for i, line in enumerate(drawn):
        color = color_for(i)
        coords = " ".join(f"{_n(sx(p.x))},{_n(sy(p.y))}" for p in line.points)
        parts.append(
            f'<g class="series" data-series="{escape(line.name)}" '
            f'data-points="{len(line.points)}" data-markers="{len(line.markers)}">'
            f'<polyline class="line" points="{coords}" fill="none" stroke="{color}" '
            'stroke-width="2"/>'
        )
        for p in line.points:
            parts.append(
                f'<circle class="point" cx="{_n(sx(p.x))}" cy="{_n(sy(p.y))}" r="2.5" '
                f'fill="{color}"><title>{escape(p.note)}</title></circle>'
            )
        for m in line.markers:
            x, y = sx(m.x), sy(m.y)
            parts.append(
                f'<path class="marker" d="M{_n(x - 4)},{_n(y - 4)}l8,8m0,-8l-8,8" '
                f'stroke="{color}" stroke-width="2.5"><title>{escape(m.note)}</title></path>'
            )
        parts.append("</g>")
    parts.extend((legend, "</svg>"))
    return "".join(parts)


def _has_values(stacks: Sequence[Stack]) -> bool:
    return any(value > 0 for stack in stacks for value in stack.values)


def _stacked(
    stacks: Sequence[Stack], count: int, legend_top: float
) -> tuple[list[float], list[tuple[Stack, str]], str, float]:
    """Axis ticks up to the tallest stack, each layer's colour, and the legend."""
    ticks = _nice_ticks(max(sum(stack.values[i] for stack in stacks) for i in range(count)))
    drawn = [(stack, stack.color or color_for(i)) for i, stack in enumerate(stacks)]
    shown = [(stack.name, color) for stack, color in drawn if any(v > 0 for v in stack.values)]
    legend, legend_h = _legend(shown, legend_top)
    return ticks, drawn, legend, legend_h


def column_chart(
    starts: Sequence[float],
    span: float,
    stacks: Sequence[Stack],
    *,
    title: str,
    x_domain: tuple[float, float],
    x_format: Formatter,
    y_format: Formatter = plain_number,
    notes: Sequence[str] = (),
) -> str:
    """Stacked columns over time: column ``i`` covers ``[starts[i], starts[i] + span]``."""
    if not _has_values(stacks):
        return no_data()
    ticks, drawn, legend, legend_h = _stacked(stacks, len(starts), _TOP + _PLOT_H + _AXIS_H)
    sx = _x_scale(x_domain)

    def sy(y: float) -> float:
        return _TOP + _PLOT_H - y / ticks[-1] * _PLOT_H

    parts = [
        _open("column-chart", title, _TOP + _PLOT_H + _AXIS_H + legend_h + 4),
        _y_axis(ticks, y_format, _LEFT, WIDTH - _RIGHT),
        _x_time_axis(x_domain, x_format),
    ]
    bases = [0.0] * len(starts)
    for stack, color in drawn:
        parts.append(f'<g class="series" data-series="{escape(stack.name)}">')
        for i, start in enumerate(starts):
            value = stack.values[i]
            if value <= 0:
                continue
            left, right = sx(start), sx(start + span)
            top, bottom = sy(bases[i] + value), sy(bases[i])
            bases[i] += value
            note = f"{notes[i]} · " if i < len(notes) else ""
            parts.append(
                f'<rect class="bar" x="{_n(left + 0.5)}" y="{_n(top)}" '
                f'width="{_n(max(right - left - 1, 1.0))}" height="{_n(bottom - top)}" '
                f'fill="{color}"><title>{escape(f"{note}{stack.name}: {y_format(value)}")}'
                "</title></rect>"
            )
        parts.append("</g>")
    parts.extend((legend, "</svg>"))
    return "".join(parts)


def bar_chart(
    categories: Sequence[str],
    stacks: Sequence[Stack],
    *,
    title: str,
    value_format: Formatter = plain_number,
) -> str:
    """Stacked horizontal bars, one per category, labelled on the left."""
    if not _has_values(stacks):
        return no_data()
    plot_h = len(categories) * _BAND
    ticks, drawn, legend, legend_h = _stacked(stacks, len(categories), _TOP + plot_h + 28)
    right_edge = WIDTH - _RIGHT

    def sx(value: float) -> float:
        return _LABEL_W + value / ticks[-1] * (right_edge - _LABEL_W)

    parts = [_open("bar-chart", title, _TOP + plot_h + 28 + legend_h + 4), '<g class="axis">']
    base = _TOP + plot_h
    for tick in ticks:
        x = sx(tick)
        # The last label ends at the right edge rather than running past it.
        anchor = "end" if tick == ticks[-1] else "middle"
        parts.append(
            f'<line class="grid" x1="{_n(x)}" x2="{_n(x)}" y1="{_TOP}" y2="{base}"/>'
            f'<text x="{_n(x)}" y="{base + 16}" text-anchor="{anchor}">'
            f"{escape(value_format(tick))}</text>"
        )
    for i, category in enumerate(categories):
        y = _TOP + i * _BAND + _BAND / 2 + 4
        parts.append(
            f'<text class="category" x="{_LABEL_W - 8}" y="{_n(y)}" text-anchor="end">'
            f"<title>{escape(category)}</title>{escape(_short(category, 33))}</text>"
        )
    parts.append("</g>")
    ends = [0.0] * len(categories)
    for stack, color in drawn:
        parts.append(f'<g class="series" data-series="{escape(stack.name)}">')
        for i, category in enumerate(categories):
            value = stack.values[i]
            if value <= 0:
                continue
            left, right = sx(ends[i]), sx(ends[i] + value)
            ends[i] += value
            tip = f"{category} · {stack.name}: {value_format(value)}"
            parts.append(
                f'<rect class="bar" x="{_n(left)}" y="{_n(_TOP + i * _BAND + 4)}" '
                f'width="{_n(max(right - left, 1.0))}" height="{_BAND - 8}" fill="{color}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        parts.append("</g>")
    parts.extend((legend, "</svg>"))
    return "".join(parts)


__all__ = [
    "NO_DATA",
    "PALETTE",
    "Line",
    "Point",
    "Stack",
    "bar_chart",
    "color_for",
    "column_chart",
    "line_chart",
    "no_data",
    "plain_number",
]
