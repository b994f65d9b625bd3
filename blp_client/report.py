"""Simulation reports as one self-contained HTML page (inline CSS and SVG) next to the JSON.

`write_report(dir, ...)` writes `report.json` (the same canonical JSON `blp simulate --json`
prints) and `report.html`: the headline table, the BLPs' table and the charts — index and mark
per contract, liquidations, BLP assignments, the insurance fund, ADL and socialised loss, plus
any extra series a caller passes (the demo's bot exposure, threshold, PnL). Runs of a comparison
are overlaid (the first solid, the others dashed). The page loads nothing: no scripts, no CDN,
and its Content-Security-Policy forbids any request. The output depends only on the input.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from .charts import PALETTE, Point, Series, line_chart
from .engine.simulate import COMPARE_ROWS, _fmt, saving, to_json

# {chart title: {series label: [(engine seconds, value), ...]}}
ExtraSeries = Mapping[str, Mapping[str, Sequence[Point]]]
Timeline = Sequence[Mapping[str, Any]]

LABELS = {"with_blp": "with BLPs", "without_blp": "without BLPs"}
GREY = "#7f7f7f"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:0;
background:#fafafa}
main{margin:0;padding:16px 24px 40px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta,.note{color:#555}.saving{font-weight:600}
table{border-collapse:collapse;background:#fff;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:right}
th:first-child,td:first-child{text-align:left;white-space:nowrap}
thead th{border-bottom:2px solid #bbb;vertical-align:bottom}
#blps thead th{white-space:normal}
.scroll{overflow-x:auto}
#charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,640px),1fr));
gap:16px}
figure{margin:0;background:#fff;border:1px solid #e4e4e4;border-radius:4px;min-width:0}
svg.chart{display:block;width:100%;height:auto;font-size:11px;fill:#333}
svg.chart .title{font-size:14px;font-weight:600}
svg.chart .grid line{stroke:#eee}svg.chart .axis line{stroke:#999}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class ReportError(Exception):
    """The report could not be written (the message says where and why)."""


def prepare_dir(directory: Path | str) -> Path:
    """Create `directory` if needed and check it is writable; ReportError otherwise."""
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ReportError(f"cannot write report to {path}: it exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"cannot create report directory {path}: {e.strerror or e}") from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise ReportError(f"report directory {path} is not writable")
    return path


def write_report(
    directory: Path | str,
    *,
    title: str,
    reports: Mapping[str, Mapping[str, Any]],
    timelines: Mapping[str, Timeline],
    extra_series: ExtraSeries | None = None,
    json_data: Any = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write report.json and report.html into `directory`; return the HTML file's path.

    `reports` and `timelines` are keyed alike ("with_blp"/"without_blp" or any label).
    `json_data` is what report.json holds; by default the single report, or all of them
    keyed as given (which is what `blp simulate --compare --json` prints). `notes` are
    sentences shown under the headline table (e.g. why two of its runs differ).
    """
    path = prepare_dir(directory)
    if json_data is None:
        json_data = next(iter(reports.values())) if len(reports) == 1 else dict(reports)
    page = render_html(
        title=title,
        reports=reports,
        timelines=timelines,
        extra_series=extra_series,
        notes=notes,
    )
    return write_files(path, json_data, page)


def write_files(path: Path, json_data: Any, page: str) -> Path:
    """`path`/report.json and `path`/report.html (a prepared directory); the HTML's path."""
    html_path = path / "report.html"
    try:
        (path / "report.json").write_text(to_json(json_data), encoding="utf-8")
        html_path.write_text(page, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"cannot write report to {path}: {e.strerror or e}") from e
    return html_path


def html_page(title: str, body: Sequence[str]) -> str:
    """A report page around `body` (HTML fragments): the shared head, style and CSP."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style></head>\n"
        "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def render_html(
    *,
    title: str,
    reports: Mapping[str, Mapping[str, Any]],
    timelines: Mapping[str, Timeline],
    extra_series: ExtraSeries | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The whole page as a string."""
    body = [f"<h1>{escape(title)}</h1>", f'<p class="meta">{escape(_meta(reports))}</p>']
    body += ["<h2>Headline figures</h2>", headline_table(reports)]
    body += [f'<p class="note runs">{escape(n)}</p>' for n in notes]
    if set(reports) >= {"with_blp", "without_blp"}:
        avoided = _fmt(saving(dict(reports)).quantize(Decimal("0.01")))
        body.append(
            f'<p class="saving">ADL + socialised loss avoided by the program: {avoided} USDT</p>'
        )
    blp_rows = blp_table(reports)
    if blp_rows:
        body += ["<h2>BLPs</h2>", f'<div class="scroll">{blp_rows}</div>']  # narrow windows
    funding_rows = funding_table(reports)
    if funding_rows:
        body += ["<h2>Funding</h2>", f'<div class="scroll">{funding_rows}</div>']
    body += ['<h2>Charts</h2><section id="charts">']
    body += [f"<figure>{svg}</figure>" for svg in charts(timelines, extra_series)]
    body += [
        "</section>",
        '<p class="note">Times are engine seconds from the start of the scenario. '
        "The figures above are in report.json.</p>",
    ]
    return html_page(title, body)


def _label(key: str) -> str:
    return LABELS.get(key, key)


def _meta(reports: Mapping[str, Mapping[str, Any]]) -> str:
    r = next(iter(reports.values()), {})
    parts = []
    if "scenario" in r:
        parts.append(f"scenario {r['scenario']}")
    if "seed" in r:
        parts.append(f"seed {r['seed']}")
    if "accounts" in r:
        parts.append(f"{_fmt(r['accounts'])} accounts")
    if "seconds" in r:
        parts.append(f"{_fmt(r['seconds'])} engine seconds")
    if "drop" in r and r.get("scenario") == "crash":
        parts.append(f"drop {float(r['drop']):.0%}")
    return ", ".join(parts)


