"""The order tracker: every venue answer's transition (pure, hand-made orders)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from blp_client.bot.core.tracker import (
    Awaiting,
    FillTotals,
    Found,
    Lost,
    NotFound,
    Placed,
    Refused,
    expired_unfilled,
    on_answer,
    settle,
)
from blp_client.bot.journal_schema import OrderRecord, OrderState
from blp_client.bot.venues.base import OrderStatus, OrderType, Side, VenueOrder

D = Decimal
SENT = OrderRecord(
    "c-1",
    "1",
    0,
    "binance",
    "BTC-PERP",
    D("0.5"),
    D("100"),
    "IOC",
    False,
    OrderState.SENT,
    None,
    D(0),
    None,
    D(0),
    1_000,
    1_000,
    None,
    "",
)


def vo(status: OrderStatus, filled: str, avg: str | None = "100", fee: str = "0.01") -> VenueOrder:
    return VenueOrder(
        "c-1",
        "v9",
        "BTC-PERP",
        Side.BUY,
        OrderType.LIMIT,
        D("0.5"),
        D("100"),
        D(filled),
        None if avg is None else D(avg),
        status,
        fee=D(fee),
        timestamp_ms=1_500,
    )


def take(order: OrderRecord, answer: object, fills: bool = True):  # type: ignore[no-untyped-def]
    return on_answer(
        order, answer, now_ms=2_000, fills_from_answers=fills, max_resend_age_ms=60_000
    )  # type: ignore[arg-type]


def test_ack_with_fills_records_the_totals_and_awaits_them() -> None:
    t = take(SENT, Placed(vo(OrderStatus.FILLED, "0.5")))
    assert t.state is OrderState.ACKED and t.venue_order_id == "v9" and t.outcome == "filled"
    assert t.totals == FillTotals(D("0.5"), D("100"), D("0.01"), 1_500)
    assert t.awaiting == Awaiting(OrderStatus.FILLED, D("0.5"))
    # fills from the stream (the exchange): nothing recorded from the answer
    assert take(SENT, Placed(vo(OrderStatus.FILLED, "0.5")), fills=False).totals is None
    # no average price: the executor syncs trades
    assert take(SENT, Placed(vo(OrderStatus.FILLED, "0.5", avg=None))).totals is None


def test_reject_is_final_and_timeout_is_unknown() -> None:
    t = take(SENT, Refused("below min notional", "InvalidOrder"))
    assert (t.state, t.outcome, t.wake) == (OrderState.REJECTED, "rejected", False)
    t = take(SENT, Lost("TimeoutError: read timed out"))
    assert (t.state, t.outcome, t.wake) == (OrderState.UNKNOWN, "unknown", True)
    assert t.error == "TimeoutError: read timed out"


def test_unknown_is_resolved_by_client_id() -> None:
    unknown = replace(SENT, state=OrderState.UNKNOWN)
    found = take(unknown, Found(vo(OrderStatus.EXPIRED, "0.2")))
    assert found.state is OrderState.ACKED and found.outcome == "found"
    assert found.awaiting == Awaiting(OrderStatus.EXPIRED, D("0.2"))
    resend = take(unknown, NotFound())  # young: sent again with the same id
    assert resend.resend and resend.state is None and resend.outcome == "resend"
    old = replace(unknown, created_ms=-100_000)
    t = take(old, NotFound())
    assert (t.state, t.outcome) == (OrderState.REJECTED, "expired")
    acked = replace(SENT, state=OrderState.ACKED, filled_qty=D("0.1"))
    t = take(acked, NotFound())  # the venue forgot an order it had taken
    assert (t.state, t.outcome) == (OrderState.CANCELLED, "lost_at_venue")


def test_a_closed_order_ignores_late_answers() -> None:
    done = replace(SENT, state=OrderState.FILLED)
    assert take(done, Placed(vo(OrderStatus.FILLED, "0.5"))).state is None


def test_settle_closes_only_once_the_fills_are_in() -> None:
    acked = replace(SENT, state=OrderState.ACKED)
    waiting = Awaiting(OrderStatus.EXPIRED, D("0.2"))
    assert settle(acked, waiting) is None  # fills not recorded yet: stays in flight
    part = replace(acked, filled_qty=D("0.2"))
    assert settle(part, waiting) is OrderState.CANCELLED  # an IOC remainder expired
    assert (
        settle(replace(acked, filled_qty=D("0.5")), Awaiting(OrderStatus.FILLED, D("0.5")))
        is OrderState.FILLED
    )
    assert settle(acked, Awaiting(OrderStatus.REJECTED, D(0))) is OrderState.REJECTED
    assert settle(part, Awaiting(OrderStatus.OPEN, D("0.2"))) is OrderState.ACKED  # resting


def test_an_expired_ioc_with_a_remainder_is_what_escalates() -> None:
    part = replace(SENT, state=OrderState.CANCELLED, filled_qty=D("0.2"))
    assert expired_unfilled(OrderState.ACKED, part)
    assert not expired_unfilled(OrderState.ACKED, replace(part, filled_qty=D("0.5")))
    assert not expired_unfilled(OrderState.ACKED, replace(part, tif="GTC"))
    assert not expired_unfilled(OrderState.PENDING, replace(part, error="netted into c-9"))


def test_a_resting_fallback_times_out_after_the_ttl_and_only_then() -> None:
    from blp_client.bot.core.tracker import rested_too_long, timed_out_remainder

    resting = replace(SENT, tif="GTC", state=OrderState.ACKED)  # created at 1,000
    assert rested_too_long(resting, "fallback", 6_000, 5_000)
    assert not rested_too_long(resting, "fallback", 5_999, 5_000)  # not yet
    assert not rested_too_long(resting, "strategy", 60_000, 5_000)  # a strategy's own GTC
    assert not rested_too_long(resting, "fallback", 60_000, 0)  # ttl 0: rests until filled
    assert not rested_too_long(replace(resting, tif="IOC"), "fallback", 60_000, 5_000)
    assert not rested_too_long(replace(resting, state=OrderState.SENT), "fallback", 60_000, 5_000)
    cancelled = replace(resting, state=OrderState.CANCELLED, filled_qty=D("0.2"))
    assert timed_out_remainder(cancelled)  # 0.3 of 0.5 left to escalate
    assert not timed_out_remainder(replace(cancelled, filled_qty=D("0.5")))
    assert not timed_out_remainder(resting)  # still open
