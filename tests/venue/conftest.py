"""A fresh engine with a market-maker ladder, the Binance facade served on 127.0.0.1 (real
sockets), and the unmodified ccxt `binanceusdm` class pointed at it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from blp_client.bot.venues import local_binance
from blp_client.engine.binance import BinanceFacade
from blp_client.engine.binance.limits import LimitsConfig
from blp_client.engine.core import AccountKind, Exchange

D = Decimal
ADMIN_TOKEN = "test-admin-token"
BTC = "BTC-PERP"
ETH = "ETH-PERP"
# the ladder every test starts from: (price, qty), best first
BTC_BIDS = [(D("49995.0"), D("0.5")), (D("49990.0"), D("0.5")), (D("49985.0"), D("0.5"))]
BTC_ASKS = [(D("50005.0"), D("0.5")), (D("50010.0"), D("0.5")), (D("50015.0"), D("0.5"))]
ETH_BIDS = [(D("2999.00"), D("5")), (D("2998.00"), D("5"))]
ETH_ASKS = [(D("3001.00"), D("5")), (D("3002.00"), D("5"))]


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class VenueEnv:
    exchange: Exchange
    facade: BinanceFacade
    server: TestServer
    mm: int
    trader: int
    api_key: str
    api_secret: str
    changes: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def quote(
        self,
        bids: list[tuple[Decimal, Decimal]],
        asks: list[tuple[Decimal, Decimal]],
        symbol: str = BTC,
    ) -> None:
        self.exchange.replace_quotes(self.mm, symbol, bids, asks)

    def ccxt(self, **kw: Any) -> Any:
        kw.setdefault("rate_limit_ms", 1)
        kw.setdefault("timeout_ms", 3000)
        return local_binance(self.url, self.api_key, self.api_secret, **kw)

    def public_ccxt(self, **kw: Any) -> Any:
        kw.setdefault("rate_limit_ms", 1)
        return local_binance(self.url, **kw)

    def orders_with_cid(self, cid: str, account: int | None = None) -> list[Any]:
        acct = self.trader if account is None else account
        return [
            o
            for o in self.exchange.orders.values()
            if o.account_id == acct and o.client_order_id == cid
        ]


@contextlib.asynccontextmanager
async def venue_env(
    clock_ms: Callable[[], int] | None = None, limits: LimitsConfig | None = None
) -> AsyncIterator[VenueEnv]:
    """The fresh engine + facade + server of `env`; `clock_ms` is the facade's server clock
    (signing window, rate-limit windows), `limits` its rate limits (default: Binance's)."""
    x = Exchange(seed=1, now_ms=wall_ms())
    mm = x.open_account(AccountKind.MARKET_MAKER, D(100_000_000))
    trader = x.open_account(AccountKind.TRADER, D(100_000))
    x.set_index(BTC, D(50_000))
    x.set_index(ETH, D(3_000))
    x.replace_quotes(mm, BTC, BTC_BIDS, BTC_ASKS)
    x.replace_quotes(mm, ETH, ETH_BIDS, ETH_ASKS)
    x.advance(wall_ms())
    changes: list[int] = []
    facade = BinanceFacade(
        x,
        wall_ms,
        lambda: changes.append(1),
        admin_token=ADMIN_TOKEN,
        clock_ms=clock_ms,
        limits=limits,
    )
    key, secret = facade.add_api_key(trader)
    app = web.Application()
    facade.add_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield VenueEnv(x, facade, server, mm, trader, key, secret, changes)
    finally:
        await server.close()


@pytest.fixture
async def env() -> AsyncIterator[VenueEnv]:
    async with venue_env() as e:
        yield e


@pytest.fixture
async def binance(env: VenueEnv) -> AsyncIterator[Any]:
    ex = env.ccxt()
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()
