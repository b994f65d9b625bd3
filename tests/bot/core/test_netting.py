"""Netting a lane's queue into one order (pure)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from blp_client.bot.core.netting import blocks_lane, plan
from blp_client.bot.journal_schema import OrderRecord, OrderState

D = Decimal


def order(
    n: int, qty: str, limit: str | None = "100", tif: str = "IOC", ro: bool = False
) -> OrderRecord:
    return OrderRecord(
        f"c-{n}",
        str(n),
        0,
        "binance",
        "BTC-PERP",
        D(qty),
        None if limit is None else D(limit),
        tif,
        ro,
        OrderState.PENDING,
        None,
        D(0),
        None,
        D(0),
        n,
        n,
        None,
        "",
    )


def test_one_queued_order_goes_as_it_is() -> None:
    o = order(1, "0.5")
    p = plan([o])
    assert p is not None and p.send is o and p.joined == ()


def test_a_burst_becomes_one_order_of_the_net_need_at_the_newest_price() -> None:
    p = plan(
        [
            order(1, "0.05", "101"),
            order(2, "0.05", "102"),
            order(3, "-0.02", "99"),
            order(4, "0.05", "103"),
        ]
    )
    assert p is not None and p.send is None
    assert p.qty == D("0.13")
    assert p.limit_price == D("103")  # the newest on the summed (buy) side
    assert [o.client_order_id for o in p.joined] == ["c-1", "c-2", "c-3", "c-4"]


def test_opposite_orders_cancel_out() -> None:
    p = plan([order(1, "0.05"), order(2, "-0.05")])
    assert p is not None and p.qty == 0 and len(p.joined) == 2


def test_only_orders_of_the_same_kind_are_joined() -> None:
    p = plan(
        [order(1, "0.05"), order(2, "0.05", tif="GTC"), order(3, "0.05", ro=True), order(4, "0.01")]
    )
    assert p is not None and [o.client_order_id for o in p.joined] == ["c-1", "c-4"]
    assert p.qty == D("0.06")


def test_a_market_order_among_them_makes_the_joined_order_a_market_order() -> None:
    p = plan([order(1, "0.05", None), order(2, "0.05", "101")])
    assert p is not None and p.limit_price is None


def test_what_holds_a_lane_up() -> None:
    o = order(1, "0.05")
    assert not blocks_lane(o)  # pending: queued, not in flight
    assert blocks_lane(replace(o, state=OrderState.SENT))
    assert blocks_lane(replace(o, state=OrderState.UNKNOWN))
    assert blocks_lane(replace(o, state=OrderState.ACKED))  # an IOC awaiting its fills
    assert not blocks_lane(replace(o, state=OrderState.ACKED, tif="GTC"))  # resting
    assert plan([]) is None
