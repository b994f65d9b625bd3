"""The facade as `blp engine --venue-api binance` serves it: mounted on the BLP server's app,
admin routes behind the server's admin token, engine events drained through the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from blp_client.bot.venues import CcxtVenue, OrderRequest, OrderStatus, Side, local_binance
from blp_client.engine.config import EngineConfig
from blp_client.engine.core import AccountKind
from blp_client.engine.server import RunningEngine, start_engine

from .conftest import BTC, BTC_ASKS, BTC_BIDS

D = Decimal


@pytest.fixture
async def engine() -> AsyncIterator[RunningEngine]:
    running = await start_engine(port=0, clock="manual", venue_api="binance")
    try:
        yield running
    finally:
        await running.stop()


async def test_mounted_facade_trades_and_admin_is_guarded(engine: RunningEngine) -> None:
    x = engine.service.exchange
    mm = x.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    x.set_index(BTC, D(50_000))
    x.replace_quotes(mm, BTC, BTC_BIDS, BTC_ASKS)
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{engine.url}/admin/v1/venue/keys", json={"collateral": "50000"}) as r:
            assert r.status == 401  # the server's admin token guards /admin/v1/venue too
        async with s.post(
            f"{engine.url}/admin/v1/venue/keys",
            json={"collateral": "50000"},
            headers={"X-ADMIN-TOKEN": engine.admin_token},
        ) as r:
            assert r.status == 200, await r.text()
            creds = await r.json()
    venue = CcxtVenue(local_binance(engine.url, creds["api_key"], creds["api_secret"]))
    try:
        order = await venue.place_order(OrderRequest(BTC, Side.BUY, D("0.6"), "mount-1"))
        assert order.status is OrderStatus.FILLED and order.filled == D("0.6")
        assert (await venue.positions())[0].qty == D("0.6")
    finally:
        await venue.close()
    assert x.account(creds["account_id"]).qty(BTC) == D("0.6")
    assert not x.events  # the facade's on_change let the service drain them


async def test_a_venue_order_first_brings_the_engine_up_to_its_clock() -> None:
    """On the real clock, a mutating venue request ticks the engine (marks, liquidations,
    scenario steps) before it trades, instead of waiting for the next periodic tick."""
    # a ticker that never fires during the test: only the venue request can move the engine
    cfg = EngineConfig(tick_ms=3_600_000, admin_token="mount-test-token")
    engine = await start_engine(port=0, clock="real", speed=1000, venue_api="binance", config=cfg)
    x = engine.service.exchange
    try:
        mm = x.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
        x.set_index(BTC, D(50_000))
        x.replace_quotes(mm, BTC, BTC_BIDS, BTC_ASKS)
        started = x.now_ms
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                f"{engine.url}/admin/v1/venue/keys",
                json={"collateral": "50000"},
                headers={"X-ADMIN-TOKEN": engine.admin_token},
            ) as r,
        ):
            creds = await r.json()
        venue = CcxtVenue(local_binance(engine.url, creds["api_key"], creds["api_secret"]))
        try:
            before = engine.service.clock.now()
            assert before > started  # 1,000 engine ms per wall ms: the HTTP calls took some
            await venue.place_order(OrderRequest(BTC, Side.BUY, D("0.1"), "sync-1"))
        finally:
            await venue.close()
        assert x.now_ms >= before  # the order's engine time is the clock's, not a stale tick's
    finally:
        await engine.stop()
