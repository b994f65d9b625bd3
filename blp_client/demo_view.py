"""What `blp demo` shows: the live block on the terminal, the final report (text and JSON) and
the HTML report. Pure formatting over `demo.run_demo`'s result and snapshots."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from .demo_sim import OUR_BLP, OUR_NAME, VENUE_COLLATERAL
from .engine.simulate import compare_text, saving
from .vocabulary import ZERO

D = Decimal
CLAWBACK_KEYS = (
    "adl_count",
    "adl_notional",
    "socialized_loss",
    "socialized_events",
    "clawback_rate",
    "adl_plus_socialized",
)


def _d(v: Any) -> Decimal:
    return D(str(v)) if v is not None else ZERO


def money(v: Any) -> str:
    return f"{_d(v):,.2f}"


def _ms(v: Any) -> str:
    return "-" if v is None else f"{float(v):.1f} ms"


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _on(v: bool) -> str:
    return "on" if v else "OFF"


def _net(net: dict[str, Any]) -> str:
    return "  ".join(f"{s} {_d(q):+.3f}" for s, q in sorted(net.items())) or "flat"


# ---- live ----------------------------------------------------------------------------------


def live_lines(snap: dict[str, Any]) -> list[str]:
    st = snap["status"]
    a, cap, risk = st["assignments"], st.get("capacity") or {}, st["risk"]
    orders, lat = st["orders"], st["hedge_latency_ms"]
    # the journal keeps every queued hedge; most are netted or spilled into a later order
    sent = int((st.get("execution") or {}).get("orders_sent") or 0)
    prices = "  ".join(f"{s} {_d(p):,.1f}" for s, p in sorted(snap["index"].items()))
    lev = risk.get("exchange_leverage")
    return [
        f"blp demo  {snap['phase']:<8} engine t={snap['t']:5.0f}s / {snap['seconds']}s "
        f"({snap['speed']:.0f}x)   wall {snap['wall']:5.1f}s   index {prices}",
        f"  assignments  {a['count']:>6,}   notional {money(a['notional']):>15} USDT"
        f"   discount {money(a['discount'])} USDT",
        f"  net exposure {_net(st['net_exposure'])}   (max {_net(snap['max_net'])})",
        f"  hedges       {sent:>6,} sent ({orders['total']:,} journaled), "
        f"{orders['open']} open, {st['fills']['count']:,} fills   latency p50 {_ms(lat['p50'])}"
        f" p99 {_ms(lat['p99'])}",
        f"  PnL          {money(st['pnl']['total']):>15} USDT   fees {money(st['pnl']['fees'])}",
        f"  capacity     minute {_d(cap.get('use_minute')):7.1%}  hour "
        f"{_d(cap.get('use_hour')):7.1%}   threshold "
        + "  ".join(f"{s} {_d(v):,.0f}" for s, v in sorted(st["threshold"].items())),
        f"  risk         {risk['state'].upper()}   exchange leverage "
        f"{'-' if lev is None else f'{_d(lev):.2f}x'}   threshold changes "
        f"{sum(1 for c in st['threshold_history'] if c.get('reason') != 'registered')}",
    ]


class LiveView:
    """One block redrawn in place on a terminal; a line every `every_s` otherwise."""

    def __init__(self, stream: TextIO = sys.stderr, every_s: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every_s = every_s
        self._drawn = 0
        self._last = 0.0

    def __call__(self, snap: dict[str, Any]) -> None:
        lines = live_lines(snap)
        if self.tty:
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self.stream.write(up + "\x1b[J" + "\n".join(lines) + "\n")
            self._drawn = len(lines)
        elif time.monotonic() - self._last >= self.every_s or snap["phase"] == "done":
            self._last = time.monotonic()
            st = snap["status"]
            self.stream.write(
                f"[t={snap['t']:.0f}s] {snap['phase']}: assignments {st['assignments']['count']},"
                f" hedges {st['orders']['total']}, net {_net(st['net_exposure'])},"
                f" PnL {money(st['pnl']['total'])}, risk {st['risk']['state']}\n"
            )
        self.stream.flush()


# ---- the result ----------------------------------------------------------------------------


def _equity(st: dict[str, Any]) -> dict[str, str | None]:
    """Where the desk's equity sits at the end: the exchange account against its collateral,
    the hedge venue against its deposit (flat in net, a crash moves equity from one to the
    other)."""
    risk = st.get("risk") or {}
    venue = ((st.get("venues") or {}).get("binance") or {}).get("margin") or {}
    ex_end, venue_end = risk.get("exchange_equity"), venue.get("equity")
    return {
        "exchange_start": str(OUR_BLP.collateral),
        "exchange_end": None if ex_end is None else str(_d(ex_end).quantize(D("0.01"))),
        "exchange_leverage_end": None
        if risk.get("exchange_leverage") is None
        else str(_d(risk["exchange_leverage"]).quantize(D("0.01"))),
        "venue_change": None
        if venue_end is None
        else str((_d(venue_end) - VENUE_COLLATERAL).quantize(D("0.01"))),
    }


def summary(live: dict[str, Any]) -> dict[str, Any]:
    """The demo's report as JSON-able data (decimals as strings)."""
    st = live["final_status"]
    a, pnl = st.get("assignments", {}), st.get("pnl", {})
    discount, total, fees = _d(a.get("discount")), _d(pnl.get("total")), _d(pnl.get("fees"))
    sim = live["simulated"]
    lat = st.get("hedge_latency_ms", {})
    opts = live["options"]
    others = {
        n: {"assignments": b["assignments"], "assigned_notional": str(b["assigned_notional"])}
        for n, b in live["live_report"]["blps"].items()
    }
    marks = {s: _d(m) for s, m in (st.get("marks") or {}).items()}
    return {
        "scenario": {
            "name": "crash",
            "accounts": opts.accounts,
            "seed": opts.seed,
            "drop": opts.drop,
            "engine_seconds": live["engine_seconds"],
            "speed": round(live["speed"], 2),
            "wall_seconds": live["wall_seconds"],
        },
        "assignments": int(a.get("count", 0)),
        "assignments_at_engine": live["engine_assignments"],
        "assigned_notional": str(_d(a.get("notional"))),
        "discount_captured": str(discount),
        "hedge_orders": live["hedge_orders"],
        "exchange_orders": live["exchange_orders"],
        "orders_per_assignment": _round(live["orders_per_assignment"], 4),
        "hedge_fills": int(st.get("fills", {}).get("count", 0)),
        "duplicate_client_ids": live["duplicate_client_ids"],
        "hedge_costs": {
            "fees": str(fees),
            "slippage_and_moves": str(discount - fees - total),
            "total": str(discount - total),
        },
        "pnl": str(total),
        "net_exposure_end": {s: str(q) for s, q in live["real_net"].items()},
        "bot_net_exposure_end": st.get("net_exposure", {}),
        "max_net_exposure": {s: str(q) for s, q in live["max_net"].items()},
        "max_net_exposure_notional": str(live["max_net_notional"].quantize(D("0.01"))),
        "max_capacity_use": {
            "minute": str(live["max_use"][0].quantize(D("0.0001"))),
            "hour": str(live["max_use"][1].quantize(D("0.0001"))),
        },
        "threshold_end": st.get("threshold", {}),
        "threshold_changes": [
            c for c in st.get("threshold_history", []) if c.get("reason") != "registered"
        ],
        "risk_state_end": st.get("risk", {}).get("state"),
        "in_program_fraction": _round(live["in_program_fraction"], 4),
        "blp_liquidated": live["blp_liquidated"],
        "equity": _equity(st),
        "venue_limits": live["venue_limits"],
        "ccxt_throttle": live["ccxt_throttle"],
        "engine_pid": live["engine_pid"],
        "demo_pid": live["demo_pid"],
        "hedge_latency_ms": {
            "p50": lat.get("p50"),
            "p99": lat.get("p99"),
            "count": lat.get("count", 0),
        },
        "blps_live": others,
        "final_marks": {s: str(m) for s, m in marks.items()},
        "clawback": {
            **{run: {k: sim[run]["report"][k] for k in CLAWBACK_KEYS} for run in sim},
            "avoided": saving({r: sim[r]["report"] for r in sim}),
        },
        "settled": live["settled"],
        "aborted": live.get("aborted", False),
    }


