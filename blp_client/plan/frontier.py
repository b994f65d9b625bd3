"""The plan's HTML report: the frontier chart and the commitments' table, one static page.

The frontier puts each commitment at (worst drawdown, mean P&L): up is better, left is
safer. A commitment liquidated in any market is drawn as a red cross; the recommended one
is ringed. The page loads nothing, like `blp simulate --report` (same CSS and CSP), and is a
pure function of the plan's document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from ..charts import PALETTE, fmt_number, ticks
from ..engine.simulate import to_json
from ..report import CSP, CSS, ReportError, prepare_dir
from .summary import TABLE_COLUMNS, cell, recommendation_text

RED = "#d62728"


def _f(v: float) -> str:
    text = f"{v:.1f}"
    return "0.0" if text == "-0.0" else text


def frontier_chart(
    rows: Sequence[Mapping[str, Any]],
    best: int | None,
    *,
    only: Sequence[int] | None = None,
    title: str = "Frontier: mean P&amp;L against worst drawdown",
    chart_id: str = "frontier",
) -> str:
    """An SVG scatter of mean P&L against worst drawdown, one point per commitment (or per
    commitment of `only`, numbered as in the table)."""
    shown = list(range(len(rows))) if only is None else list(only)
    width, height, left, right, top, bottom = 760, 360, 84, 24, 40, 48
    pw, ph = width - left - right, height - top - bottom
    out = [
        f'<svg class="chart" data-chart="{chart_id}" xmlns="http://www.w3.org/2000/svg"'
        f' width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{title}">',
        f'<text class="title" x="{left}" y="18">{title}</text>',
    ]
    if not shown:
        out.append(f'<text x="{left}" y="{top + ph // 2}">no data</text></svg>')
        return "\n".join(out)
    xs = [float(rows[i]["worst_drawdown"]) for i in shown]
    ys = [float(rows[i]["mean_pnl"]) for i in shown]
    x0, x1, xt = ticks(min(0.0, *xs), max(xs))
    y0, y1, yt = ticks(min(ys), max(ys), 6)

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    xstep = xt[1] - xt[0] if len(xt) > 1 else 1.0
    ystep = yt[1] - yt[0] if len(yt) > 1 else 1.0
    out.append('<g class="grid">')
    out += [f'<line x1="{left}" x2="{left + pw}" y1="{_f(sy(y))}" y2="{_f(sy(y))}"/>' for y in yt]
    out.append('</g><g class="axis">')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}"/>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    for y in yt:
        out.append(
            f'<text x="{left - 6}" y="{_f(sy(y) + 4)}" text-anchor="end">'
            f"{escape(fmt_number(y, ystep))}</text>"
        )
    for x in xt:
        out.append(
            f'<text x="{_f(sx(x))}" y="{top + ph + 18}" text-anchor="middle">'
            f"{escape(fmt_number(x, xstep))}</text>"
        )
    out.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 8}" text-anchor="middle">'
        "worst drawdown (USDT)</text>"
    )
    out.append(f'<text x="{left}" y="{top - 8}" text-anchor="end">mean P&amp;L</text></g>')
    edge = sorted(
        (x, y) for i, x, y in zip(shown, xs, ys, strict=True) if rows[i].get("on_frontier")
    )
    if len(edge) > 1:
        points = " ".join(f"{_f(sx(x))},{_f(sy(y))}" for x, y in edge)
        out.append(
            f'<polyline class="edge" fill="none" stroke="{PALETTE[0]}" stroke-width="1.2"'
            f' stroke-dasharray="5 4" points="{points}"/>'
        )
    out.append('<g class="points">')
    for i, x, y in zip(shown, xs, ys, strict=True):
        row = rows[i]
        px, py = sx(x), sy(y)
        label = escape(f"#{i + 1} {row['commitment']}")
        if row["liquidated_markets"]:
            d = 5
            out.append(
                f'<path class="point liquidated" data-index="{i}" stroke="{RED}"'
                f' stroke-width="2.2" d="M{_f(px - d)},{_f(py - d)}L{_f(px + d)},{_f(py + d)}'
                f'M{_f(px - d)},{_f(py + d)}L{_f(px + d)},{_f(py - d)}"><title>{label}'
                " (liquidated)</title></path>"
            )
        else:
            out.append(
                f'<circle class="point" data-index="{i}" cx="{_f(px)}" cy="{_f(py)}" r="4.5"'
                f' fill="{PALETTE[0]}"><title>{label}</title></circle>'
            )
        if i == best:
            out.append(
                f'<circle class="recommended" cx="{_f(px)}" cy="{_f(py)}" r="10" fill="none"'
                f' stroke="{PALETTE[2]}" stroke-width="2"/>'
            )
        out.append(f'<text x="{_f(px + 8)}" y="{_f(py - 6)}">{i + 1}</text>')
    out.append("</g>")
    legend_y = 34
    lx = left + pw - 330
    out.append(
        f'<g class="legend"><circle cx="{lx}" cy="{legend_y - 4}" r="4.5" fill="{PALETTE[0]}"/>'
        f'<text x="{lx + 8}" y="{legend_y}">never liquidated</text>'
        f'<path stroke="{RED}" stroke-width="2.2" d="M{lx + 115},{legend_y - 9}l10,10'
        f'm-10,0l10,-10"/><text x="{lx + 130}" y="{legend_y}">liquidated somewhere</text>'
        f'<circle cx="{lx + 285}" cy="{legend_y - 4}" r="8" fill="none" stroke="{PALETTE[2]}"'
        f' stroke-width="2"/><text x="{lx + 297}" y="{legend_y}">best</text></g>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _safe_chart(rows: Sequence[Mapping[str, Any]], best: int | None) -> list[str]:
    """The never-liquidated commitments on their own scale, when liquidated ones also exist
    (their losses and drawdowns would squash the safe ones into a corner)."""
    safe = [i for i, r in enumerate(rows) if not r["liquidated_markets"]]
    if not safe or len(safe) == len(rows):
        return []
    title = "The never-liquidated commitments only"
    svg = frontier_chart(rows, best, only=safe, title=title, chart_id="safe")
    return [f"<figure>{svg}</figure>"]


def commitments_table(doc: Mapping[str, Any]) -> str:
    best = doc["recommended"]
    head = "".join(f"<th>{escape(label)}</th>" for _, label in TABLE_COLUMNS)
    body = []
    for i, row in enumerate(doc["commitments"]):
        star = " *" if best is not None and best["index"] == i else ""
        cells = [f"<td>{i + 1}. {escape(row['commitment'])}{star}</td>"]
        cells += [f"<td>{escape(cell(k, row[k]))}</td>" for k, _ in TABLE_COLUMNS[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table id="commitments"><thead><tr>{head}</tr></thead><tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table>"
    )


def render_html(doc: Mapping[str, Any]) -> str:
    rows = doc["commitments"]
    best = doc["recommended"]["index"] if doc["recommended"] is not None else None
    meta = (
        f"{doc['tasks']:,} backtests: {len(rows)} commitments × {len(doc['markets'])} markets,"
        f" {doc['accounts']:,} accounts, {doc['seconds']:,} engine seconds each;"
        f" plan seed {doc['seed']}; runner {doc['runner']}"
    )
    scenarios = sorted({m["scenario"] for m in doc["markets"]})
    body = [
        "<h1>blp plan</h1>",
        f'<p class="meta">{escape(meta)}</p>',
        f'<p class="meta">Scenarios: {escape(", ".join(scenarios))}</p>',
        f'<p class="saving">{escape(recommendation_text(doc))}</p>',
        f"<figure>{frontier_chart(rows, best)}</figure>",
        *_safe_chart(rows, best),
        '<p class="note">Each point is one commitment over every market of the plan: further'
        " up earns more on average, further left risks less in its worst market. Prefer the"
        " upper-left edge (dashed: no other safe commitment is both better on average and"
        " safer); a red cross was auto-liquidated in at least one market.</p>",
        "<h2>Commitments</h2>",
        commitments_table(doc),
        '<p class="note">P&amp;L in USDT per market; P5 is the 5th-percentile (nearest rank)'
        " market; every task's figures are in plan.json.</p>",
    ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        f"<title>blp plan</title>\n<style>{CSS}</style></head>\n"
        "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def write_plan_report(directory: Path, doc: Mapping[str, Any]) -> Path:
    """Write DIR/plan.json and DIR/report.html; return the HTML's path."""
    path = prepare_dir(directory)
    html = path / "report.html"
    try:
        (path / "plan.json").write_text(to_json(doc), encoding="utf-8")
        html.write_text(render_html(doc), encoding="utf-8")
    except OSError as e:
        raise ReportError(f"cannot write report to {path}: {e.strerror or e}") from e
    return html


__all__ = ["frontier_chart", "render_html", "write_plan_report"]
