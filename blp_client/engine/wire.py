"""Pure conversions from the engine core to the BLP API's wire models (protocol v1).

No I/O here: the server reads exchange state through these functions and turns core events into
per-BLP protocol events (`PendingEvent`), which the service numbers, logs and publishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .. import models as m
from .core import Exchange
from .core import events as ev
from .core.blp import BLP, HOUR_MS, MINUTE_MS
from .core.book import Order, Side
from .core.margin import snapshot
from .core.num import ZERO


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """A protocol event for one BLP, before it gets its seq and id."""

    blp: str  # the BLP's api key
    type: str  # assignment | profile | margin | fill
    ts: int
    fields: dict[str, Any]


def render(p: PendingEvent, seq: int, gid: int) -> tuple[str, str]:
    """The event's id and its exact JSON text on the wire."""
    event_id = f"ev-{gid}"
    msg: m.AssignmentEvent | m.ProfileEvent | m.MarginEvent | m.FillEvent
    if p.type == "assignment":
        data = m.Assignment(id=f"as-{gid}", seq=seq, ts=p.ts, **p.fields)
        msg = m.AssignmentEvent(seq=seq, id=event_id, ts=p.ts, data=data)
    elif p.type == "profile":
        msg = m.ProfileEvent(seq=seq, id=event_id, ts=p.ts, data=m.ProfileData(**p.fields))
    elif p.type == "margin":
        msg = m.MarginEvent(seq=seq, id=event_id, ts=p.ts, data=m.MarginData(**p.fields))
    elif p.type == "fill":
        msg = m.FillEvent(seq=seq, id=event_id, ts=p.ts, data=m.FillData(**p.fields))
    else:  # pragma: no cover - the mapper only produces the four types
        raise ValueError(f"unknown event type {p.type!r}")
    return event_id, msg.model_dump_json()


def protocol_events(e: ev.Event, keys: Mapping[int, str], x: Exchange) -> list[PendingEvent]:
    """The BLP protocol events a core event produces (none when it concerns no BLP)."""
    if isinstance(e, ev.Assignment):
        key = keys.get(e.account_id)
        if key is None:
            return []
        return [
            PendingEvent(key, "assignment", e.ts, {
                "symbol": e.symbol, "side": e.side, "qty": e.qty, "price": e.price,
                "mark_price": e.mark_price, "zero_price": e.zero_price, "kind": e.kind,
                "discount_bps": e.discount_bps if e.discount_bps else abs(e.discount_bps),
                "liquidation_id": e.liquidation_id,
                "remaining": m.Remaining(
                    minute=e.remaining_minute, hour=e.remaining_hour,
                    threshold=e.remaining_threshold,
                ),
            })
        ]  # fmt: skip
    if isinstance(e, ev.Trade):
        out: list[PendingEvent] = []
        for account_id, order_id, side, fee, liq in (
            (e.taker_account_id, e.taker_order_id, e.taker_side, e.taker_fee, "taker"),
            (
                e.maker_account_id, e.maker_order_id, Side(e.taker_side).opposite.value,
                e.maker_fee, "maker",
            ),
        ):  # fmt: skip
            key = keys.get(account_id)
            if key is None:
                continue
            order = x.orders.get(order_id)
            out.append(
                PendingEvent(key, "fill", e.ts, {
                    "trade_id": e.trade_id, "order_id": order_id,
                    "client_order_id": order.client_order_id if order else None,
                    "symbol": e.symbol, "side": side, "qty": e.qty, "price": e.price,
                    "fee": fee, "liquidity": liq,
                })
            )  # fmt: skip
        return out
    if isinstance(e, ev.ProfileChanged):
        key = keys.get(e.account_id)
        if key is None:
            return []
        return [
            PendingEvent(key, "profile", e.ts, {
                "account_id": e.account_id, "minute_rate": e.minute_rate,
                "hour_rate": e.hour_rate, "max_position_notional": dict(e.thresholds),
                "opted_in": e.opted_in, "reason": e.reason,
            })
        ]  # fmt: skip
    return _margin_events(e, keys)


