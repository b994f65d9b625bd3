"""`PaperVenue` on the real books of a keyless `CcxtVenue` over the facade: VWAP and fees to the
cent, resting orders filled when a later book trades through them (partially when short),
minimums refused by name, and not one private request at the wrapped venue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import pytest

from blp_client.bot.venues import (
    CcxtVenue,
    InsufficientFunds,
    InvalidOrder,
    OrderRequest,
    OrderStatus,
    OrderType,
    PaperConfig,
    PaperVenue,
    Side,
    TimeInForce,
    Venue,
)

from .conftest import BTC, BTC_BIDS, VenueEnv

D = Decimal
CENT = D("0.01")
FEES = PaperConfig(taker_fee=D("0.0005"), maker_fee=D("0.0002"), initial_balance=D(100_000))


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
async def paper(env: VenueEnv) -> AsyncIterator[PaperVenue]:
    source = CcxtVenue(env.public_ccxt(), name="local")  # no keys at all
    p = PaperVenue(source, FEES, clock=lambda: 1_000)
    try:
        yield p
    finally:
        await p.close()
    # the wrapped venue was only ever asked public questions
    assert env.facade.private_requests() == []
    assert all(not r.signed for r in env.facade.request_log)
    assert {r.path for r in env.facade.request_log} <= {
        "/fapi/v1/exchangeInfo",
        "/fapi/v1/time",
        "/fapi/v1/depth",
    }


async def test_market_order_walks_the_book(env: VenueEnv, paper: PaperVenue) -> None:
    assert isinstance(paper, Venue)
    o = await paper.place_order(OrderRequest(BTC, Side.BUY, D("1.2"), "pm-1"))
    # 0.5 @ 50005 + 0.5 @ 50010 + 0.2 @ 50015
    notional = D("25002.5") + D("25005.0") + D("10003.0")
    assert o.status is OrderStatus.FILLED and o.filled == D("1.2")
    assert o.avg_price == D("50008.75") == notional / D("1.2")
    assert o.fee.quantize(CENT) == D("30.01")  # 60010.5 · 0.05 %
    fills = await paper.trades_since(BTC, 0)
    assert [(f.price, f.qty, f.maker) for f in fills] == [
        (D("50005.0"), D("0.5"), False),
        (D("50010.0"), D("0.5"), False),
        (D("50015.0"), D("0.2"), False),
    ]
    [pos] = await paper.positions()
    assert pos.qty == D("1.2") and pos.entry_price == D("50008.75")
    mid = D("50000.0")
    assert pos.unrealized_pnl == D("1.2") * mid - notional
    bal = await paper.balance()
    assert bal.total.quantize(CENT) == (D(100_000) - D("30.00525") + pos.unrealized_pnl).quantize(
        CENT
    )
    assert bal.used == D("1.2") * mid * D("0.1")
    # the real book is untouched; the paper order's liquidity is gone on this snapshot only
    assert env.exchange.account(env.trader).qty(BTC) == 0
    more = await paper.place_order(OrderRequest(BTC, Side.BUY, D("0.5"), "pm-2"))
    assert more.filled == D("0.3") and more.status is OrderStatus.EXPIRED  # 0.3 @ 50015 left
    # a market sell walks the bids; closing realises PnL
    sell = await paper.place_order(OrderRequest(BTC, Side.SELL, D("1.5"), "pm-3", reduce_only=True))
    assert sell.filled == D("1.5")
    assert sell.avg_price == (
        D("0.5") * D("49995.0") + D("0.5") * D("49990.0") + D("0.5") * D("49985.0")
    ) / D("1.5")
    assert await paper.positions() == []


async def test_resting_limit_fills_when_the_book_crosses_it(
    env: VenueEnv, paper: PaperVenue
) -> None:
    o = await paper.place_order(
        OrderRequest(BTC, Side.BUY, D("1.0"), "pl-1", OrderType.LIMIT, D("49990.0"))
    )
    assert o.status is OrderStatus.OPEN and o.filled == 0  # best ask 50005: rests
    assert [x.client_order_id for x in await paper.open_orders()] == ["pl-1"]
    # the market falls: 0.4 offered through our bid, then more above it
    env.quote(
        [(D("49970.0"), D("1"))],
        [(D("49985.0"), D("0.3")), (D("49990.0"), D("0.1")), (D("49995.0"), D("2"))],
    )
    got = await paper.get_order(BTC, "pl-1")
    assert got is not None and got.status is OrderStatus.OPEN
    assert got.filled == D("0.4") and got.avg_price == D("49990.0")  # at our limit, as maker
    assert got.fee == D("0.4") * D("49990.0") * D("0.0002")
    # the same snapshot again: that volume was ours already
    again = await paper.get_order(BTC, "pl-1")
    assert again is not None and again.filled == D("0.4")
    # a new book with enough crossing volume fills the rest
    env.quote([(D("49970.0"), D("1"))], [(D("49980.0"), D("5"))])
    done = await paper.get_order(BTC, "pl-1")
    assert done is not None and done.status is OrderStatus.FILLED and done.filled == D("1.0")
    fills = await paper.trades_since(BTC, 0)
    assert [(f.qty, f.price, f.maker) for f in fills] == [
        (D("0.4"), D("49990.0"), True),
        (D("0.6"), D("49990.0"), True),
    ]
    assert await paper.open_orders() == []
    [pos] = await paper.positions()
    assert pos.qty == D("1.0") and pos.entry_price == D("49990.0")


async def test_marketable_limit_takes_then_rests_and_cancel(paper: PaperVenue) -> None:
    o = await paper.place_order(
        OrderRequest(BTC, Side.SELL, D("0.8"), "pt-1", OrderType.LIMIT, D("49995.0"))
    )
    assert o.filled == D("0.5") and o.status is OrderStatus.OPEN  # 0.5 bid at 49995 taken
    assert o.fee == D("0.5") * D("49995.0") * D("0.0005")
    cancelled = await paper.cancel_order(BTC, "pt-1")
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.filled == D("0.5")
    ioc = await paper.place_order(
        OrderRequest(
            BTC, Side.BUY, D("2"), "pt-2", OrderType.LIMIT, D("50010.0"), False, TimeInForce.IOC
        )
    )
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled == D("1.0")
    with pytest.raises(InvalidOrder) as e:
        await paper.place_order(
            OrderRequest(
                BTC,
                Side.BUY,
                D("0.1"),
                "pt-3",
                OrderType.LIMIT,
                D("50015.0"),
                False,
                TimeInForce.POST_ONLY,
            )
        )
    assert e.value.limit == "post_only"
    with pytest.raises(InvalidOrder):  # client ids are unique
        await paper.place_order(OrderRequest(BTC, Side.BUY, D("0.1"), "pt-1"))


async def test_minimums_refused_naming_the_limit(paper: PaperVenue) -> None:
    with pytest.raises(InvalidOrder) as e:
        await paper.place_order(OrderRequest(BTC, Side.BUY, D("0.0005"), "pu-1"))
    assert e.value.limit == "min_qty"
    assert "min_qty" in str(e.value) and "0.001" in str(e.value)
    with pytest.raises(InvalidOrder) as e:
        await paper.place_order(
            OrderRequest(BTC, Side.BUY, D("0.001"), "pu-2", OrderType.LIMIT, D("1000.0"))
        )
    assert e.value.limit == "min_notional" and "5" in str(e.value)
    with pytest.raises(InvalidOrder) as e:
        await paper.place_order(OrderRequest(BTC, Side.BUY, D("0.0015"), "pu-3"))
    assert e.value.limit == "lot"
    with pytest.raises(InvalidOrder) as e:
        await paper.place_order(OrderRequest(BTC, Side.SELL, D("0.1"), "pu-4", reduce_only=True))
    assert e.value.limit == "reduce_only"
    assert await paper.trades_since(BTC, 0) == []


async def test_reduce_only_ignored_where_the_position_is_elsewhere(env: VenueEnv) -> None:
    """`ignore_reduce_only` (the exchange in paper mode) trades reduce-only as plain orders."""
    source = CcxtVenue(env.public_ccxt(), name="local")
    p = PaperVenue(source, replace(FEES, ignore_reduce_only=True), clock=lambda: 1_000)
    try:
        o = await p.place_order(OrderRequest(BTC, Side.SELL, D("0.1"), "pr-1", reduce_only=True))
        assert o.status is OrderStatus.FILLED and o.filled == D("0.1") and not o.reduce_only
        [pos] = await p.positions()
        assert pos.qty == D("-0.1")
    finally:
        await p.close()


async def test_margin_and_latency_model(env: VenueEnv) -> None:
    sleep = FakeSleep()
    source = CcxtVenue(env.public_ccxt(), name="local")
    p = PaperVenue(
        source,
        PaperConfig(initial_balance=D(1_000), latency_ms=40, latency_jitter_ms=10, seed=5),
        sleep=sleep,
    )
    try:
        with pytest.raises(InsufficientFunds):  # 0.5 BTC ≈ 25k notional needs 2.5k at 10 %
            await p.place_order(OrderRequest(BTC, Side.BUY, D("0.5"), "mg-1"))
        ok = await p.place_order(OrderRequest(BTC, Side.BUY, D("0.1"), "mg-2"))
        assert ok.filled == D("0.1")
    finally:
        await p.close()
    assert len(sleep.calls) == 2 and all(0.03 <= s <= 0.05 for s in sleep.calls)
    assert env.facade.private_requests() == []
    assert BTC_BIDS[0][0] == D("49995.0")


class Clock:
    """Engine-style injected time: the venue's sleep advances it instead of waiting."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now_ms

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_ms += round(seconds * 1000)


