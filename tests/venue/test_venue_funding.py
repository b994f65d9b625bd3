"""Funding through the Binance venue, over 127.0.0.1 with the unmodified ccxt `binanceusdm`:
`premiumIndex`, `fundingRate`, `fundingInfo` and `income` (FUNDING_FEE) in Binance's shapes,
and ccxt's `fetch_funding_rate`, `fetch_funding_rate_history` and `fetch_funding_history`
returning the engine's own figures. Plus the shared 500 / 5 min limit of the first two."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from blp_client.bot.venues import local_binance
from blp_client.engine.binance import BinanceFacade
from blp_client.engine.binance.limits import LimitsConfig, VenueLimiter
from blp_client.engine.binance.weights import funding_cost, request_cost
from blp_client.engine.core import AccountKind, Exchange, ExchangeConfig
from blp_client.engine.core import events as ev
from blp_client.engine.core.funding import FundingConfig

D = Decimal
BTC, SYMBOL = "BTC-PERP", "BTC/USDT:USDT"
T0 = 1_800_000_000_000  # a funding time (a multiple of the 60 s interval)
ABOVE = ([(D(50100), D(1))], [(D(50110), D(1))])  # the perp 0.2 % above the 50000 index
BELOW = ([(D(49880), D(1))], [(D(49890), D(1))])  # 0.22 % below it


class Env:
    def __init__(self) -> None:
        cfg = ExchangeConfig(funding=FundingConfig(interval_ms=60_000))
        self.x = Exchange(cfg, seed=1, now_ms=T0)
        self.now = T0
        self.mm = self.x.open_account(AccountKind.MARKET_MAKER, D(100_000_000))
        self.trader = self.x.open_account(AccountKind.TRADER, D(100_000))
        self.x.set_index(BTC, D(50_000))
        self.x.seed_position(self.trader, self.mm, BTC, D("0.1"), D(50_000))
        self.payments: list[ev.FundingPayment] = []

    def run(self, seconds: int, book: tuple[list[Any], list[Any]]) -> None:
        """`seconds` engine seconds with `book` quoted (the premium sampled each second)."""
        self.x.replace_quotes(self.mm, BTC, *book)
        for _ in range(seconds):
            self.now += 1000
            self.x.advance(self.now)
        self.payments += [e for e in self.x.drain_events() if isinstance(e, ev.FundingPayment)]


@contextlib.asynccontextmanager
async def served(env: Env) -> AsyncIterator[tuple[str, str, str]]:
    facade = BinanceFacade(env.x, lambda: env.now, lambda: None)
    key, secret = facade.add_api_key(env.trader)
    app = web.Application()
    facade.add_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), key, secret
    finally:
        await server.close()


async def test_ccxt_funding_methods_return_the_engine_figures() -> None:
    env = Env()
    async with served(env) as (url, key, secret):
        # interval 1: the perp above the index, P = (50100 − 50000) / 50000 = 0.002 every
        # second; F = 0.002 + clamp(0.00000021 − 0.002, ±0.0005) = 0.0015. Mark = median(50100,
        # 50110, 50000) = 50100: the 0.1 long pays 0.1 · 50100 · 0.0015 = 7.515
        env.run(60, ABOVE)
        # interval 2: below, P = −(50000 − 49890) / 50000 = −0.0022, F = −0.0017, mark 49890:
        # the long receives 0.1 · 49890 · 0.0017 = 8.4813
        env.run(60, BELOW)
        env.run(5, BELOW)  # 5 s into interval 3: predicted −0.0017 again
        mine = [p for p in env.payments if p.account_id == env.trader]
        assert [p.amount for p in mine] == [D("-7.515"), D("8.4813")]

        ex = local_binance(url, key, secret, rate_limit_ms=1, timeout_ms=3000)
        try:
            await ex.load_markets()
            now_rate = await ex.fetch_funding_rate(SYMBOL)
            assert now_rate["info"]["lastFundingRate"] == "-0.00170000"
            assert now_rate["fundingRate"] == -0.0017
            assert now_rate["fundingTimestamp"] == T0 + 180_000
            assert now_rate["interestRate"] == 0.00000021  # 0.01 % per 8 h, for 60 s
            assert now_rate["markPrice"] == 49890 and now_rate["indexPrice"] == 50000

            history = await ex.fetch_funding_rate_history(SYMBOL)
            assert [(h["timestamp"], h["info"]["fundingRate"]) for h in history] == [
                (T0 + 60_000, "0.00150000"),
                (T0 + 120_000, "-0.00170000"),
            ]
            assert [h["info"]["markPrice"] for h in history] == ["50100.00000000", "49890.00000000"]
            since = await ex.fetch_funding_rate_history(SYMBOL, since=T0 + 60_001)
            assert [h["timestamp"] for h in since] == [T0 + 120_000]

            fees = await ex.fetch_funding_history(SYMBOL)
            assert [f["info"]["income"] for f in fees] == ["-7.51500000", "8.48130000"]
            assert [f["id"] for f in fees] == [str(p.payment_id) for p in mine]
            assert [f["timestamp"] for f in fees] == [T0 + 60_000, T0 + 120_000]
            # the venue's sum is what the engine paid the account
            total = sum((D(f["info"]["income"]) for f in fees), D(0))
            acct = env.x.account(env.trader)
            assert total == acct.funding_received - acct.funding_paid == D("0.9663")
            assert await ex.fetch_funding_history(SYMBOL, since=T0 + 61_000) == fees[1:]
            assert await ex.fetch_funding_history(SYMBOL, limit=1) == fees[:1]
        finally:
            await ex.close()


async def test_funding_endpoints_in_binance_shapes() -> None:
    env = Env()
    async with served(env) as (url, key, secret), aiohttp.ClientSession() as http:
        env.run(60, ABOVE)  # the venue keeps FUNDING_FEE rows from when the key exists
        async with http.get(url + "/fapi/v1/fundingInfo") as r:
            info = await r.json()
        assert info[0] == {
            "symbol": "BTCUSDT",
            "adjustedFundingRateCap": "0.00750000",
            "adjustedFundingRateFloor": "-0.00750000",
            "fundingIntervalHours": 0.016667,  # 60 s: Binance's field is in hours
            "disclaimer": False,
        }
        async with http.get(url + "/fapi/v1/fundingRate", params={"symbol": "BTCUSDT"}) as r:
            assert await r.json() == [
                {"symbol": "BTCUSDT", "fundingRate": "0.00150000", "fundingTime": T0 + 60_000,
                 "markPrice": "50100.00000000"}
            ]  # fmt: skip
        async with http.get(url + "/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}) as r:
            premium = await r.json()
        assert set(premium) == {
            "symbol", "markPrice", "indexPrice", "estimatedSettlePrice", "lastFundingRate",
            "interestRate", "nextFundingTime", "time",
        }  # fmt: skip
        ex = local_binance(url, key, secret, rate_limit_ms=1, timeout_ms=3000)
        try:
            await ex.load_markets()
            rows = await ex.fapiPrivateGetIncome({"incomeType": "FUNDING_FEE"})
            assert rows == [
                {"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": "-7.51500000",
                 "asset": "USDT", "info": "FUNDING_FEE", "time": T0 + 60_000,
                 "tranId": rows[0]["tranId"], "tradeId": ""}
            ]  # fmt: skip
            assert await ex.fapiPrivateGetIncome({"incomeType": "COMMISSION"}) == []
        finally:
            await ex.close()


def test_funding_rate_and_info_share_500_per_5_minutes() -> None:
    assert request_cost("GET", "/fapi/v1/fundingRate", {}) == (0, 0)
    assert request_cost("GET", "/fapi/v1/income", {}) == (30, 0)
    assert funding_cost("GET", "/fapi/v1/fundingInfo") == 1
    assert funding_cost("GET", "/fapi/v1/premiumIndex") == 0
    lim = VenueLimiter(LimitsConfig(funding_per_5min=2))
    assert lim.charge("ip", 0, 1_000, funding=1).refused is None
    assert lim.charge("ip", 0, 2_000, funding=1).refused is None
    v = lim.charge("ip", 0, 3_000, funding=1)
    assert (v.refused, v.retry_after_s) == ("funding_5m", 297)  # the window ends at 300 s
    assert lim.charge("ip", 5, 3_000).refused is None  # other requests are not held up
    assert lim.charge("ip", 0, 300_000, funding=1).refused is None  # a new window