def text_report(s: dict[str, Any], live: dict[str, Any]) -> str:
    """The end-of-demo report for people."""
    sc, cost, lat = s["scenario"], s["hedge_costs"], s["hedge_latency_ms"]
    thr = s["threshold_changes"]
    lines = [
        f"Crash of {sc['drop']:.0%} over one engine hour ({sc['speed']:.0f}x, "
        f"{sc['wall_seconds']} s), {sc['accounts']:,} leveraged accounts, three BLPs.",
        "",
        "Our BLP (hedged by the bot with ImmediateHedge through ccxt):",
        f"  assignments          {s['assignments']:,} (notional {money(s['assigned_notional'])}"
        " USDT)",
        f"  discount captured    {money(s['discount_captured'])} USDT",
        f"  hedge orders         {s['hedge_orders']:,} ({s['hedge_fills']:,} fills), "
        f"duplicate client ids {s['duplicate_client_ids']}",
        "  orders / assignment  "
        + ("-" if s["orders_per_assignment"] is None else f"{s['orders_per_assignment']:.2f}")
        + f" ({s['hedge_orders']:,} on the venue + {s['exchange_orders']:,} on the exchange,"
        f" {s['assignments_at_engine']:,} assignments)",
        f"  hedge costs          {money(cost['total'])} USDT (fees {money(cost['fees'])}, "
        f"slippage and moves {money(cost['slippage_and_moves'])})",
        f"  PnL                  {money(s['pnl'])} USDT",
        f"  max net exposure     {_net(s['max_net_exposure'])} "
        f"({money(s['max_net_exposure_notional'])} USDT)",
        f"  net exposure at end  {_net(s['net_exposure_end'])} (exchange + venue accounts)",
        f"  capacity use (max)   minute {_d(s['max_capacity_use']['minute']):.1%}, "
        f"hour {_d(s['max_capacity_use']['hour']):.1%}",
        f"  threshold changes    {len(thr)}"
        + "".join(
            f"\n    {c.get('reason')}: "
            + ", ".join(f"{k} {_d(v):,.0f}" for k, v in sorted(c["max_position_notional"].items()))
            for c in thr[-5:]
        ),
        f"  risk state at end    {s['risk_state_end']}",
        f"  in the program       {_pct(s['in_program_fraction'])} of the crash (threshold"
        " headroom > 0 on every contract)",
        f"  BLP liquidated       {'YES' if s['blp_liquidated'] else 'no'}",
        f"  hedge latency        p50 {_ms(lat['p50'])}, p99 {_ms(lat['p99'])} "
        f"(assignment received -> hedge acknowledged, {lat['count']} hedges)",
        f"  conditions           engine in its own process (pid {s['engine_pid']}), venue"
        f" rate limits {_on(s['venue_limits'])}, ccxt throttle {_on(s['ccxt_throttle'])}",
        "",
        "Other BLPs in this run: "
        + ", ".join(
            f"{n} {b['assignments']:,} assignments"
            for n, b in s["blps_live"].items()
            if n != OUR_NAME
        ),
        "",
        "The same market simulated with and without BLPs (clawback figures):",
        compare_text({run: r["report"] for run, r in live["simulated"].items()}),
    ]
    if s["aborted"]:
        lines.append(
            "\nnote: interrupted (Ctrl-C): the crash was cut short and the bot stopped"
            " without waiting to hedge what was still open."
        )
    elif not s["settled"]:
        lines.append("\nnote: the bot had not fully caught up when the demo ended.")
    return "\n".join(lines)


