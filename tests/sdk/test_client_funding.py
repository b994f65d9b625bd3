"""Funding over the BLP API and the stream, real engine and SDK on 127.0.0.1: the market shows
the predicted rate and the next funding time, each of the BLP's payments arrives as one
`funding` event with the right amount (exactly once across cut connections), and the account
shows what was paid and received."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from blp_client import models as m
from blp_client.client import BLPClient
from blp_client.engine.server import RunningEngine
from blp_client.testing import FaultProxy

from .conftest import Admin, boot

D = Decimal
# a 60 s interval; 0.048 per 8 h is 0.0001 per minute: with no book the premium is 0, so the
# rate is the interest, 0.0001, and a 0.01 BTC long at mark 50000 pays 0.05 per interval
FUNDING = {"interval_s": 60, "interest_rate": "0.048"}


@pytest.fixture
async def engine() -> AsyncIterator[RunningEngine]:
    eng = await boot(funding=FUNDING)
    try:
        yield eng
    finally:
        await eng.stop()


async def _next(events: AsyncIterator[m.Event], kind: type[m.FundingEvent]) -> m.FundingEvent:
    async for e in events:
        if isinstance(e, kind):
            return e
    raise AssertionError("the stream ended")


async def test_funding_event_market_and_account(
    engine: RunningEngine, admin: Admin, creds: m.Credentials, session: aiohttp.ClientSession
) -> None:
    # a trader sells 0.01 BTC to the BLP off-book at 50000: the BLP is long 0.01
    await admin.call(
        "POST",
        "/accounts",
        {
            "collateral": "100000",
            "counterparty_id": creds.account_id,
            "positions": [{"symbol": "BTC-PERP", "qty": "-0.01", "price": "50000"}],
        },
    )
    async with (
        FaultProxy(("127.0.0.1", engine.port)) as proxy,
        BLPClient(
            proxy.url(),
            creds.api_key,
            creds.api_secret,
            timeout=5,
            reconnect_base=0.005,
            reconnect_max=0.05,
            rng=random.Random(3),
        ) as client,
    ):
        market = await client.market("BTC-PERP")
        assert market.predicted_funding_rate == D("0.0001")
        assert market.funding_rate is None  # no funding time yet
        assert market.funding_interval_ms == 60_000
        now = (await admin.call("GET", "/clock"))["now_ms"]
        assert market.next_funding_time == (now // 60_000 + 1) * 60_000
        first = market.next_funding_time
        assert first is not None

        async with contextlib.aclosing(client.events()) as events:
            await admin.call("POST", "/clock/advance", {"to_ms": first})
            one = await _next(events, m.FundingEvent)
            assert one.data.amount == D("-0.05")  # −0.01 · 50000 · 0.0001
            data = one.data
            assert (data.symbol, data.qty, data.rate) == ("BTC-PERP", D("0.01"), D("0.0001"))
            assert (one.data.mark_price, one.data.funding_time) == (D(50000), first)
            assert proxy.cut_all() >= 1  # the stream reconnects, resumes after the last seq
            await admin.call("POST", "/clock/advance", {"to_ms": first + 60_000})
            two = await _next(events, m.FundingEvent)
            assert two.seq == one.seq + 1  # nothing replayed, nothing skipped
            assert two.data.payment_id != one.data.payment_id
            assert two.data.funding_time == first + 60_000

        account = await client.account()
        assert account.funding_paid == D("0.10") and account.funding_received == 0
        assert account.collateral == D("10000000") - D("0.10")
        after = await client.market("BTC-PERP")
        assert after.funding_rate == D("0.0001")
        assert after.next_funding_time == first + 120_000
        page = await client.event_history(0)
        funding = [e for e in page.events if isinstance(e, m.FundingEvent)]
        assert [e.data.amount for e in funding] == [D("-0.05"), D("-0.05")]
