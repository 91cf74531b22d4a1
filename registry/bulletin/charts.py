"""The bulletin's charts, drawn as inline SVG: a bar per department, a line per department.

Pure functions returning one ``<svg>`` element each; every text is XML-escaped. A missing
value (nothing to measure) draws no bar and reads ``—``, and breaks a line rather than
pretending to be 0.

>>> svg = bar_chart("入库率", ["甲"], [0.5])
>>> svg.startswith("<svg") and "50.0%" in svg
True
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["FONT", "NOTHING", "PALETTE", "bar_chart", "line_chart", "missing", "pct"]

NOTHING = "—"
"""Printed for a figure with nothing to measure (never NaN)."""
FONT = "'WenQuanYi Zen Hei', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"
PALETTE = ("#2f6fad", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d",
           "#b7950b", "#e84393", "#2c3e50")
"""Line colours; past ten departments they repeat, dashed."""


def missing(value: Any) -> bool:
    """Whether ``value`` is nothing to measure (None, NA, NaT, NaN)."""
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and math.isnan(value))


def pct(value: Any) -> str:
    """A share as ``66.7%``; ``—`` when there is nothing to measure."""
    return NOTHING if missing(value) else f"{100 * float(value):.1f}%"


def _open(title: str, width: int, height: int) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}" '
            f'font-family="{html.escape(FONT)}" font-size="14">',
            f'<text x="0" y="22" font-size="16" font-weight="bold">{html.escape(title)}</text>']


def bar_chart(title: str, labels: Sequence[str], values: Sequence[Any], *,
              width: int = 560, fmt: Any = pct, scale: float = 1.0) -> str:
    """A horizontal bar chart (values 0–``scale``, shown with ``fmt``) as an SVG element; a
    missing value has no bar and reads ``—``."""
    bar_h, gap, top, label_w, value_w = 22, 10, 40, 190, 70
    plot_w = width - label_w - value_w
    height = top + len(labels) * (bar_h + gap) + 10
    out = _open(title, width, height)
    out.append(f'<line x1="{label_w}" y1="{top - 6}" x2="{label_w}" y2="{height - 6}" '
               f'stroke="#888"/>')
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (bar_h + gap)
        out.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
                   f'{html.escape(label)}</text>')
        length = (0.0 if missing(value) else
                  max(0.0, min(1.0, float(value) / scale if scale else 0.0)) * plot_w)
        if length > 0:
            out.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" '
                       f'fill="#2f6fad"/>')
        out.append(f'<text x="{label_w + length + 6:.1f}" y="{y + 16}">'
                   f'{html.escape(NOTHING if missing(value) else fmt(value))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def line_chart(title: str, weeks: Sequence[str], series: Sequence[tuple[str, Sequence[Any]]],
               *, width: int = 560, top_value: float = 1.0, percent: bool = True) -> str:
    """One line per ``(label, values)`` across ``weeks`` (values 0–``top_value``; missing
    ones break the line), with a legend below: an SVG element."""
    left, right, top, plot_h, legend_row = 46, 16, 40, 170, 20
    plot_w = width - left - right
    legend_rows = math.ceil(len(series) / 2)
    height = top + plot_h + 34 + legend_rows * legend_row + 8
    out = _open(title, width, height)
    bottom = top + plot_h
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - tick * plot_h
        label = f"{tick * 100:.0f}%" if percent else f"{tick * top_value:g}"
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{label}</text>')
    step = plot_w / max(1, len(weeks) - 1)

    def x_of(i: int) -> float:
        return left + (i * step if len(weeks) > 1 else plot_w / 2)

    for i, week in enumerate(weeks):
        if len(weeks) <= 6 or i % 2 == (len(weeks) - 1) % 2:  # every other label when many
            out.append(f'<text x="{x_of(i):.1f}" y="{bottom + 16}" text-anchor="middle" '
                       f'font-size="11">{html.escape(week[-3:])}</text>')
    for n, (label, values) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        dash = ' stroke-dasharray="5,3"' if n >= len(PALETTE) else ""
        points: list[list[str]] = [[]]
        for i, value in enumerate(values):
            if missing(value):
                points.append([])
                continue
            share = max(0.0, min(1.0, float(value) / top_value if top_value else 0.0))
            y = bottom - share * plot_h
            points[-1].append(f"{x_of(i):.1f},{y:.1f}")
            out.append(f'<circle cx="{x_of(i):.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        for run in points:
            if len(run) > 1:
                out.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                           f'stroke-width="2"{dash}/>')
        row, column = divmod(n, 2)
        lx = left + column * (plot_w // 2)
        ly = bottom + 34 + row * legend_row
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="14" height="4" fill="{colour}"/>')
        out.append(f'<text x="{lx + 20}" y="{ly - 4}" font-size="12">{html.escape(label)}'
                   f'</text>')
    out.append("</svg>")
    return "\n".join(out)
