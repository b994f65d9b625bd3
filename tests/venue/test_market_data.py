"""The bot's `MarketData.run`: books from the venue's websocket stream, REST polling on the
control lane when the stream is unavailable or breaks, and the stream again once it is back.
Real ccxt (ccxt.pro) against the engine's facade on 127.0.0.1; every wait polls a condition
with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from blp_client.bot.market_data import MarketData
from blp_client.bot.venues import CcxtVenue, PaperVenue, Venue
from blp_client.client import BLPClient

from .conftest import BTC, BTC_ASKS, BTC_BIDS, ETH, ETH_BIDS, VenueEnv

D = Decimal
TIMEOUT = 5.0
VENUE = "local"


def closed_ws_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"ws://127.0.0.1:{port}"


def venue_for(env: VenueEnv, **options: Any) -> CcxtVenue:
    return CcxtVenue.from_config(
        VENUE,
        "binanceusdm",
        options={"local_url": env.url, "timeout": 3000, **options},
        rate_limit=False,
    )


async def until(cond: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async def wait() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


@contextlib.asynccontextmanager
async def running(md: MarketData, venues: dict[str, Venue]) -> AsyncIterator[MarketData]:
    # no exchange venue here: the client (the BLP API) is never called
    client = BLPClient("http://127.0.0.1:9", "key", "secret")
    task = asyncio.create_task(md.run(venues, client, poll_ms=50))
    try:
        yield md
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for v in venues.values():
            await v.close()


def bids(md: MarketData, symbol: str = BTC) -> tuple[tuple[Decimal, Decimal], ...] | None:
    m = md.markets.get((symbol, VENUE))
    return m.bids if m is not None else None


def depth_reads(env: VenueEnv) -> int:
    return [r.path for r in env.facade.request_log].count("/fapi/v1/depth")


async def test_books_come_from_the_stream(env: VenueEnv) -> None:
    md = MarketData([BTC, ETH], depth=5)
    async with running(md, {VENUE: venue_for(env)}):
        await until(lambda: md.sources.get((BTC, VENUE)) == "stream")
        await until(lambda: md.sources.get((ETH, VENUE)) == "stream")
        assert bids(md) == tuple(BTC_BIDS) and bids(md, ETH) == tuple(ETH_BIDS)
        m = md.markets[(BTC, VENUE)]
        assert m.asks == tuple(BTC_ASKS)
        assert (m.tick, m.lot, m.min_qty) == (D("0.1"), D("0.001"), D("0.001"))
        snapshots = depth_reads(env)
        assert snapshots == 2  # ccxt.pro's one REST snapshot per symbol, no polling
        new = ((D("49997.0"), D("0.8")),)
        env.quote(list(new), [(D("50003.0"), D("0.8"))])
        await until(lambda: bids(md) == new)
        assert md.markets[(BTC, VENUE)].asks == ((D("50003.0"), D("0.8")),)
        assert md.sources[(BTC, VENUE)] == "stream" and depth_reads(env) == snapshots
        assert md.errors == {} and md.stream_errors == {}
        received = md.received_ms[(BTC, VENUE)]
        assert md.age_ms(BTC, VENUE, received + 250) == 250
        assert md.age_ms(BTC, "elsewhere", received) is None
        stale = md.staleness(received + 40)[VENUE][BTC]
        assert stale == {"age_ms": 40, "source": "stream", "stream_error": None}


async def test_rest_fallback_when_the_stream_is_unreachable(env: VenueEnv) -> None:
    md = MarketData([BTC], depth=5, fallback_ms=100, stream_retry_ms=50, stream_retry_max_ms=200)
    venue = venue_for(env, local_ws_url=closed_ws_url())
    async with running(md, {VENUE: venue}):
        await until(lambda: (BTC, VENUE) in md.stream_errors)
        await until(lambda: md.sources.get((BTC, VENUE)) == "rest")
        assert bids(md) == tuple(BTC_BIDS)
        assert "VenueUnavailable" in md.stream_errors[(BTC, VENUE)]
        new = ((D("49991.0"), D("2")),)
        loop = asyncio.get_running_loop()
        env.facade.clear_request_log()
        t0 = loop.time()
        env.quote(list(new), [(D("50009.0"), D("2"))])
        await until(lambda: bids(md) == new)
        await until(lambda: depth_reads(env) >= 3)  # it keeps polling while the stream is down
        elapsed_ms = (loop.time() - t0) * 1000
        # never more than one REST book per fallback_ms (+1: a poll may fall right at t0)
        assert depth_reads(env) <= elapsed_ms / 100 + 1
        assert md.errors == {}  # the books are fresh: only the stream is broken


async def test_the_stream_breaks_rest_takes_over_the_stream_comes_back(env: VenueEnv) -> None:
    md = MarketData([BTC], depth=5, fallback_ms=100, stream_retry_ms=50, stream_retry_max_ms=200)
    streams = env.facade.streams
    async with running(md, {VENUE: venue_for(env)}):
        await until(lambda: md.sources.get((BTC, VENUE)) == "stream")
        streams.accepting = False  # new connections get 503
        await streams.disconnect_all()
        await until(lambda: (BTC, VENUE) in md.stream_errors)
        first = ((D("49992.0"), D("1")),)
        env.quote(list(first), [(D("50008.0"), D("1"))])
        await until(lambda: bids(md) == first)
        assert md.sources[(BTC, VENUE)] == "rest"
        streams.accepting = True
        await until(lambda: md.sources.get((BTC, VENUE)) == "stream")
        assert (BTC, VENUE) not in md.stream_errors
        polls = depth_reads(env)
        second = ((D("49993.0"), D("1")),)
        env.quote(list(second), [(D("50007.0"), D("1"))])
        await until(lambda: bids(md) == second)
        assert md.sources[(BTC, VENUE)] == "stream"
        assert depth_reads(env) == polls  # back on the stream: REST is quiet


async def test_a_venue_without_a_stream_is_polled(env: VenueEnv) -> None:
    md = MarketData([BTC], depth=5, fallback_ms=50)
    venue = CcxtVenue(env.ccxt(), name=VENUE)  # one lane, no ccxt.pro
    async with running(md, {VENUE: venue}):
        await until(lambda: md.sources.get((BTC, VENUE)) == "rest")
        new = ((D("49994.0"), D("3")),)
        env.quote(list(new), [(D("50006.0"), D("3"))])
        await until(lambda: bids(md) == new)
        assert md.stream_errors == {}


@pytest.mark.parametrize("paper", [False, True])
async def test_refresh_reads_every_book_once(env: VenueEnv, paper: bool) -> None:
    venue: Venue = venue_for(env)
    if paper:
        venue = PaperVenue(venue, name=VENUE)
    md = MarketData([BTC, ETH], depth=2)
    client = BLPClient("http://127.0.0.1:9", "key", "secret")
    try:
        await md.refresh({VENUE: venue}, client)
    finally:
        await venue.close()
    assert bids(md) == tuple(BTC_BIDS[:2]) and bids(md, ETH) == tuple(ETH_BIDS[:2])
    assert md.sources == {(BTC, VENUE): "rest", (ETH, VENUE): "rest"}
