"""`Bot.status()`: a typed snapshot (`BotStatus`) of what the bot holds, owes and did, read
from the journal (the truth that survives restarts) and the core's state (`core.decider`),
never from the daemon object. `BotStatus.as_json()` is what `/status` and the page serve
(Decimals as strings).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from blp_client.bot.config import BotConfig
from blp_client.bot.core.decider import Decider
from blp_client.bot.core.markouts import MarkoutTracker, label
from blp_client.bot.daemon_io import MarketData, as_str
from blp_client.bot.execution import Executor, VenueHealth
from blp_client.bot.journal import Journal
from blp_client.bot.journal_schema import OPEN_STATES
from blp_client.bot.metrics import BotMetrics
from blp_client.bot.pnl import HedgeCosts, pnl_lines, summarize
from blp_client.bot.status_links import OrderRow, link_hedges
from blp_client.bot.strategy import EXCHANGE, RiskState, View
from blp_client.vocabulary import ZERO

MAX_LINKED_ORDERS = 5000
"""Orders read to link hedges to the page's recent assignments, at most."""


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
        self.costs = HedgeCosts(self.db)

    def close(self) -> None:
        self.db.close()

    def assignments(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        rows = self.db.execute(
            "SELECT seq, payload, processed_ms FROM events WHERE kind = 'assignment' AND seq > ? "
            "ORDER BY seq",
            (self.seq,),
        ).fetchall()
        for seq, text, received_ms in rows:
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
            self.recent.append(
                {
                    "seq": seq,
                    **{k: a[k] for k in keep},
                    "discount": str(disc),
                    "received_ms": received_ms,  # wall time; `ts` is the engine's
                }
            )
        totals = {"count": self.count, "notional": self.notional, "discount": self.discount}
        return [dict(r) for r in self.recent], totals

    def hedges(self, recent: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """seq → the orders that hedged it (own, netted, escalated, timer retries) and its
        hedge state (`status_links`). Reads the recent assignments' own orders and every
        order since the oldest of them (at most `MAX_LINKED_ORDERS`)."""
        if not recent:
            return {}
        seqs = [str(r["seq"]) for r in recent]
        marks = ",".join("?" * len(seqs))
        (own_first,) = self.db.execute(
            f"SELECT MIN(rowid) FROM orders WHERE decision IN ({marks})", seqs
        ).fetchone()
        since = min(int(r.get("received_ms") or 0) for r in recent)
        starts = [x for x in (own_first, self._first_order_at(since)) if x is not None]
        if not starts:
            return {}
        first = min(starts)
        rows = self.db.execute(
            "SELECT client_order_id, decision, venue, symbol, qty, filled_qty, avg_price, state, "
            "created_ms, reason FROM orders WHERE rowid >= ? ORDER BY rowid LIMIT ?",
            (first, MAX_LINKED_ORDERS),
        ).fetchall()
        orders = [
            OrderRow(r[0], r[1], r[2], r[3], Decimal(r[4]), Decimal(r[5]), r[6], r[7], r[8], r[9])
            for r in rows
        ]
        cids = [o.client_order_id for o in orders]
        netted: dict[str, str] = {}
        for i in range(0, len(cids), 500):
            chunk = cids[i : i + 500]
            netted.update(
                self.db.execute(
                    "SELECT client_order_id, into_order FROM netted "
                    f"WHERE client_order_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            )
        return link_hedges(recent, orders, netted)

    def _first_order_at(self, ms: int) -> int | None:
        """The rowid of the first order created at or after `ms` (None: none), by bisection
        on rowid (orders are inserted in time order; created_ms has no index)."""
        (hi,) = self.db.execute("SELECT MAX(rowid) FROM orders").fetchone()
        if hi is None:
            return None
        lo = 1
        while lo < hi:
            mid = (lo + hi) // 2
            row = self.db.execute(
                "SELECT created_ms FROM orders WHERE rowid >= ? ORDER BY rowid LIMIT 1", (mid,)
            ).fetchone()
            if row is not None and row[0] >= ms:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def received(self, seqs: list[int]) -> dict[int, int]:
        """Stream seq → when the bot journaled it (wall ms)."""
        if not seqs:
            return {}
        marks = ",".join("?" * len(seqs))
        rows = self.db.execute(
            f"SELECT seq, processed_ms FROM events WHERE seq IN ({marks})", seqs
        ).fetchall()
        return {int(a): int(b) for a, b in rows}

    def orders(self) -> dict[str, Any]:
        by_state = dict(self.db.execute("SELECT state, COUNT(*) FROM orders GROUP BY state"))
        open_n = sum(by_state.get(s.value, 0) for s in OPEN_STATES)
        return {"total": sum(by_state.values()), "by_state": by_state, "open": open_n}

    def fills(self) -> dict[str, Any]:
        by_venue = dict(self.db.execute("SELECT venue, COUNT(*) FROM fills GROUP BY venue"))
        return {"count": sum(by_venue.values()), "by_venue": by_venue}


@dataclass(frozen=True)
class StatusSources:
    """What a status is read from: the core, the journal and the daemon's I/O caches."""

    core: Decider
    journal: Journal
    reader: JournalReader
    metrics: BotMetrics
    market: MarketData
    executor: Executor | None
    config: BotConfig
    paper: bool = False
    running: bool = False
    assessed_seq: int = 0
    markouts: MarkoutTracker | None = None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskStatus(_Model):
    state: str
    monitor: bool
    reasons: list[str]
    last_denies: list[dict[str, str]]
    thresholds_lowered: bool
    exchange_leverage: Decimal | None
    exchange_mf: Decimal | None
    exchange_mmf: Decimal | None
    exchange_imf: Decimal | None
    exchange_equity: Decimal | None
    liquidation_state: str | None
    assessed_seq: int
    assessment_staleness_ms: int | None
    """Age of the oldest input (exchange account, venue margins) at the last assessment."""
    venue_data_ms: int | None
    """When the oldest venue margin reading was taken (wall ms; None: a venue never read)."""
    venue_data_stale: bool


class ProgramStatus(_Model):
    in_program: bool
    in_program_fraction: float | None
    observed_ms: int
    out_since_ms: int | None
    threshold_headroom: dict[str, Decimal]


class ExecutionStatus(_Model):
    orders_sent: int
    orders_netted: int
    orders_per_assignment: float | None
    escalations: int
    exposure_alarms: dict[str, int]
    """Contract → since when (wall ms) its |net exposure| has been above the alarm band, for
    the alarms firing now."""


class BotStatus(_Model):
    running: bool
    paper: bool
    strategy: str
    strategy_state: dict[str, Any]
    last_seq: int
    inventory: dict[str, dict[str, dict[str, Decimal]]]
    net_exposure: dict[str, Decimal]
    net_exposure_notional: dict[str, Decimal]
    max_net_exposure: dict[str, dict[str, Decimal]]
    marks: dict[str, Decimal | None]
    capacity: dict[str, Any]
    threshold: dict[str, Decimal]
    threshold_history: list[dict[str, Any]]
    risk: RiskStatus
    program: ProgramStatus
    execution: ExecutionStatus
    pending_actions: int
    assignments: dict[str, Any]
    recent_assignments: list[dict[str, Any]]
    hedge_latency_ms: dict[str, float | int | None]
    venues: dict[str, dict[str, Any]]
    orders: dict[str, Any]
    fills: dict[str, Any]
    pnl: dict[str, Any]
    funding: dict[str, Any]
    margin_events: list[dict[str, Any]]
    alarms: dict[str, Any]
    """Operator alarms (`core.alarms`): assignments in contracts nothing hedges, position
    differences found by reconciliation (both figures, and whether corrected), the price
    audit (assignments checked, mismatches and the latest of them)."""
    markouts: dict[str, Any]
    """The assigned flow's notional-weighted markouts (`core.markouts`): `bps` and `count`
    per horizon (1s, 10s, 60s); bps None until one is due."""

    def as_json(self) -> dict[str, Any]:
        return as_str(self.model_dump(mode="json"))  # type: ignore[no-any-return]


def build_status(src: StatusSources, now_ms: int) -> BotStatus:
    core, j = src.core, src.journal
    inv = j.inventory()
    view = core.view(now_ms, inv)
    symbols = sorted(set(core.symbols) | set(inv.symbols()))
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

    recent, totals = src.reader.assignments()
    links = src.reader.hedges(recent)
    for r in recent:
        r.update(
            links.get(int(r["seq"]), {"hedges": [], "offsets": [], "hedge_state": "not hedged"})
        )

    pnl_status = pnl(j, view, src.reader.costs)
    prof = view.profile
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
    acct = view.account
    lat = src.metrics.hedge_latency
    ex = src.executor
    health = ex.health if ex is not None else {}
    venues = {
        name: {
            **(health[name] if name in health else VenueHealth()).as_dict(),
            "market_data_error": src.market.errors.get(name),
            "margin": _margin(name, view),
        }
        for name in (ex.venues if ex is not None else {})
    }
    hedge_venues = sorted(src.config.venues)
    age = core.venue_data_age(now_ms, hedge_venues)
    stale = bool(hedge_venues) and (age is None or age > src.config.risk.venue_stale_ms)
    count = int(totals["count"])
    sent = ex.sends if ex is not None else 0
    program = core.program
    return BotStatus(
        running=src.running,
        paper=src.paper,
        strategy=type(core.strategy).__name__,
        strategy_state=core.strategy.dump_state(),
        last_seq=j.last_seq,
        inventory=inventory,
        net_exposure=net,
        net_exposure_notional=net_notional,
        max_net_exposure=core.max_exposure,
        marks=marks,
        capacity=capacity,
        threshold=dict(prof.max_position_notional) if prof is not None else {},
        threshold_history=_received(src.reader, core.threshold_history),
        risk=RiskStatus(
            state=core.gate.state.value,
            monitor=src.config.risk.monitor,
            reasons=dedupe_reasons(core.risk_reasons),
            last_denies=list(core.denies),
            thresholds_lowered=core.monitor.lowered,
            exchange_leverage=acct.leverage if acct is not None else None,
            exchange_mf=acct.mf if acct is not None else None,
            exchange_mmf=acct.mmf if acct is not None else None,
            exchange_imf=acct.imf if acct is not None else None,
            exchange_equity=acct.equity if acct is not None else None,
            liquidation_state=acct.liquidation_state if acct is not None else None,
            assessed_seq=src.assessed_seq,
            assessment_staleness_ms=core.staleness_ms,
            venue_data_ms=None if age is None else now_ms - age,
            venue_data_stale=stale,
        ),
        program=ProgramStatus(
            in_program=program.inside,
            in_program_fraction=program.fraction,
            observed_ms=program.observed_ms,
            out_since_ms=program.out_since_ms,
            threshold_headroom=dict(prof.threshold_headroom) if prof is not None else {},
        ),
        execution=ExecutionStatus(
            orders_sent=sent,
            orders_netted=ex.netted if ex is not None else 0,
            orders_per_assignment=sent / count if count else None,
            escalations=int(sum(src.metrics.escalations.values.values())),
            exposure_alarms=dict(core.alarm.firing),
        ),
        pending_actions=len(j.pending_actions()),
        assignments=totals,
        recent_assignments=recent,
        hedge_latency_ms={
            "p50": lat.quantile(0.5),
            "p99": lat.quantile(0.99),
            "count": len(lat.recent),
        },
        venues=venues,
        orders=src.reader.orders(),
        fills={**src.reader.fills(), "paper": src.paper},
        pnl=pnl_status,
        funding=_funding_status(view, j),
        margin_events=_received(src.reader, list(core.margin_events)),
        alarms=core.alarms.as_json(),
        markouts=markouts_status(src.markouts),
    )


def markouts_status(tracker: MarkoutTracker | None) -> dict[str, Any]:
    t = tracker or MarkoutTracker()
    return {
        "bps": t.as_json(),
        "count": {label(h): t.count(h) for h in t.horizons_ms},
    }


def _margin(name: str, view: View) -> dict[str, Any] | None:
    """A venue's margin reading; the exchange's is the BLP account's own."""
    if name in view.venue_margins:
        return as_str(asdict(view.venue_margins[name]))  # type: ignore[no-any-return]
    acct = view.account
    if name == EXCHANGE and acct is not None:
        return {
            "venue": EXCHANGE,
            "equity": str(acct.equity),
            "notional": str(acct.notional),
            "maintenance_margin": str(acct.maintenance_margin),
        }
    return None


def _received(reader: JournalReader, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stream entries (engine time in `ts`/`ms`) with `received_ms`, the wall time the bot
    journaled them: the page shows wall time throughout."""
    when = reader.received([int(e["seq"]) for e in entries if "seq" in e])
    return [{**e, "received_ms": when.get(int(e.get("seq", 0)))} for e in entries]


_COMPARED = re.compile(r"^(?P<subject>.+?) (?P<value>\S+) (?P<op>>=|<=|<|>) (?P<limit>.+)$")


def dedupe_reasons(reasons: Sequence[str]) -> list[str]:
    """Each risk reason once: the same reading against several limits (the REDUCING level and
    the threshold-lowering one) becomes one line, "leverage 9.10 (>= 8; >= 6)"."""
    groups: dict[str, list[str]] = {}
    for r in dict.fromkeys(reasons):
        m = _COMPARED.match(r)
        key = f"{m['subject']} {m['value']}" if m else r
        groups.setdefault(key, [])
        if m:
            groups[key].append(f"{m['op']} {m['limit']}")
    out = []
    for key, limits in groups.items():
        if not limits:
            out.append(key)
        elif len(limits) == 1:
            out.append(f"{key} {limits[0]}")
        else:
            out.append(f"{key} ({'; '.join(limits)})")
    return out


def pnl(journal: Journal, view: View, costs: HedgeCosts | None = None) -> dict[str, Any]:
    """The P&L at mark, split per venue (`bot.pnl`): `total`, `fees`, `funding`, `lines`,
    `by_venue`, `by_symbol_venue` and `detail`. Without `costs` (the gauges) discount and
    slippage are not split out of the market move."""
    if costs is not None:
        costs.update()
    return summarize(pnl_lines(journal.positions(), journal.funding_totals(), view, costs))


def update_gauges(src: StatusSources, now_ms: int) -> None:
    """Refresh the gauges from the journal and the core."""
    core, m = src.core, src.metrics
    inv = src.journal.inventory()
    view = core.view(now_ms, inv)
    m.pnl.set(pnl(src.journal, view)["total"])
    for (sym, ven), rate in view.funding_rates.items():
        if rate.current is not None:
            m.funding_rate.set(rate.current, symbol=sym, venue=ven, kind="current")
        if rate.predicted is not None:
            m.funding_rate.set(rate.predicted, symbol=sym, venue=ven, kind="predicted")
    for s in sorted(set(core.symbols) | set(inv.symbols())):
        core.track_exposure(s, inv)
        net = inv.net(s)
        m.net_exposure.set(net, symbol=s)
        mark = view.mark(s)
        if mark is not None:
            m.net_exposure_notional.set(abs(net) * mark, symbol=s)
    if view.account is not None and view.account.leverage is not None:
        m.leverage.set(view.account.leverage, account=EXCHANGE)
    for name, vm in view.venue_margins.items():
        if vm.leverage is not None:
            m.leverage.set(vm.leverage, account=name)
    if view.profile is not None:
        for s, v in view.profile.max_position_notional.items():
            m.threshold.set(v, symbol=s)
    for st in RiskState:
        m.risk_state.set(1 if core.gate.state is st else 0, state=st.value)
    m.in_program.set(1 if core.program.inside else 0)
    if src.markouts is not None:
        for h in src.markouts.horizons_ms:
            bps = src.markouts.bps(h)
            if bps is not None:
                m.markout_bps.set(bps, horizon=label(h))
                m.markouts.set(src.markouts.count(h), horizon=label(h))
    fraction = core.program.fraction
    if fraction is not None:
        m.in_program_fraction.set(fraction)


def _funding_status(view: View, journal: Journal) -> dict[str, Any]:
    """Rates per contract and venue, and what was paid and received."""
    rates = {
        f"{s}@{v}": {
            "symbol": s,
            "venue": v,
            "current": r.current,
            "predicted": r.predicted,
            "next_ms": r.next_ms,
        }
        for (s, v), r in sorted(view.funding_rates.items())
    }
    totals = {
        f"{s}@{v}": {"symbol": s, "venue": v, "paid": paid, "received": received}
        for (s, v), (paid, received) in sorted(journal.funding_totals().items())
    }
    return {"rates": rates, "payments": totals}


__all__ = ["BotStatus", "StatusSources", "build_status", "update_gauges"]