async def _paper_run(env: VenueEnv, config: PaperConfig) -> tuple[list[int], list[D], Clock]:
    """Five buys at t = 10 000, 20 000, ...: each order's venue time and filled quantity."""
    clock = Clock(0)
    p = PaperVenue(
        CcxtVenue(env.public_ccxt(), name="local"), config, sleep=clock.sleep, clock=clock
    )
    stamps: list[int] = []
    filled: list[D] = []
    try:
        for i in range(5):
            clock.now_ms = 10_000 * (i + 1)
            o = await p.place_order(OrderRequest(BTC, Side.BUY, D("0.2"), f"lat-{i}"))
            fills = [
                f for f in await p.trades_since(BTC, 0) if f.client_order_id == o.client_order_id
            ]
            assert fills and all(f.timestamp_ms == o.timestamp_ms for f in fills)
            stamps.append(o.timestamp_ms - 10_000 * (i + 1))
            filled.append(o.filled)
    finally:
        await p.close()
    return stamps, filled, clock


async def test_latency_delays_fills_by_a_seeded_draw(env: VenueEnv) -> None:
    cfg = PaperConfig(initial_balance=D(1_000_000), latency_ms=200, latency_jitter_ms=50, seed=3)
    delays, filled, clock = await _paper_run(env, cfg)
    # each fill is stamped when the order reached the book: order time + its latency draw
    assert all(150 <= d <= 250 for d in delays), delays
    assert delays == [round(s * 1000) for s in clock.slept]
    assert len(set(delays)) > 1  # jittered
    assert filled == [D("0.2")] * 5
    again, _, _ = await _paper_run(env, cfg)
    assert again == delays  # the same seed, the same draws
    other, _, _ = await _paper_run(env, replace(cfg, seed=4))
    assert other != delays


async def test_partial_fill_model(env: VenueEnv) -> None:
    """With probability 0.5 an order gets 40 % of what the book offers (0.08 of 0.2 BTC), the
    rest of a market order expires; which orders are cut is the seed's."""
    cfg = PaperConfig(
        initial_balance=D(1_000_000),
        partial_fill_probability=D("0.5"),
        partial_fill_ratio=D("0.4"),
        seed=11,
    )
    _, filled, _ = await _paper_run(env, cfg)
    assert set(filled) == {D("0.2"), D("0.08")}, filled
    again = (await _paper_run(env, cfg))[1]
    assert again == filled
    every = (await _paper_run(env, replace(cfg, partial_fill_probability=D(1))))[1]
    assert every == [D("0.08")] * 5
    with pytest.raises(ValueError, match="partial_fill_ratio"):
        PaperConfig(partial_fill_ratio=D(0))
