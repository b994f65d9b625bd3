"""A backtest's report for people: the text table `blp backtest` prints, and the HTML page
(`--report DIR`) with the P&L, exposure, leverage and threshold over time next to the
market's charts (the same charts and page style as `blp simulate --report`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from blp_client.charts import Point
from blp_client.engine.simulate import _fmt
from blp_client.report import charts, html_page, prepare_dir, write_files

ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Assignments", ("assignments", "total")),
    ("  favorable", ("assignments", "favorable")),
    ("  toxic", ("assignments", "toxic")),
    ("Assigned notional", ("assigned_notional",)),
    ("Discount captured", ("discount_captured", "total")),
    ("  favorable gain", ("discount_captured", "favorable_gain")),
    ("  toxic loss", ("discount_captured", "toxic_loss")),
    ("Hedge fees", ("hedge_costs", "fees")),
    ("Hedge slippage", ("hedge_costs", "slippage")),
    ("Market move", ("hedge_costs", "market_move")),
    ("P&L", ("pnl",)),
    ("Max drawdown", ("max_drawdown",)),
    ("Markout 1 s (bps)", ("markouts_bps", "1s")),
    ("Markout 10 s (bps)", ("markouts_bps", "10s")),
    ("Markout 60 s (bps)", ("markouts_bps", "60s")),
    ("Max net exposure", ("max_net_exposure",)),
    ("Max exchange leverage", ("max_exchange_leverage",)),
    ("Max venue leverage", ("max_venue_leverage",)),
    ("Time in program", ("in_program_fraction",)),
    ("Auto-liquidated", ("liquidated",)),
    ("Price audit mismatches", ("price_audit", "mismatches")),
)


def _get(report: Mapping[str, Any], path: Sequence[str]) -> Any:
    v: Any = report
    for k in path:
        v = v.get(k) if isinstance(v, Mapping) else None
    return v


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1%}"
    return _fmt(v)


def table(report: Mapping[str, Any]) -> str:
    rows = [(label, _cell(_get(report, path))) for label, path in ROWS]
    left = max(len(r[0]) for r in rows)
    right = max(len(r[1]) for r in rows)
    return "\n".join(f"{a.ljust(left)}  {b.rjust(right)}" for a, b in rows)


def head(report: Mapping[str, Any]) -> str:
    """One line: what ran."""
    c = report["commitment"]
    return (
        f"blp backtest: {report['scenario']}, seed {report['seed']}, "
        f"{report['accounts']:,} accounts, {report['seconds']:,} s, strategy "
        f"{report['strategy']}; commitment {_fmt(c['minute_rate'])}/min, "
        f"{_fmt(c['hour_rate'])}/h, threshold {_fmt(c['threshold'])}, collateral "
        f"{_fmt(c['collateral'])}"
    )


def text(report: Mapping[str, Any]) -> str:
    return f"{head(report)}\n\n{table(report)}"


def extra_series(timeline: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[Point]]]:
    """The bot's own charts: P&L, net exposure, leverage, threshold."""
    symbols = sorted({s for p in timeline for s in p["net_exposure"]})
    thresholds = sorted({s for p in timeline for s in p["threshold"]})

    def lev(p: Mapping[str, Any], key: str) -> Any:
        return p[key] if p[key] is not None else 0

    return {
        "P&L (exchange + venues, USDT)": {"P&L": [(p["t"], p["pnl"]) for p in timeline]},
        "Net exposure (notional, USDT)": {
            s: [(p["t"], p["net_exposure"].get(s, 0)) for p in timeline] for s in symbols
        },
        "Leverage": {
            "exchange": [(p["t"], lev(p, "exchange_leverage")) for p in timeline],
            "venues (max)": [(p["t"], lev(p, "venue_leverage")) for p in timeline],
        },
        "Max Position Notional Threshold": {
            s: [(p["t"], p["threshold"][s]) for p in timeline if s in p["threshold"]]
            for s in thresholds
        },
    }


def write_html(
    directory: Path | str, report: Mapping[str, Any], timeline: Sequence[Mapping[str, Any]]
) -> Path:
    """DIR/report.json (the JSON `--json` prints) and DIR/report.html; the HTML's path."""
    path = prepare_dir(directory)
    rows = "".join(
        f"<tr><td>{escape(label)}</td><td>{escape(_cell(_get(report, keys)))}</td></tr>"
        for label, keys in ROWS
    )
    title = f"blp backtest: {report['scenario']}, seed {report['seed']}"
    svgs = charts({"backtest": timeline}, extra_series(timeline))
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(head(report))}</p>',
        f"<h2>Headline figures</h2><table><tbody>{rows}</tbody></table>",
        '<h2>Charts</h2><section id="charts">',
        *(f"<figure>{svg}</figure>" for svg in svgs),
        "</section>",
        '<p class="note">Times are engine seconds from the start of the scenario. '
        "Every figure is in report.json.</p>",
    ]
    return write_files(path, report, html_page(title, body))
