"""Pure conversions from the engine core to the BLP API's wire models (protocol v1).

No I/O here: the server reads exchange state through these functions and turns core events into
per-BLP protocol events, the typed models of `blp_client.models`, numbered by the service's
`Numbering` (each BLP's next seq and the log's next id); the service logs and publishes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .. import models as m
from .core import Exchange
from .core import events as ev
from .core.blp import BLP, HOUR_MS, MINUTE_MS
from .core.book import Order, Side
from .core.margin import snapshot
from .core.num import ZERO

Message = m.AssignmentEvent | m.ProfileEvent | m.MarginEvent | m.FillEvent | m.FundingEvent
Numbering = Callable[[str], tuple[int, int]]
"""A BLP's api key -> (its next seq, the next event id of the log)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One numbered protocol event for one BLP: its id in the event log and its message."""

    blp: str  # the BLP's api key
    gid: int
    msg: Message


def protocol_events(e: ev.Event, keys: Mapping[int, str], number: Numbering) -> list[Outgoing]:
    """The BLP protocol events a core event produces (none when it concerns no BLP)."""
    if isinstance(e, ev.Trade):
        return [
            fill
            for fill in (_fill(e, keys, number, taker=True), _fill(e, keys, number, taker=False))
            if fill is not None
        ]
    if isinstance(e, ev.SocializedLoss):
        return [
            _margin(key, e.ts, number, m.MarginData(kind="clawback", account_id=aid, amount=d))
            for aid, d in e.debits
            if (key := keys.get(aid)) is not None
        ]
    if not isinstance(e, _OWN_ACCOUNT) or (key := keys.get(e.account_id)) is None:
        return []
    if isinstance(e, ev.FundingPayment):
        seq, gid = number(key)
        funding = m.FundingData(
            payment_id=e.payment_id, symbol=e.symbol, qty=e.qty, mark_price=e.mark_price,
            rate=e.rate, amount=e.amount, funding_time=e.funding_time,
        )  # fmt: skip
        return [Outgoing(key, gid, m.FundingEvent(seq=seq, id=f"ev-{gid}", ts=e.ts, data=funding))]
    if isinstance(e, ev.Assignment):
        seq, gid = number(key)
        data = m.Assignment(
            id=f"as-{gid}", seq=seq, ts=e.ts, symbol=e.symbol, side=e.side, qty=e.qty,
            price=e.price, mark_price=e.mark_price, zero_price=e.zero_price, kind=e.kind,
            discount_bps=e.discount_bps if e.discount_bps else abs(e.discount_bps),  # no -0
            liquidation_id=e.liquidation_id,
            remaining=m.Remaining(
                minute=e.remaining_minute, hour=e.remaining_hour,
                threshold=e.remaining_threshold,
            ),
        )  # fmt: skip
        return [Outgoing(key, gid, m.AssignmentEvent(seq=seq, id=f"ev-{gid}", ts=e.ts, data=data))]
    if isinstance(e, ev.ProfileChanged):
        seq, gid = number(key)
        profile = m.ProfileData(
            account_id=e.account_id, minute_rate=e.minute_rate, hour_rate=e.hour_rate,
            max_position_notional=dict(e.thresholds), opted_in=e.opted_in, reason=e.reason,
        )  # fmt: skip
        return [Outgoing(key, gid, m.ProfileEvent(seq=seq, id=f"ev-{gid}", ts=e.ts, data=profile))]
    return [_margin(key, e.ts, number, _margin_data(e))]


_OWN_ACCOUNT = (
    ev.Assignment, ev.ProfileChanged, ev.MarginAlert, ev.LiquidationStarted,
    ev.LiquidationReturned, ev.TakenOver, ev.AutoDeleveraged, ev.FundingPayment,
)  # fmt: skip
"""The core events that become one protocol event for the account they name."""


def _fill(e: ev.Trade, keys: Mapping[int, str], number: Numbering, taker: bool) -> Outgoing | None:
    """The taker's or the maker's side of a trade, when it is a BLP's."""
    key = keys.get(e.taker_account_id if taker else e.maker_account_id)
    if key is None:
        return None
    seq, gid = number(key)
    if taker:
        data = m.FillData(
            trade_id=e.trade_id, order_id=e.taker_order_id,
            client_order_id=e.taker_client_order_id, symbol=e.symbol, side=e.taker_side,
            qty=e.qty, price=e.price, fee=e.taker_fee, liquidity="taker",
        )  # fmt: skip
    else:
        data = m.FillData(
            trade_id=e.trade_id, order_id=e.maker_order_id,
            client_order_id=e.maker_client_order_id, symbol=e.symbol,
            side=e.taker_side.opposite, qty=e.qty, price=e.price, fee=e.maker_fee,
            liquidity="maker",
        )  # fmt: skip
    return Outgoing(key, gid, m.FillEvent(seq=seq, id=f"ev-{gid}", ts=e.ts, data=data))


def _margin(key: str, ts: int, number: Numbering, data: m.MarginData) -> Outgoing:
    seq, gid = number(key)
    return Outgoing(key, gid, m.MarginEvent(seq=seq, id=f"ev-{gid}", ts=ts, data=data))


def _margin_data(
    e: ev.MarginAlert
    | ev.LiquidationStarted
    | ev.LiquidationReturned
    | ev.TakenOver
    | ev.AutoDeleveraged,
) -> m.MarginData:
    """An own-account alert: margin call or back to ok, the account's liquidation started,
    returned, taken over, or one of its positions auto-deleveraged."""
    if isinstance(e, ev.MarginAlert):
        return m.MarginData(
            kind=e.kind, account_id=e.account_id, equity=e.equity, mf=e.mf, mmf=e.mmf, imf=e.imf
        )
    if isinstance(e, ev.LiquidationStarted):
        return m.MarginData(
            kind="liquidation_started", account_id=e.account_id, equity=e.equity, mf=e.mf,
            mmf=e.mmf, liquidation_id=e.liquidation_id,
        )  # fmt: skip
    if isinstance(e, ev.LiquidationReturned):
        return m.MarginData(
            kind="liquidation_returned", account_id=e.account_id, liquidation_id=e.liquidation_id
        )
    if isinstance(e, ev.TakenOver):
        return m.MarginData(
            kind="taken_over", account_id=e.account_id, liquidation_id=e.liquidation_id,
            symbol=e.symbol, qty=e.qty, zero_price=e.zero_price, mark_price=e.mark_price,
        )  # fmt: skip
    return m.MarginData(
        kind="adl", account_id=e.account_id, liquidation_id=e.liquidation_id, symbol=e.symbol,
        qty=e.qty, price=e.price,
    )  # fmt: skip


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
    funding = x.config.funding.enabled
    last = x.funding.last(symbol) if funding else None
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
        funding_rate=last.rate if last is not None else None,
        predicted_funding_rate=x.predicted_funding_rate(symbol) if funding else None,
        next_funding_time=x.next_funding_ms() if funding else None,
        funding_interval_ms=x.config.funding.interval_ms if funding else None,
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
        margin_call=x.in_margin_call(account_id),
        positions=positions,
        funding_paid=acct.funding_paid,
        funding_received=acct.funding_received,
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
