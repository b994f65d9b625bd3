"""`CcxtVenue` over the real ccxt `binanceusdm` class and the engine's facade: symbol mapping,
rounding, retries, and orders whose responses are lost resolved by client id, never resent
blindly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from blp_client.bot.venues import (
    CcxtVenue,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderRequest,
    OrderStateUnknown,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Venue,
    VenueUnavailable,
)
from blp_client.bot.venues.ccxt_venue import CCXT_CACHE_LIMIT
from blp_client.engine.core import OrderStatus as EngineStatus
from blp_client.engine.faults import FaultConfig

from .conftest import BTC, ETH, VenueEnv

D = Decimal


class FakeSleep:
    """Backoff without waiting: records what the venue asked to sleep."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
async def venue(env: VenueEnv) -> AsyncIterator[CcxtVenue]:
    v = CcxtVenue(env.ccxt(), name="local", sleep=FakeSleep(), seed=1)
    try:
        yield v
    finally:
        await v.close()


def sleeps(v: CcxtVenue) -> list[float]:
    s = v._sleep
    assert isinstance(s, FakeSleep)
    return s.calls


def engine_state(env: VenueEnv, cid: str) -> tuple[str, Decimal, Decimal]:
    [o] = env.orders_with_cid(cid)
    return o.status.value, o.qty, o.filled


_STATUS = {
    EngineStatus.FILLED.value: OrderStatus.FILLED,
    EngineStatus.CANCELLED.value: OrderStatus.CANCELLED,
}


def assert_matches_engine(env: VenueEnv, order: Any) -> None:
    [o] = env.orders_with_cid(order.client_order_id)
    assert order.venue_order_id == str(o.id)
    assert order.filled == o.filled
    if o.is_open:
        assert order.status is OrderStatus.OPEN
    elif o.filled == o.qty:
        assert order.status is OrderStatus.FILLED
    else:
        assert order.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED)


async def test_markets_map_engine_contracts(venue: CcxtVenue) -> None:
    assert isinstance(venue, Venue)
    markets = await venue.markets()
    assert set(markets) == {BTC, ETH}
    m = markets[BTC]
    assert m.venue_symbol == "BTC/USDT:USDT"
    assert (m.lot, m.tick, m.min_qty, m.min_notional) == (D("0.001"), D("0.1"), D("0.001"), D("5"))
    assert markets[ETH].lot == D("0.01") and markets[ETH].tick == D("0.01")
    book = await venue.order_book(BTC, 2)
    assert book.bids == ((D("49995.0"), D("0.5")), (D("49990.0"), D("0.5")))
    assert book.best_ask == D("50005.0") and book.mid == D("50000.0")


async def test_orders_positions_balance_trades(env: VenueEnv, venue: CcxtVenue) -> None:
    filled = await venue.place_order(
        OrderRequest(BTC, Side.BUY, D("0.6"), "c-mkt", OrderType.MARKET)
    )
    assert filled.status is OrderStatus.FILLED and filled.filled == D("0.6")
    vwap = (D("0.5") * D("50005.0") + D("0.1") * D("50010.0")) / D("0.6")
    assert filled.avg_price == vwap.quantize(D("0.00000001"))
    assert_matches_engine(env, filled)
    resting = await venue.place_order(
        OrderRequest(BTC, Side.SELL, D("0.2"), "c-lim", OrderType.LIMIT, D("51000.0"))
    )
    assert resting.status is OrderStatus.OPEN and resting.price == D("51000.0")
    assert [o.client_order_id for o in await venue.open_orders()] == ["c-lim"]
    got = await venue.get_order(BTC, "c-lim")
    assert got is not None and got.venue_order_id == resting.venue_order_id
    assert await venue.get_order(BTC, "never-sent") is None

    [pos] = await venue.positions()
    acct = env.exchange.account(env.trader)
    assert pos.symbol == BTC and pos.qty == acct.qty(BTC) == D("0.6")
    assert pos.entry_price == (acct.positions[BTC].cost / D("0.6")).quantize(D("0.00000001"))
    bal = await venue.balance()
    snap = env.exchange.margin(env.trader)
    assert bal.currency == "USDT"
    assert bal.total == snap.equity.quantize(D("0.00000001"))
    fills = await venue.trades_since(BTC, 0)
    assert [(f.price, f.qty, f.side) for f in fills] == [
        (D("50005.0"), D("0.5"), Side.BUY),
        (D("50010.0"), D("0.1"), Side.BUY),
    ]
    assert sum(f.fee for f in fills) == acct.fees_paid

    cancelled = await venue.cancel_order(BTC, "c-lim")
    assert cancelled.status is OrderStatus.CANCELLED
    assert env.orders_with_cid("c-lim")[0].status is EngineStatus.CANCELLED
    again = await venue.cancel_order(BTC, "c-lim")  # already closed: its final state
    assert again.status is OrderStatus.CANCELLED
    with pytest.raises(OrderNotFound):
        await venue.cancel_order(BTC, "never-sent")
    reduce = await venue.place_order(
        OrderRequest(BTC, Side.SELL, D("5"), "c-red", OrderType.MARKET, reduce_only=True)
    )
    assert reduce.filled == D("0.6") and reduce.reduce_only
    assert env.exchange.account(env.trader).qty(BTC) == 0


