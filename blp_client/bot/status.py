"""`Bot.status()`: one JSON-able snapshot of what the bot holds, owes and did, built from the
journal (the truth that survives restarts) plus the daemon's live caches.

Keys: running, paper, strategy, last_seq, inventory ({symbol: {venue: {position, in_flight}}}),
net_exposure, net_exposure_notional, max_net_exposure, marks, capacity, threshold,
threshold_history, risk (state, monitor, reasons, last_denies, thresholds_lowered, exchange
leverage/mf/mmf/equity, liquidation_state, assessed_seq), pending_actions, assignments (count,
notional, discount), recent_assignments (each with its hedges), hedge_latency_ms (p50, p99,
count), venues (health, market data error, margin), orders (total, by_state, open), fills
(count, by_venue, paper), pnl (total, fees, by_symbol_venue),
margin_events. Decimals are strings.
"""

from __future__ import annotations

import json
import sqlite3
from collections import deque
from dataclasses import asdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from blp_client.bot.daemon_io import as_str
from blp_client.bot.journal_schema import OPEN_STATES
from blp_client.bot.strategy import EXCHANGE, RiskState, View

if TYPE_CHECKING:
    from blp_client.bot.daemon import Bot

ZERO = Decimal(0)


class JournalReader:
    """Read-only queries for the status page on its own SQLite connection. Assignment totals
    are kept incrementally (only rows after the last one seen are read), so a status call
    stays cheap however long the journal grows."""

    def __init__(self, path: str, recent: int) -> None:
        self.db = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False
        )
        self.seq = 0
        self.count = 0
        self.notional = ZERO
        self.discount = ZERO
        self.recent: deque[dict[str, Any]] = deque(maxlen=recent)

    def close(self) -> None:
        self.db.close()

    def assignments(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        rows = self.db.execute(
            "SELECT seq, payload FROM events WHERE kind = 'assignment' AND seq > ? ORDER BY seq",
            (self.seq,),
        ).fetchall()
        for seq, text in rows:
            a = json.loads(text)
            qty, price, mark = Decimal(a["qty"]), Decimal(a["price"]), Decimal(a["mark_price"])
            disc = (mark - price) * qty * (1 if a["side"] == "buy" else -1)
            self.seq, self.count = seq, self.count + 1
            self.notional += qty * price
            self.discount += disc
            keep = (
                "id",
                "ts",
                "symbol",
                "side",
                "qty",
                "price",
                "mark_price",
                "kind",
                "discount_bps",
            )
            self.recent.append({"seq": seq, **{k: a[k] for k in keep}, "discount": str(disc)})
        totals = {"count": self.count, "notional": self.notional, "discount": self.discount}
        return [dict(r) for r in self.recent], totals

    def hedges(self, decisions: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        if not decisions:
            return out
        marks = ",".join("?" * len(decisions))
        cols = ("client_order_id", "venue", "qty", "filled", "avg_price", "state")
        for row in self.db.execute(
            "SELECT decision, client_order_id, venue, qty, filled_qty, avg_price, state "
            f"FROM orders WHERE decision IN ({marks}) ORDER BY rowid",
            decisions,
        ):
            out.setdefault(row[0], []).append(dict(zip(cols, row[1:], strict=True)))
        return out

    def orders(self) -> dict[str, Any]:
        by_state = dict(self.db.execute("SELECT state, COUNT(*) FROM orders GROUP BY state"))
        open_n = sum(by_state.get(s.value, 0) for s in OPEN_STATES)
        return {"total": sum(by_state.values()), "by_state": by_state, "open": open_n}

    def fills(self) -> dict[str, Any]:
        by_venue = dict(self.db.execute("SELECT venue, COUNT(*) FROM fills GROUP BY venue"))
        return {"count": sum(by_venue.values()), "by_venue": by_venue}


def build_status(bot: Bot) -> dict[str, Any]:
    j = bot.journal
    inv = j.inventory()
    view = bot.view(inv)
    symbols = sorted(set(bot.symbols) | set(inv.symbols()))
    marks = {s: view.mark(s) for s in symbols}
    inventory = {
        s: {
            v: {"position": h.position, "in_flight": h.in_flight}
            for (sym, v), h in inv.holdings.items()
            if sym == s
        }
        for s in symbols
    }
    net = {s: inv.net(s) for s in symbols}
    net_notional = {s: abs(net[s]) * (marks[s] or ZERO) for s in symbols}

    reader = bot.status_reader()
    recent, totals = reader.assignments()
    hedges = reader.hedges([str(r["seq"]) for r in recent])
    for r in recent:
        r["hedges"] = hedges.get(str(r["seq"]), [])

    total, fees_total, pnl_by = pnl(bot, view)

    prof = bot.profile
    capacity: dict[str, Any] = {}
    if prof is not None:
        capacity = {
            "minute_rate": prof.minute_rate,
            "hour_rate": prof.hour_rate,
            "used": {"minute": prof.used.minute, "hour": prof.used.hour},
            "remaining": {"minute": prof.remaining.minute, "hour": prof.remaining.hour},
            "use_minute": prof.used.minute / prof.minute_rate if prof.minute_rate else ZERO,
            "use_hour": prof.used.hour / prof.hour_rate if prof.hour_rate else ZERO,
            "threshold_headroom": dict(prof.threshold_headroom),
            "opted_in": prof.opted_in,
        }
    acct = bot.account
    lat = bot.metrics.hedge_latency
    health = bot.executor.health if bot.executor is not None else {}
    venues = {
        name: {
            **(health[name].as_dict() if name in health else {}),
            "market_data_error": bot.market.errors.get(name),
            "margin": as_str(asdict(bot.margins[name])) if name in bot.margins else None,
        }
        for name in (bot.executor.venues if bot.executor is not None else {})
    }
    out = {
        "running": bot.running,
        "paper": bot.paper,
        "strategy": type(bot.strategy).__name__,
        "last_seq": j.last_seq,
        "inventory": inventory,
        "net_exposure": net,
        "net_exposure_notional": net_notional,
        "max_net_exposure": bot.max_exposure,
        "marks": marks,
        "capacity": capacity,
        "threshold": dict(prof.max_position_notional) if prof is not None else {},
        "threshold_history": j.get_state("threshold_history") or [],
        "risk": {
            "state": bot.gate.state.value,
            "monitor": bot.config.risk.monitor,
            "reasons": bot.risk_reasons,
            "last_denies": list(bot.denies),
            "thresholds_lowered": bot.monitor.lowered,
            "exchange_leverage": acct.leverage if acct is not None else None,
            "exchange_mf": acct.mf if acct is not None else None,
            "exchange_mmf": acct.mmf if acct is not None else None,
            "exchange_equity": acct.equity if acct is not None else None,
            "liquidation_state": acct.liquidation_state if acct is not None else None,
            "assessed_seq": bot.assessed_seq,
        },
        "pending_actions": len(j.pending_actions()),
        "assignments": totals,
        "recent_assignments": recent,
        "hedge_latency_ms": {
            "p50": lat.quantile(0.5),
            "p99": lat.quantile(0.99),
            "count": len(lat.recent),
        },
        "venues": venues,
        "orders": reader.orders(),
        "fills": {**reader.fills(), "paper": bot.paper},
        "pnl": {"total": total, "fees": fees_total, "by_symbol_venue": pnl_by},
        "margin_events": list(bot.margin_events),
    }
    return as_str(out)  # type: ignore[no-any-return]


def pnl(bot: Bot, view: View) -> tuple[Decimal, Decimal, dict[str, dict[str, Decimal]]]:
    """(total PnL, fees, PnL by symbol and venue): uPnL at mark of what the journal holds,
    realised PnL, minus fees (a closed position's PnL is −cost)."""
    by: dict[str, dict[str, Decimal]] = {}
    total = fees_total = ZERO
    for (s, v), (pos, cost, fees) in bot.journal.positions().items():
        mark = view.mark(s)
        upnl = pos * mark - cost if mark is not None else -cost if pos == 0 else ZERO
        by.setdefault(s, {})[v] = upnl - fees
        total += upnl - fees
        fees_total += fees
    return total, fees_total, by


def update_gauges(bot: Bot) -> None:
    """Refresh the gauges from the journal and the daemon's caches."""
    inv = bot.journal.inventory()
    view = bot.view(inv)
    bot.metrics.pnl.set(pnl(bot, view)[0])
    for s in sorted(set(bot.symbols) | set(inv.symbols())):
        bot.track_exposure(s, inv)
        net = inv.net(s)
        bot.metrics.net_exposure.set(net, symbol=s)
        mark = view.mark(s)
        if mark is not None:
            bot.metrics.net_exposure_notional.set(abs(net) * mark, symbol=s)
    if bot.account is not None and bot.account.leverage is not None:
        bot.metrics.leverage.set(bot.account.leverage, account=EXCHANGE)
    for name, vm in bot.margins.items():
        if vm.leverage is not None:
            bot.metrics.leverage.set(vm.leverage, account=name)
    if bot.profile is not None:
        for s, v in bot.profile.max_position_notional.items():
            bot.metrics.threshold.set(v, symbol=s)
    for st in RiskState:
        bot.metrics.risk_state.set(1 if bot.gate.state is st else 0, state=st.value)


__all__ = ["build_status", "update_gauges"]