def _margin_events(e: ev.Event, keys: Mapping[int, str]) -> list[PendingEvent]:
    def one(account_id: int, **fields: Any) -> list[PendingEvent]:
        key = keys.get(account_id)
        if key is None:
            return []
        return [PendingEvent(key, "margin", e.ts, {"account_id": account_id, **fields})]

    if isinstance(e, ev.MarginAlert):
        return one(e.account_id, kind=e.kind, equity=e.equity, mf=e.mf, mmf=e.mmf, imf=e.imf)
    if isinstance(e, ev.LiquidationStarted):
        return one(
            e.account_id, kind="liquidation_started", equity=e.equity, mf=e.mf, mmf=e.mmf,
            liquidation_id=e.liquidation_id,
        )  # fmt: skip
    if isinstance(e, ev.LiquidationReturned):
        return one(e.account_id, kind="liquidation_returned", liquidation_id=e.liquidation_id)
    if isinstance(e, ev.TakenOver):
        return one(
            e.account_id, kind="taken_over", liquidation_id=e.liquidation_id, symbol=e.symbol,
            qty=e.qty, zero_price=e.zero_price, mark_price=e.mark_price,
        )  # fmt: skip
    if isinstance(e, ev.AutoDeleveraged):
        return one(
            e.account_id, kind="adl", liquidation_id=e.liquidation_id, symbol=e.symbol,
            qty=e.qty, price=e.price,
        )  # fmt: skip
    if isinstance(e, ev.SocializedLoss):
        out: list[PendingEvent] = []
        for account_id, amount in e.debits:
            out += one(account_id, kind="clawback", amount=amount)
        return out
    return []


# ---- resources -------------------------------------------------------------------------


def order_model(o: Order) -> m.Order:
    return m.Order(
        id=o.id,
        client_order_id=o.client_order_id,
        symbol=o.symbol,
        side=o.side,
        type="market" if o.price is None else "limit",
        qty=o.qty,
        price=o.price,
        tif=o.tif.value,
        reduce_only=o.reduce_only,
        status=o.status.value,
        filled_qty=o.filled,
        avg_price=o.avg_price,
        fees=o.fees,
        created_ts=o.created_ms,
    )


def market_model(x: Exchange, symbol: str) -> m.Market:
    inst = x.instruments[symbol]
    book = x.books[symbol]
    return m.Market(
        symbol=symbol,
        base=inst.base,
        tick=inst.tick,
        lot=inst.lot,
        min_notional=inst.min_notional,
        index_price=x.index.get(symbol),
        mark_price=x.marks.get(symbol),
        best_bid=book.best_bid(),
        best_ask=book.best_ask(),
    )


def book_model(x: Exchange, symbol: str, depth: int) -> m.Book:
    book = x.books[symbol]
    return m.Book(
        symbol=symbol,
        ts=x.now_ms,
        bids=book.depth(Side.BUY, depth),
        asks=book.depth(Side.SELL, depth),
    )


def _marks_for(x: Exchange, account_id: int) -> dict[str, Decimal]:
    acct = x.account(account_id)
    marks = dict(x.marks)
    for symbol, pos in acct.positions.items():
        if pos.qty and symbol not in marks:
            marks[symbol] = pos.entry_price or ZERO  # no price yet: value at entry
    return marks


def account_model(x: Exchange, account_id: int) -> m.Account:
    acct = x.account(account_id)
    marks = _marks_for(x, account_id)
    snap = snapshot(acct, marks, x.instruments)
    positions = []
    for symbol in sorted(acct.positions):
        pos = acct.positions[symbol]
        if not pos.qty:
            continue
        mark = marks[symbol]
        positions.append(
            m.Position(
                symbol=symbol,
                qty=pos.qty,
                entry_price=pos.entry_price,
                mark_price=x.marks.get(symbol),
                notional=abs(pos.qty) * mark,
                upnl=pos.upnl(mark),
            )
        )
    lev = snap.leverage
    return m.Account(
        account_id=account_id,
        collateral=acct.cash,
        equity=snap.equity,
        upnl=snap.upnl,
        notional=snap.notional,
        maintenance_margin=snap.mm,
        initial_margin=snap.im,
        mf=snap.mf,
        mmf=snap.mmf,
        imf=snap.imf,
        tmf=snap.tmf,
        leverage=None if lev.is_infinite() else lev,
        liquidation_state=acct.liquidation.value,
        margin_call=account_id in x.liquidator.margin_call,
        positions=positions,
    )


def profile_model(x: Exchange, blp: BLP) -> m.Profile:
    now = x.now_ms
    acct = x.account(blp.account_id)
    blp.prune(now)
    headroom: dict[str, Decimal] = {}
    for symbol, threshold in sorted(blp.thresholds.items()):
        mark = x.marks.get(symbol)
        held = abs(acct.qty(symbol)) * mark if mark is not None else ZERO
        headroom[symbol] = max(ZERO, threshold - held)
    prog = x.config.program
    return m.Profile(
        account_id=blp.account_id,
        minute_rate=blp.minute_rate,
        hour_rate=blp.hour_rate,
        used=m.Window(minute=blp.used(now, MINUTE_MS), hour=blp.used(now, HOUR_MS)),
        remaining=m.Window(minute=blp.minute_left(now), hour=blp.hour_left(now)),
        max_position_notional=dict(sorted(blp.thresholds.items())),
        threshold_headroom=headroom,
        fee_tier=m.FeeTier(name="blp", taker=prog.taker_fee, maker=prog.maker_fee),
        opted_in=blp.opted_in,
    )