async def test_rounding_and_limits_before_sending(env: VenueEnv, venue: CcxtVenue) -> None:
    buy = await venue.place_order(
        OrderRequest(BTC, Side.BUY, D("0.0017"), "r-1", OrderType.LIMIT, D("49000.07"))
    )
    assert (buy.qty, buy.price) == (D("0.001"), D("49000.0"))
    sell = await venue.place_order(
        OrderRequest(BTC, Side.SELL, D("0.0019"), "r-2", OrderType.LIMIT, D("51000.01"))
    )
    assert (sell.qty, sell.price) == (D("0.001"), D("51000.1"))
    posts = len([r for r in env.facade.request_log if r.method == "POST"])
    with pytest.raises(InvalidOrder) as e:
        await venue.place_order(OrderRequest(BTC, Side.BUY, D("0.0004"), "r-3"))
    assert e.value.limit == "min_qty" and "0.001" in str(e.value)
    with pytest.raises(InvalidOrder) as e:
        await venue.place_order(
            OrderRequest(BTC, Side.BUY, D("0.001"), "r-4", OrderType.LIMIT, D("1000.0"))
        )
    assert e.value.limit == "min_notional" and "5" in str(e.value)
    assert len([r for r in env.facade.request_log if r.method == "POST"]) == posts
    # the venue's own refusals map to the venue errors
    poor = env.exchange.open_account(collateral=D(100))
    key, secret = env.facade.add_api_key(poor)
    ex = env.ccxt()
    ex.apiKey, ex.secret = key, secret
    poor_venue = CcxtVenue(ex, sleep=FakeSleep())
    try:
        with pytest.raises(InsufficientFunds):
            await poor_venue.place_order(
                OrderRequest(BTC, Side.BUY, D("1"), "r-5", OrderType.LIMIT, D("50000.0"))
            )
    finally:
        await poor_venue.close()


@pytest.mark.parametrize("mode", ["drop", "stall"])
async def test_lost_responses_resolved_by_client_id(env: VenueEnv, mode: str) -> None:
    timeout = 300 if mode == "stall" else 3000
    v = CcxtVenue(env.ccxt(timeout_ms=timeout), sleep=FakeSleep(), seed=2)
    env.facade.set_faults(
        FaultConfig(lost_response_rate=1.0, lost_mode=mode, stall_ms=timeout + 700)  # type: ignore[arg-type]
    )
    requests = [
        OrderRequest(BTC, Side.BUY, D("0.3"), "lost-1", OrderType.MARKET),
        OrderRequest(BTC, Side.BUY, D("0.1"), "lost-2", OrderType.LIMIT, D("49000.0")),
        OrderRequest(BTC, Side.SELL, D("0.2"), "lost-3", OrderType.MARKET, reduce_only=True),
        OrderRequest(
            BTC,
            Side.BUY,
            D("1.0"),
            "lost-4",
            OrderType.LIMIT,
            D("50010.0"),
            False,
            TimeInForce.IOC,
        ),
        OrderRequest(ETH, Side.SELL, D("1.5"), "lost-5", OrderType.MARKET),
    ]
    if mode == "stall":
        requests = requests[:2]
    try:
        await v.markets()
        results = [await v.place_order(r) for r in requests]
    finally:
        await v.close()
    for req, res in zip(requests, results, strict=True):
        assert res.client_order_id == req.client_order_id
        assert len(env.orders_with_cid(req.client_order_id)) == 1, req.client_order_id
        assert_matches_engine(env, res)
    # exactly one placement per client id went out: the rest were look-ups
    posts = [r for r in env.facade.request_log if r.method == "POST" and r.path.endswith("order")]
    assert len(posts) == len(requests)
    assert all(r.fault == "lost_response" for r in posts)
    lookups = [
        r for r in env.facade.request_log if r.method == "GET" and r.path == "/fapi/v1/order"
    ]
    assert len(lookups) >= len(requests)
    assert env.facade.faults.counts["lost_response"] == len(requests)
    assert results[0].status is OrderStatus.FILLED and results[0].filled == D("0.3")
    if mode == "drop":
        assert results[1].status is OrderStatus.OPEN
        assert results[2].filled == D("0.2")
        assert results[3].status is OrderStatus.EXPIRED and results[3].filled == D("0.7")
        assert env.exchange.account(env.trader).qty(ETH) == D("-1.5")


