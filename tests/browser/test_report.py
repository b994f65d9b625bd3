"""The HTML report in a real browser: headless Chromium opens report.html from disk and every
chart renders (a visible SVG with many drawn points), the tables are there, nothing is fetched."""

from __future__ import annotations

from pathlib import Path

from report.test_html_report import CHARTS

from blp_client.cli import main

from .cdp import Browser

CHARTS_JS = """
Array.from(document.querySelectorAll('svg.chart'), svg => {
  const box = svg.getBoundingClientRect();
  const lines = Array.from(svg.querySelectorAll('polyline.series'), p => {
    const b = p.getBBox();
    return {points: p.points.numberOfItems, length: p.getTotalLength(),
            w: b.width, h: b.height, stroke: getComputedStyle(p).stroke};
  });
  return {id: svg.dataset.chart, w: box.width, h: box.height, lines,
          texts: svg.querySelectorAll('text').length};
})
"""


async def test_report_charts_render_in_chromium(browser: Browser, tmp_path: Path) -> None:
    args = ["simulate", "--accounts", "300", "--seconds", "600", "--seed", "7", "--compare"]
    assert main([*args, "--report", str(tmp_path)]) == 0
    url = (tmp_path / "report.html").as_uri()
    page = await browser.new_page()
    await page.navigate(url)

    charts = await page.evaluate(CHARTS_JS)
    assert {c["id"] for c in charts} == CHARTS
    for c in charts:
        assert c["w"] > 300 and c["h"] > 200, c["id"]
        assert c["texts"] > 10, c["id"]  # title, legend, tick labels
        assert c["lines"], c["id"]
        for line in c["lines"]:
            assert line["points"] >= 50, c["id"]
            assert line["length"] > 100, c["id"]  # drawn, not a dot
            assert line["stroke"] != "none", c["id"]
    # prices move in a crash: those lines span height as well as width
    price = next(c for c in charts if c["id"] == "price-btc-perp")
    assert all(line["w"] > 300 and line["h"] > 50 for line in price["lines"])

    rows = await page.texts("#headline tbody tr td:first-child")
    assert "Liquidations" in rows and "ADL + socialised loss" in rows
    assert await page.texts("#headline thead th") == ["", "with BLPs", "without BLPs"]
    assert await page.evaluate("document.querySelector('#headline').offsetHeight") > 100
    assert "avoided by the program" in (await page.text(".saving") or "")

    assert page.requests == [url]  # self-contained: the page itself and nothing else
    assert page.errors == [] and page.console == []


LAYOUT_JS = """
(() => {
  const main = document.querySelector('main').getBoundingClientRect();
  const figs = Array.from(document.querySelectorAll('#charts figure'),
                          f => f.getBoundingClientRect());
  const top = Math.min(...figs.map(b => b.top));
  const row = figs.filter(b => Math.abs(b.top - top) < 1);
  return {view: window.innerWidth, main: main.width,
          row: row.reduce((w, b) => w + b.width, 0), perRow: row.length,
          scroll: document.documentElement.scrollWidth};
})()
"""


async def test_report_uses_the_full_width_of_a_desktop_screen(
    browser: Browser, tmp_path: Path
) -> None:
    """Issue 13: the report used about 45% of a desktop screen (an 820 px column)."""
    args = ["simulate", "--accounts", "200", "--seconds", "120", "--seed", "3", "--compare"]
    assert main([*args, "--report", str(tmp_path)]) == 0
    page = await browser.new_page(width=1920, height=1080)
    await page.navigate((tmp_path / "report.html").as_uri())
    got = await page.evaluate(LAYOUT_JS)
    assert got["view"] == 1920
    assert got["main"] >= 0.95 * 1920, got
    assert got["perRow"] >= 2 and got["row"] >= 0.9 * got["main"], got  # charts fill the row
    assert got["scroll"] <= 1920, got  # and nothing runs off to the right
    # a narrow window still shows whole charts, one per row
    small = await browser.new_page(width=700, height=900)
    await small.navigate((tmp_path / "report.html").as_uri())
    narrow = await small.evaluate(LAYOUT_JS)
    assert narrow["perRow"] == 1 and narrow["scroll"] <= 700, narrow