def write_html(directory: Path, s: dict[str, Any], live: dict[str, Any]) -> Path:
    """report.html (charts: prices, liquidations, fund, the bot's exposure, threshold, PnL)
    and report.json (the summary) in `directory`."""
    from .report import write_report

    sim = live["simulated"]
    series = live["series"]
    symbols = sorted(
        {k for p in series for k in p["net"]} | {k for p in series for k in p["threshold"]}
    )
    extra = {
        "Bot: net exposure (contracts)": {
            sym: [(p["t"], _d(p["net"].get(sym))) for p in series] for sym in symbols
        },
        "Bot: Max Position Notional Threshold (USDT)": {
            sym: [(p["t"], _d(p["threshold"].get(sym))) for p in series] for sym in symbols
        },
        "Bot: PnL (USDT)": {"PnL": [(p["t"], _d(p["pnl"])) for p in series]},
    }
    return write_report(
        directory,
        title="blp demo: the bot through a crash",
        json_data=s,
        reports={
            "demo (live)": live["live_report"],
            "with_blp": sim["with_blp"]["report"],
            "without_blp": sim["without_blp"]["report"],
        },
        timelines={"demo (live)": live["timeline"], "without_blp": sim["without_blp"]["timeline"]},
        extra_series=extra,
        notes=(LIVE_VS_SIMULATED,),
    )


LIVE_VS_SIMULATED = (
    "Why \u201cdemo (live)\u201d and \u201cwith BLPs\u201d differ: both are the same crash "
    "(seed, accounts, BLPs), but in the live run our BLP is the bot, whose hedges trade on the "
    "venue's book (moving the prices that trigger liquidations) and whose risk monitor changes "
    "its threshold, and the engine runs on a sped-up wall clock, so timing depends on the "
    "machine; the simulation steps the engine in engine time with our BLP as a passive account "
    "at a fixed threshold, and is the same for a seed."
)

__all__ = ["LiveView", "live_lines", "summary", "text_report", "write_html"]