async def test_5xx_and_429_retried_with_backoff_one_order_each(env: VenueEnv) -> None:
    v = CcxtVenue(env.ccxt(), sleep=FakeSleep(), seed=3, max_retries=8)
    env.facade.set_faults(
        FaultConfig(seed=11, error_5xx_rate=0.3, burst_429_rate=0.1, burst_429_length=2)
    )
    try:
        for i in range(8):
            r = await v.place_order(
                OrderRequest(BTC, Side.BUY, D("0.01"), f"flaky-{i}", OrderType.LIMIT, D("49500.0"))
            )
            assert r.status is OrderStatus.OPEN
        assert len(await v.open_orders(BTC)) == 8
        assert (await v.balance()).total > 0
    finally:
        await v.close()
    for i in range(8):
        assert len(env.orders_with_cid(f"flaky-{i}")) == 1
    counts = env.facade.faults.counts
    assert counts.get("server_error", 0) > 0 and counts.get("rate_limited", 0) > 0
    assert len(sleeps(v)) >= counts["server_error"]
    assert all(s > 0 for s in sleeps(v))


async def test_clock_drift_resynced_after_timestamp_refusal(venue: CcxtVenue) -> None:
    await venue.markets()
    venue.exchange.options["timeDifference"] = 120_000  # as if the engine clock jumped ahead
    assert (await venue.balance()).total == D(100_000)
    assert abs(venue.exchange.options["timeDifference"]) < 5_000
    assert len(sleeps(venue)) == 1


async def test_unreachable_venue_gives_up(env: VenueEnv) -> None:
    v = CcxtVenue(env.ccxt(), sleep=FakeSleep(), max_retries=3, resolve_attempts=2)
    await v.markets()
    env.facade.set_faults(FaultConfig(error_5xx_rate=1.0))
    try:
        with pytest.raises(VenueUnavailable):
            await v.balance()
        assert len(sleeps(v)) == 3
        with pytest.raises(OrderStateUnknown) as e:  # never assumed placed, never resent blind
            await v.place_order(OrderRequest(BTC, Side.BUY, D("0.1"), "gone"))
        assert e.value.client_order_id == "gone"
    finally:
        await v.close()
    assert env.orders_with_cid("gone") == []


async def test_from_config_reads_keys_from_env(env: VenueEnv) -> None:
    v = CcxtVenue.from_config(
        "local",
        "binanceusdm",
        options={"local_url": env.url, "rateLimit": 1},
        api_key_env="VENUE_KEY",
        secret_env="VENUE_SECRET",
        env={"VENUE_KEY": env.api_key, "VENUE_SECRET": env.api_secret},
    )
    try:
        assert env.api_key not in repr(v) and env.api_secret not in repr(v)
        assert (await v.balance()).total == D(100_000)
        for lane in (v.exchange, v.control):  # ccxt's own caches, kept small
            assert lane.options["ordersLimit"] == lane.options["tradesLimit"] == CCXT_CACHE_LIMIT
    finally:
        await v.close()
    with pytest.raises(Exception, match="VENUE_SECRET"):
        CcxtVenue.from_config(
            "local",
            "binanceusdm",
            options={"local_url": env.url},
            api_key_env="VENUE_KEY",
            secret_env="VENUE_SECRET",
            env={"VENUE_KEY": "k"},
        )


async def test_from_bot_venue_config(env: VenueEnv) -> None:
    from blp_client.bot.config import VenueConfig

    cfg = VenueConfig(
        ccxt_id="binanceusdm",
        options={"local_url": env.url, "rateLimit": 1},
        api_key_env="K",
        api_secret_env="S",
        symbols={"BTC-PERP": "BTC/USDT:USDT"},
        taker_fee=D("0.0004"),
    )
    v = CcxtVenue.from_venue_config(
        "binance-local", cfg, env={"K": env.api_key, "S": env.api_secret}
    )
    try:
        m = (await v.markets())[BTC]
        assert m.taker_fee == D("0.0004")
        assert (await v.balance()).total == D(100_000)
    finally:
        await v.close()
