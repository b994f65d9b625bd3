"""`CcxtVenue`'s two request lanes (orders; control: risk reads, cancels, reconciliation, books),
their spacing from the venue's weight budget, and book streams through `watch_order_book`
(ccxt.pro on the control lane), also through `PaperVenue`. Real ccxt against the engine's
facade on 127.0.0.1, ccxt's throttle on; ordering is read from the facade's request log."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import ccxt.pro as ccxt_pro
import pytest

from blp_client.bot.config import VenueConfig
from blp_client.bot.venues import (
    CcxtVenue,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderType,
    PaperConfig,
    PaperVenue,
    Side,
    Venue,
    VenueUnavailable,
    local_binance,
)
from blp_client.bot.venues.ccxt_venue import lane_rate_limits

from .conftest import BTC, BTC_ASKS, BTC_BIDS, VenueEnv

D = Decimal
TIMEOUT = 5.0


def lanes_venue(env: VenueEnv, **kw: Any) -> CcxtVenue:
    return CcxtVenue.from_config(
        "local",
        "binanceusdm",
        options={"local_url": env.url, "timeout": 3000},
        api_key_env="K",
        secret_env="S",
        env={"K": env.api_key, "S": env.api_secret},
        **kw,
    )


@pytest.fixture
async def streaming(env: VenueEnv) -> AsyncIterator[CcxtVenue]:
    v = lanes_venue(env, rate_limit=False)
    try:
        yield v
    finally:
        await v.close()


# ---- the spacing ---------------------------------------------------------------------------


def test_lane_rate_limits_from_the_weight_budget() -> None:
    # Binance USDⓈ-M: 2400 weight a minute, a quarter for the control lane: 600 a minute is
    # 60000 / 600 = 100 ms per weight; the order lane may use 1800 a minute (33.3 ms) but
    # keeps ccxt's own 50 ms
    assert lane_rate_limits(2400, 0.25, 50) == (50.0, 100.0)
    # a configured 10 ms order lane is held to the rest of the budget: 60000 / 1800
    order, control = lane_rate_limits(2400, 0.25, 10)
    assert order == pytest.approx(100 / 3) and control == 100.0
    # half and half of 1200: 60000 / 600 = 100 ms each
    assert lane_rate_limits(1200, 0.5, 50) == (100.0, 100.0)
    # 6000 a minute, 10 % reserved: control 60000 / 600 = 100, order floor 60000 / 5400
    order, control = lane_rate_limits(6000, 0.1, 5)
    assert (order, control) == (pytest.approx(60000 / 5400), 100.0)
    for bad in ((0, 0.25), (2400, 0.0), (2400, 1.0)):
        with pytest.raises(ValueError):
            lane_rate_limits(bad[0], bad[1], 50)


def test_venue_config_budget_keys() -> None:
    cfg = VenueConfig(ccxt_id="binanceusdm")
    assert (cfg.weight_per_minute, cfg.reserved_share) == (2400, 0.4)
    with pytest.raises(ValueError):
        VenueConfig(ccxt_id="binanceusdm", reserved_share=1.0)
    with pytest.raises(ValueError):
        VenueConfig(ccxt_id="binanceusdm", weight_per_minute=0)


async def test_from_config_builds_two_spaced_lanes(env: VenueEnv) -> None:
    v = lanes_venue(env)
    try:
        assert v.exchange is not v.control
        assert (v.exchange.rateLimit, v.control.rateLimit) == (50.0, 62.5)
        assert v.exchange.enableRateLimit and v.control.enableRateLimit
        assert isinstance(v.control, ccxt_pro.binanceusdm) and v.streams_books
        assert not isinstance(v.exchange, ccxt_pro.binanceusdm)
        env.facade.clear_request_log()
        await v.markets()  # one load for both lanes
        assert [r.path for r in env.facade.request_log].count("/fapi/v1/exchangeInfo") == 1
        assert v.exchange.markets is v.control.markets
        assert v.exchange.markets_by_id is v.control.markets_by_id
        assert "timeDifference" in v.control.options
        assert v.exchange.options["timeDifference"] == v.control.options["timeDifference"]
    finally:
        await v.close()
    raw = lanes_venue(env, rate_limit=False)
    try:
        assert not raw.exchange.enableRateLimit and not raw.control.enableRateLimit
    finally:
        await raw.close()
    cfg = VenueConfig(
        ccxt_id="binanceusdm",
        options={"local_url": env.url},
        rate_limit_ms=40,
        weight_per_minute=1200,
        reserved_share=0.5,
    )
    from_cfg = CcxtVenue.from_venue_config("local", cfg, {}, public_only=True)
    try:
        assert (from_cfg.exchange.rateLimit, from_cfg.control.rateLimit) == (100.0, 100.0)
    finally:
        await from_cfg.close()


# ---- separate throttles ------------------------------------------------------------------


async def _orders_then_balance(env: VenueEnv, venue: CcxtVenue, n: int) -> list[str]:
    """Queue `n` orders, then ask for the balance; the request log's order of what followed."""
    await venue.markets()
    env.facade.clear_request_log()
    orders = [
        asyncio.create_task(venue.place_order(OrderRequest(BTC, Side.BUY, D("0.001"), f"lane-{i}")))
        for i in range(n)
    ]
    await asyncio.sleep(0)  # every order is in ccxt's throttle queue
    bal = await venue.balance()
    assert bal.currency == "USDT"
    placed = await asyncio.gather(*orders)
    assert all(o.status is OrderStatus.FILLED for o in placed)
    return ["order" if r.path == "/fapi/v1/order" else "read" for r in env.facade.request_log]


