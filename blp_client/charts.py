"""Line charts as inline SVG, with no dependencies: axes, "nice" ticks, a legend.

The output is a pure function of the input (fixed float formatting, no ids from memory
addresses or clocks), so a deterministic simulation gives a byte-identical chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

Number = float | int | Decimal
Point = tuple[Number, Number]
XY = tuple[float, float]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
MAX_POINTS = 1200  # per series; longer series are thinned keeping each bucket's min and max


@dataclass(frozen=True)
class Series:
    """One line: a label for the legend, (x, y) points, and how to draw it."""

    label: str
    points: Sequence[Point]
    color: str | None = None  # default: the palette, in order
    dashed: bool = False


def nice_step(span: float, target: int = 5) -> float:
    """A 1, 2 or 5 × 10^k step that cuts `span` into about `target` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)  # pragma: no cover - the loop always returns


def ticks(lo: float, hi: float, target: int = 5) -> tuple[float, float, list[float]]:
    """Axis bounds widened to whole steps, and the ticks between them."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:  # a flat line: zero sits at the bottom, anything else mid-height
        pad = abs(lo) * 0.05
        lo, hi = (lo - pad, hi + pad) if pad else (0.0, 1.0)
    step = nice_step(hi - lo, target)
    start = math.floor(lo / step) * step
    end = math.ceil(hi / step) * step
    n = round((end - start) / step)
    return start, end, [start + i * step for i in range(n + 1)]


def fmt_number(v: float, step: float) -> str:
    """Compact tick label: 1.5M, 250k, 42,000, 0.25, with as many decimals as the step needs."""
    if v == 0:
        return "0"
    for unit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= unit and step >= unit / 10:
            digits = max(0, -math.floor(math.log10(step / unit) + 1e-9))
            return f"{v / unit:.{digits}f}{suffix}"
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{v:,.{digits}f}"


def fmt_duration(v: float, step: float) -> str:
    """Seconds as 0, 45s, 10m, 1h, 1h30m."""
    s = round(v)
    if s == 0:
        return "0"
    h, rem = divmod(abs(s), 3600)
    m, sec = divmod(rem, 60)
    sign = "-" if s < 0 else ""
    parts = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec else "")
    return sign + parts


def time_ticks(lo: float, hi: float, target: int = 6) -> tuple[float, float, list[float]]:
    """The axis runs from the first to the last data point (not to a rounded end: data that
    ends at 1h must not look like it stopped early on a 1h15m axis); ticks on whole seconds,
    minutes or hours inside it."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + 1.0
    span = hi - lo
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
    step = next((s for s in steps if span / s <= target), 86400 * nice_step(span / 86400, target))
    first = math.ceil(lo / step - 1e-9) * step
    n = math.floor((hi - first) / step + 1e-9)
    return lo, hi, [first + i * step for i in range(n + 1)]


def thin(points: Sequence[XY], limit: int = MAX_POINTS) -> list[XY]:
    """At most about `limit` points, keeping each bucket's lowest and highest (spikes survive)."""
    if len(points) <= limit:
        return list(points)
    size = math.ceil(len(points) / (limit // 2))
    out: list[XY] = []
    for i in range(0, len(points), size):
        bucket = points[i : i + size]
        lo = min(range(len(bucket)), key=lambda j: bucket[j][1])
        hi = max(range(len(bucket)), key=lambda j: bucket[j][1])
        out.extend(bucket[j] for j in sorted({lo, hi}))
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


def _legend_spots(labels: Sequence[str], left: int, right: int) -> list[tuple[int, int]]:
    """(x, row) of each legend entry, wrapping to a new row at the right edge."""
    spots: list[tuple[int, int]] = []
    x, row = left, 0
    for label in labels:
        w = 34 + round(6.5 * len(label))
        if x > left and x + w > right:
            x, row = left, row + 1
        spots.append((x, row))
        x += w + 14
    return spots


def _f(v: float) -> str:
    text = f"{v:.1f}"
    return "0.0" if text == "-0.0" else text


def line_chart(title: str, series: Sequence[Series], *, chart_id: str, y_label: str = "") -> str:
    """An SVG line chart over engine time (760×320 or taller for a long legend): one polyline
    per series, axes with ticks, a legend above the plot."""
    width, height = 760, 320
    data = [[(float(x), float(y)) for x, y in s.points] for s in series]
    xs = [p[0] for pts in data for p in pts]
    ys = [p[1] for pts in data for p in pts]
    left, right, bottom = 74, 16, 44
    spots = _legend_spots([s.label for s in series], left, width - right)
    top = 40 + 16 * (spots[-1][1] if spots else 0) + 18
    height += top - 58  # a legend on several rows makes the chart taller, not the plot shorter
    pw, ph = width - left - right, height - top - bottom
    out = [
        f'<svg class="chart" data-chart="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg"'
        f' width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}">',
        f'<text class="title" x="{left}" y="18">{escape(title)}</text>',
    ]
    if not xs:
        out.append(f'<text class="empty" x="{left}" y="{top + ph / 2:.0f}">no data</text></svg>')
        return "\n".join(out)
    x0, x1, xt = time_ticks(min(xs), max(xs))
    y0, y1, yt = ticks(min(ys), max(ys), 6)

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    xstep = xt[1] - xt[0] if len(xt) > 1 else 1.0
    ystep = yt[1] - yt[0] if len(yt) > 1 else 1.0
    out.append('<g class="grid">')
    for y in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{_f(sy(y))}" y2="{_f(sy(y))}"/>')
    out.append("</g>")
    out.append('<g class="axis">')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}"/>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    for y in yt:
        out.append(
            f'<text x="{left - 6}" y="{_f(sy(y) + 4)}" text-anchor="end">'
            f"{escape(fmt_number(y, ystep))}</text>"
        )
    for x in xt:
        px = _f(sx(x))
        out.append(f'<line x1="{px}" x2="{px}" y1="{top + ph}" y2="{top + ph + 5}"/>')
        out.append(
            f'<text x="{px}" y="{top + ph + 18}" text-anchor="middle">'
            f"{escape(fmt_duration(x, xstep))}</text>"
        )
    out.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 6}" text-anchor="middle">engine time</text>'
    )
    if y_label:
        out.append(f'<text x="{left}" y="{top - 8}" text-anchor="end">{escape(y_label)}</text>')
    out.append("</g>")
    lines: list[str] = []
    legend: list[str] = []
    for i, (s, pts) in enumerate(zip(series, data, strict=True)):
        color = s.color or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        points = " ".join(f"{_f(sx(x))},{_f(sy(y))}" for x, y in thin(pts))
        lines.append(
            f'<polyline class="series" data-label="{escape(s.label)}" fill="none"'
            f' stroke="{color}" stroke-width="1.6"{dash} points="{points}"/>'
        )
        lx, row = spots[i]
        ly = 34 + 16 * row
        legend.append(
            f'<line x1="{lx}" x2="{lx + 22}" y1="{ly}" y2="{ly}" stroke="{color}"'
            f' stroke-width="2.5"{dash}/><text x="{lx + 27}" y="{ly + 4}">{escape(s.label)}</text>'
        )
    out += ['<g class="lines">', *lines, "</g>", '<g class="legend">', *legend, "</g>", "</svg>"]
    return "\n".join(out)
