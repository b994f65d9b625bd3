"""What the daemon does with each stream event, with venue fills and with the risk monitor's
decisions: build the view, let the strategy decide, pass the gate, journal it all in one
transaction, then hand the orders to the executor.

Each function runs without an `await`, so decisions never interleave, and each event is
recorded with everything it causes (journal.py), so a crash anywhere replays it or skips it,
never half of it.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from blp_client.bot.execution import wall_ms
from blp_client.bot.journal import Committed, FillRecord, PositionDelta
from blp_client.bot.risk import Denied
from blp_client.bot.strategy import (
    EXCHANGE,
    AssignmentReceived,
    FillReceived,
    Intent,
    RiskChanged,
    SetThreshold,
)
from blp_client.models import AssignmentEvent, Event, FillEvent, MarginEvent, ProfileEvent

if TYPE_CHECKING:
    from blp_client.bot.daemon import Bot

log = structlog.get_logger("blp_client.bot.daemon")


def handle_event(bot: Bot, ev: Event) -> None:
    """Process one stream event exactly once (synchronous: no interleaving)."""
    if bot.journal.processed(ev.seq):
        return
    received = time.monotonic()
    state: dict[str, Any] = {}
    if isinstance(ev, AssignmentEvent):
        a = ev.data
        delta = PositionDelta.of_assignment(a)
        inv = bot.journal.inventory().changed(a.symbol, EXCHANGE, position=delta.qty)
        allowed, denied = bot.decide(bot.view(inv), AssignmentReceived(a))
        state["strategy"] = bot.strategy.dump_state()
        c = record(
            bot, ev, "assignment", positions=[delta], intents=allowed, denied=denied, state=state
        )
        if c is not None:
            bot.metrics.assignments.inc(symbol=a.symbol)
            bot.metrics.assigned_notional.inc(a.qty * a.price, symbol=a.symbol)
            side = 1 if a.side == "buy" else -1
            disc = (a.mark_price - a.price) * a.qty * side
            if disc > 0:
                bot.metrics.discount.inc(disc, symbol=a.symbol)
            log.info(
                "assignment",
                seq=a.seq,
                id=a.id,
                symbol=a.symbol,
                side=a.side,
                qty=str(a.qty),
                price=str(a.price),
                discount=str(disc),
                orders=[o.client_order_id for o in c.orders],
            )
        bot.submit(c, received)
        for i in allowed:  # the view after this decision: its orders in flight
            if not isinstance(i, SetThreshold):
                inv = inv.changed(i.symbol, i.venue, in_flight=i.qty)
        bot.track_exposure(a.symbol, inv)
        bot.monitor_wake.set()
    elif isinstance(ev, FillEvent):
        f = ev.data
        qty = f.qty if f.side == "buy" else -f.qty
        fill = FillRecord(
            EXCHANGE, str(f.trade_id), f.symbol, qty, f.price, f.fee, ev.ts, f.client_order_id
        )
        inv = bot.journal.inventory().changed(f.symbol, EXCHANGE, position=qty)
        order = bot.journal.order(f.client_order_id) if f.client_order_id else None
        if order is not None and order.is_open:
            inv = inv.changed(f.symbol, EXCHANGE, in_flight=-qty)
        allowed, denied = bot.decide(
            bot.view(inv),
            FillReceived(EXCHANGE, f.symbol, fill.trade_id, f.client_order_id, qty, f.price, f.fee),
        )
        state["strategy"] = bot.strategy.dump_state()
        c = record(bot, ev, "fill", fills=[fill], intents=allowed, denied=denied, state=state)
        if c is not None:
            bot.metrics.fills.inc(venue=EXCHANGE)
        if f.client_order_id and bot.executor is not None:
            bot.executor.finish(f.client_order_id)
        bot.submit(c)
    elif isinstance(ev, ProfileEvent):
        p = ev.data
        hist = list(bot.journal.get_state("threshold_history") or [])
        hist.append(
            {
                "ms": ev.ts,
                "seq": ev.seq,
                "reason": p.reason,
                "max_position_notional": {s: str(v) for s, v in p.max_position_notional.items()},
            }
        )
        record(bot, ev, "profile", state={"threshold_history": hist[-100:]})
        if bot.profile is not None:
            bot.profile = bot.profile.model_copy(
                update={"max_position_notional": dict(p.max_position_notional)}
            )
        for s, v in p.max_position_notional.items():
            bot.metrics.threshold.set(v, symbol=s)
    elif isinstance(ev, MarginEvent):
        d = ev.data
        deltas = []
        if d.kind == "taken_over" and d.symbol and d.qty is not None:
            deltas.append(PositionDelta(d.symbol, EXCHANGE, -d.qty, d.zero_price or Decimal(0)))
        elif d.kind == "adl" and d.symbol and d.qty is not None:
            deltas.append(PositionDelta(d.symbol, EXCHANGE, d.qty, d.price or Decimal(0)))
        record(bot, ev, f"margin.{d.kind}", positions=deltas)
        bot.margin_events.append({"seq": ev.seq, "ts": ev.ts, "kind": d.kind})
        log.warning(
            "margin_event",
            seq=ev.seq,
            kind=d.kind,
            symbol=d.symbol,
            qty=str(d.qty) if d.qty is not None else None,
        )
        bot.monitor_wake.set()
    bot.metrics.last_seq.set(bot.journal.last_seq)


def record(
    bot: Bot,
    ev: Event,
    kind: str,
    *,
    positions: list[PositionDelta] | None = None,
    fills: list[FillRecord] | None = None,
    intents: list[Intent] | None = None,
    denied: list[Denied] | None = None,
    state: dict[str, Any] | None = None,
) -> Committed | None:
    return bot.journal.record_event(
        seq=ev.seq,
        event_id=ev.id,
        kind=kind,
        ts=ev.ts,
        payload=ev.data.model_dump(mode="json"),
        now_ms=wall_ms(),
        positions=positions or (),
        fills=fills or (),
        intents=intents or (),
        denied=denied or (),
        state=state,
    )


def on_venue_fills(bot: Bot, fills: list[FillRecord]) -> None:
    """Fills found on venues (not on the stream): tell the strategy."""
    for f in fills:
        before = bot.strategy.dump_state()
        allowed, denied = bot.decide(
            bot.view(),
            FillReceived(f.venue, f.symbol, f.trade_id, f.client_order_id, f.qty, f.price, f.fee),
        )
        after = bot.strategy.dump_state()
        if allowed or denied or after != before:
            bot.submit(
                bot.journal.record_decision(
                    now_ms=wall_ms(),
                    intents=allowed,
                    denied=denied,
                    state={"strategy": after},
                    source="f",
                )
            )


def assess_risk(bot: Bot) -> None:
    """Run the risk monitor on the current view; apply and journal what it decides."""
    view = bot.view()
    d = bot.monitor.assess(view)
    if d.reasons:
        bot.risk_reasons = list(d.reasons)
    if not d.changed and not d.intents:
        return
    bot.gate.set_state(d.state)
    log.warning(
        "risk_decision",
        state=d.state.value,
        previous=d.previous.value,
        reasons=list(d.reasons),
        thresholds=[(i.symbol, str(i.value)) for i in d.intents],
    )
    view = view.with_risk_state(d.state)
    event = RiskChanged(d.previous, d.state, "; ".join(d.reasons))
    if d.changed:
        allowed, denied = bot.decide(view, event, d.intents)
    else:
        allowed, denied = bot.screen(list(d.intents), view)
    bot.submit(
        bot.journal.record_decision(
            now_ms=view.now_ms,
            intents=allowed,
            denied=denied,
            source="r",
            state={
                "monitor": bot.monitor.dump_state(),
                "strategy": bot.strategy.dump_state(),
            },
        )
    )