def _cell(v: Any) -> str:
    if isinstance(v, bool):  # a flag reads "yes"/"no", not Python's True/False
        return "yes" if v else "no"
    if isinstance(v, str):
        with contextlib.suppress(ArithmeticError):
            v = Decimal(v)
    return escape(_fmt(v))


def headline_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """The rows of `blp simulate`'s table, one column per report."""
    head = "".join(f"<th>{escape(_label(k))}</th>" for k in reports)
    rows = [
        f"<tr><td>{escape(label.strip())}</td>"
        + "".join(f"<td>{_cell(r.get(key, ''))}</td>" for r in reports.values())
        + "</tr>"
        for key, label in COMPARE_ROWS
    ]
    return (
        f'<table id="headline"><thead><tr><th></th>{head}</tr></thead><tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


def funding_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """What funding moved, net per account kind, one column per run ("" without a funding
    time); the note says when the interval was shortened."""
    funded = {
        k: r["funding"] for k, r in reports.items() if r.get("funding", {}).get("settlements")
    }
    if not funded:
        return ""
    head = "".join(f"<th>{escape(_label(k))}</th>" for k in funded)
    kinds = (("trader", "Traders"), ("blp", "BLPs"), ("market_maker", "Market makers"),
             ("insurance_fund", "Insurance fund"))  # fmt: skip
    rows = [
        f"<tr><td>{label} (net received)</td>"
        + "".join(f"<td>{_cell(f['received'].get(kind, ''))}</td>" for f in funded.values())
        + "</tr>"
        for kind, label in kinds
    ]
    notes = sorted({f["note"] for f in funded.values() if f.get("note")})
    return (
        f'<table id="funding"><thead><tr><th></th>{head}</tr></thead><tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table>"
        + "".join(f'<p class="note">{escape(n)}</p>' for n in notes)
    )


def blp_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """Per BLP of each run: assignments, notional, discount, equity at the end ("" if none)."""
    cols = (
        "assignments",
        "assigned_notional",
        "favorable_notional",
        "toxic_notional",
        "discount_value",
        "equity_end",
        "liquidated",
    )
    rows = []
    several = sum(1 for r in reports.values() if r.get("blps")) > 1
    for key, r in reports.items():
        for name, b in (r.get("blps") or {}).items():
            who = f"{escape(name)} ({escape(_label(key))})" if several else escape(name)
            rows.append(
                f"<tr><td>{who}</td>"
                + "".join(f"<td>{_cell(b.get(c, ''))}</td>" for c in cols)
                + "</tr>"
            )
    if not rows:
        return ""
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in cols)
    return (
        f'<table id="blps"><thead><tr><th>BLP</th>{head}</tr></thead><tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


def _at(*keys: str) -> Callable[[Mapping[str, Any]], Any]:
    """The getter of `sample[k1][k2]...`."""

    def get(sample: Mapping[str, Any]) -> Any:
        v: Any = sample
        for k in keys:
            v = v[k]
        return v

    return get


def _run_series(
    timelines: Mapping[str, Timeline],
    label: str,
    value: Callable[[Mapping[str, Any]], Any],
    color: str | None = None,
) -> list[Series]:
    """One series per run of `value(sample)`: later runs dashed; colour per run unless `color`
    is given (when several fields share a chart)."""
    return [
        Series(
            f"{label}, {_label(key)}" if len(timelines) > 1 else label,
            [(s["t"], value(s)) for s in tl],
            color=color or PALETTE[i % len(PALETTE)],
            dashed=i > 0,
        )
        for i, (key, tl) in enumerate(timelines.items())
    ]


# The charts of every run's scalar timeline fields, in page order:
# (title, chart id, y label, ((series label, timeline field), ...)).
RUN_CHARTS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    ("Liquidations (cumulative)", "liquidations", "count", (("liquidations", "liquidations"),)),
    (
        "Assigned to BLPs (cumulative notional)",
        "blp-assignments",
        "USDT",
        (("assigned", "blp_assigned_notional"),),
    ),
    ("Insurance fund (cash)", "insurance-fund", "USDT", (("insurance fund", "insurance_fund"),)),
    (
        "ADL and socialised loss (cumulative notional)",
        "adl-socialized",
        "USDT",
        (("ADL", "adl_notional"), ("socialised loss", "socialized_loss")),
    ),
)


def charts(timelines: Mapping[str, Timeline], extra_series: ExtraSeries | None = None) -> list[str]:
    """Every chart of the report, as SVG strings, in page order."""
    out: list[str] = []
    runs = {k: tl for k, tl in timelines.items() if tl}
    first = next(iter(runs.values()), [])
    symbols = sorted(first[0]["index"]) if first else []
    for sym in symbols:
        index = Series("index", [(s["t"], s["index"][sym]) for s in first], color=GREY)
        marks = _run_series(runs, "mark", _at("mark", sym))
        out.append(
            line_chart(
                f"{sym}: index and mark price",
                [index, *marks],
                chart_id=f"price-{_slug(sym)}",
                y_label="USDT",
            )
        )
    for title, chart_id, y_label, fields in RUN_CHARTS if runs else ():
        series = [
            s
            for j, (label, field) in enumerate(fields)
            for s in _run_series(
                runs,
                label,
                _at(field),
                PALETTE[j] if len(fields) > 1 else None,
            )
        ]
        out.append(line_chart(title, series, chart_id=chart_id, y_label=y_label))
    for title, named in (extra_series or {}).items():
        series = [Series(label, pts) for label, pts in named.items()]
        out.append(line_chart(title, series, chart_id=f"extra-{_slug(title)}"))
    return out