async def test_a_risk_read_does_not_wait_behind_queued_orders(env: VenueEnv) -> None:
    # orders: cost 4 x 20 ms = one per 80 ms; the control lane has a budget to spare
    v = lanes_venue(env, rate_limit_ms=20, weight_per_minute=600_000)
    try:
        log = await _orders_then_balance(env, v, 6)
    finally:
        await v.close()
    assert log.count("order") == 6 and log.count("read") == 1
    assert log.index("read") <= 1  # answered while the first order at most had gone out


async def test_one_lane_queues_the_read_behind_every_order(env: VenueEnv) -> None:
    """The same with one ccxt instance for everything: the balance waits for all six."""
    v = CcxtVenue(env.ccxt(rate_limit_ms=20), name="one-lane")
    try:
        assert v.lanes == (v.exchange,)
        log = await _orders_then_balance(env, v, 6)
    finally:
        await v.close()
    assert log == ["order"] * 6 + ["read"]


async def test_cancels_and_lookups_use_the_control_lane(env: VenueEnv) -> None:
    """Everything but `place_order` goes out on the control lane's ccxt instance (ccxt's own
    HTTP method of the order lane is wrapped to record what that instance sends)."""
    v = lanes_venue(env, rate_limit=False)
    order_lane_calls: list[tuple[str, str]] = []
    real = v.exchange.fetch

    async def recording(url: str, method: str = "GET", *a: Any, **kw: Any) -> Any:
        order_lane_calls.append((method, urlsplit(url).path))
        return await real(url, method, *a, **kw)

    v.exchange.fetch = recording
    try:
        rest = await v.place_order(
            OrderRequest(BTC, Side.BUY, D("0.01"), "c-rest", OrderType.LIMIT, D("49000"))
        )
        assert rest.status is OrderStatus.OPEN
        assert (await v.get_order(BTC, "c-rest")) is not None
        assert [o.client_order_id for o in await v.open_orders(BTC)] == ["c-rest"]
        assert (await v.cancel_order(BTC, "c-rest")).status is OrderStatus.CANCELLED
        await v.positions()
        await v.balance()
        await v.trades_since(BTC, 0)
        await v.order_book(BTC, 5)
    finally:
        await v.close()
    assert order_lane_calls == [("POST", "/fapi/v1/order")]


# ---- book streams --------------------------------------------------------------------------


async def next_book(venue: Venue, until: Callable[[OrderBook], bool], depth: int = 20) -> OrderBook:
    async def wait() -> OrderBook:
        while True:
            book = await venue.watch_order_book(BTC, depth)
            assert book is not None
            if until(book):
                return book

    return await asyncio.wait_for(wait(), TIMEOUT)


async def test_watch_order_book_through_the_venue(env: VenueEnv, streaming: CcxtVenue) -> None:
    book = await asyncio.wait_for(streaming.watch_order_book(BTC, 2), TIMEOUT)
    assert book is not None
    assert book.bids == tuple(BTC_BIDS[:2]) and book.asks == tuple(BTC_ASKS[:2])
    assert book.nonce == env.exchange.books[BTC].version
    env.quote([(D("49996.0"), D("1.5"))], [(D("50004.0"), D("0.25"))])
    book = await next_book(streaming, lambda b: b.best_bid == D("49996.0"), depth=2)
    assert book.bids == ((D("49996.0"), D("1.5")),)
    assert book.asks == ((D("50004.0"), D("0.25")),)
    assert book.mid == D("50000.0")


async def test_a_venue_without_a_stream_says_so(env: VenueEnv) -> None:
    v = CcxtVenue(env.ccxt(), name="rest-only")
    try:
        assert not v.streams_books
        assert await v.watch_order_book(BTC) is None
    finally:
        await v.close()


async def test_paper_venue_forwards_the_stream_and_fills_on_it(
    env: VenueEnv, streaming: CcxtVenue
) -> None:
    paper = PaperVenue(streaming, PaperConfig(initial_balance=D(100_000)), name="paper")
    assert isinstance(paper, Venue)
    book = await asyncio.wait_for(paper.watch_order_book(BTC, 3), TIMEOUT)
    assert book is not None and book.bids == tuple(BTC_BIDS) and book.asks == tuple(BTC_ASKS)
    resting = await paper.place_order(
        OrderRequest(BTC, Side.BUY, D("0.2"), "p-1", OrderType.LIMIT, D("50000.0"))
    )
    assert resting.status is OrderStatus.OPEN
    # the real book moves through the paper bid: the streamed book fills it (maker)
    env.quote([(D("49990.0"), D("1"))], [(D("49999.0"), D("1"))])
    await next_book(paper, lambda b: b.best_ask == D("49999.0"))
    [fill] = await paper.trades_since(BTC, 0)
    assert (fill.client_order_id, fill.qty, fill.price, fill.maker) == (
        "p-1",
        D("0.2"),
        D("50000.0"),
        True,
    )
    got = await paper.get_order(BTC, "p-1")
    assert got is not None and got.status is OrderStatus.FILLED
    # without a stream at the source, the paper venue has none either
    rest_only = PaperVenue(CcxtVenue(env.ccxt(), name="rest-only"), name="paper2")
    try:
        assert await rest_only.watch_order_book(BTC) is None
    finally:
        await rest_only.close()


async def test_an_unreachable_stream_raises_venue_unavailable(env: VenueEnv) -> None:
    control = local_binance(env.url, rate_limit=False, pro=True, ws_url=closed_ws_url())
    v = CcxtVenue(env.ccxt(), control=control, name="no-ws")
    try:
        with pytest.raises(VenueUnavailable):
            await asyncio.wait_for(v.watch_order_book(BTC), TIMEOUT)
        assert (await v.order_book(BTC, 1)).best_bid == D("49995.0")  # REST still works
    finally:
        await v.close()


def closed_ws_url() -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"ws://127.0.0.1:{port}"
