"""The SVG line chart: nice ticks, tick labels, thinning that keeps spikes, and the markup."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from blp_client.charts import (
    Series,
    fmt_duration,
    fmt_number,
    line_chart,
    nice_step,
    thin,
    ticks,
    time_ticks,
)

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("span", "step"), [(10, 2), (9.3, 2), (1, 0.2), (12_000, 5000), (0.03, 0.01), (0, 1)]
)
def test_nice_step(span: float, step: float) -> None:
    assert nice_step(span) == pytest.approx(step)


def test_ticks_cover_the_data_on_whole_steps() -> None:
    lo, hi, ts = ticks(39_700, 50_000, 6)
    assert lo <= 39_700 and hi >= 50_000
    assert ts[0] == lo and ts[-1] == hi
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ts)}
    assert steps == {2000}
    assert ticks(0, 0)[:2] == (0.0, 1.0)  # an all-zero series sits on the axis
    lo, hi, _ = ticks(5, 5)
    assert lo < 5 < hi


def test_time_ticks_use_round_durations() -> None:
    _, _, ts = time_ticks(0, 3600)
    assert ts[1] - ts[0] in (600, 900)
    _, _, ts = time_ticks(0, 600)
    assert ts[1] - ts[0] in (60, 120)


@pytest.mark.parametrize(
    ("value", "step", "text"),
    [
        (0, 1, "0"),
        (1_500_000, 500_000, "1.5M"),
        (250_000, 50_000, "250k"),
        (42_000, 2_000, "42k"),
        (0.25, 0.05, "0.25"),
        (150, 50, "150"),
        (-2_000_000, 1_000_000, "-2M"),
    ],
)
def test_fmt_number(value: float, step: float, text: str) -> None:
    assert fmt_number(value, step) == text


def test_fmt_duration() -> None:
    assert [fmt_duration(s, 60) for s in (0, 45, 600, 3600, 5400)] == [
        "0",
        "45s",
        "10m",
        "1h",
        "1h30m",
    ]


def test_thin_keeps_the_spike_and_the_ends() -> None:
    pts = [(float(i), 1.0) for i in range(10_000)]
    pts[5_000] = (5_000.0, 99.0)
    pts[7_000] = (7_000.0, -50.0)
    out = thin(pts, 1000)
    assert len(out) <= 1002
    assert (5_000.0, 99.0) in out and (7_000.0, -50.0) in out
    assert out[0] == pts[0] and out[-1] == pts[-1]
    assert [x for x, _ in out] == sorted(x for x, _ in out)
    assert thin(pts[:10], 1000) == pts[:10]


def _chart(n: int = 50) -> str:
    series = [
        Series("up", [(t * 10, Decimal(t) * Decimal("1.5")) for t in range(n)]),
        Series("down", [(t * 10, 100 - t) for t in range(n)], dashed=True),
    ]
    return line_chart("A <test> chart", series, chart_id="t", y_label="USDT")


def test_line_chart_is_valid_svg_with_one_polyline_per_series() -> None:
    svg = _chart()
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("data-chart") == "t"
    lines = root.findall(f".//{SVG}polyline")
    assert [p.get("data-label") for p in lines] == ["up", "down"]
    for p in lines:
        pairs = (p.get("points") or "").split()
        assert len(pairs) == 50
        for pair in pairs:  # every point inside the viewBox
            x, y = map(float, pair.split(","))
            assert 0 <= x <= 760 and 0 <= y <= 320
    assert lines[1].get("stroke-dasharray") and not lines[0].get("stroke-dasharray")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "A <test> chart" in texts  # escaped in the markup, intact once parsed
    assert "up" in texts and "down" in texts and "USDT" in texts
    assert svg == _chart()  # deterministic


def test_legend_wraps_and_the_chart_grows() -> None:
    many = [Series(f"a rather long series label number {i}", [(0, i), (10, i)]) for i in range(6)]
    svg = line_chart("wrap", many, chart_id="w")
    height = int(re.search(r'height="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert height > 320
    root = ET.fromstring(svg)
    legend_texts = root.findall(f".//{SVG}g[@class='legend']/{SVG}text")
    xs = [float(t.get("x") or 0) for t in legend_texts]
    assert max(xs) < 760 - 100  # nothing starts off the right edge


def test_empty_chart_says_so() -> None:
    svg = line_chart("nothing", [Series("none", [])], chart_id="e")
    ET.fromstring(svg)
    assert "no data" in svg and "<polyline" not in svg


@pytest.mark.parametrize(("lo", "hi"), [(0, 3600), (0, 3700), (0, 600), (10, 4321), (0, 59)])
def test_time_axis_ends_at_the_data(lo: float, hi: float) -> None:
    """Issue 13: data ending at 1h drew an axis to 1h15m; the axis is the data's span now,
    with round ticks inside it."""
    start, end, ts = time_ticks(lo, hi)
    assert (start, end) == (lo, hi)
    assert ts and lo <= ts[0] and ts[-1] <= hi
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ts)}
    assert len(steps) <= 1 and all(t % (steps.pop() if steps else 1) == 0 for t in ts)
    assert time_ticks(0, 3600)[2] == [0, 600, 1200, 1800, 2400, 3000, 3600]
    assert time_ticks(0, 3700)[2][-1] == 3600  # no tick past the data


def test_last_point_sits_on_the_right_edge_of_the_plot() -> None:
    svg = line_chart("t", [Series("s", [(0, 1), (1800, 2), (3700, 3)])], chart_id="t")
    root = ET.fromstring(svg)
    line = root.find(f".//{SVG}polyline")
    assert line is not None
    xs = [float(p.split(",")[0]) for p in (line.get("points") or "").split()]
    assert xs[0] == 74.0 and xs[-1] == 760 - 16  # left edge ... right edge of the plot
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "1h" in labels and "1h15m" not in labels
