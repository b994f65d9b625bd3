"""Fixtures for the SDK tests: a real engine on 127.0.0.1 (manual clock), the admin API over
raw HTTP, a registered BLP and a `BLPClient` for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from blp_client import models as m
from blp_client.client import BLPClient
from blp_client.engine.admin_client import admin_request
from blp_client.engine.config import EngineConfig
from blp_client.engine.server import RunningEngine, start_engine

BIG = "1000000000000"


def engine_config(**overrides: Any) -> EngineConfig:
    data: dict[str, Any] = {"rate_limit": {"per_second": 100_000, "burst": 100_000}}
    data.update(overrides)
    return EngineConfig.model_validate(data)


async def boot(data_dir: Path | None = None, port: int = 0, **config: Any) -> RunningEngine:
    return await start_engine(
        port=port, clock="manual", data_dir=data_dir, config=engine_config(**config)
    )


@dataclass
class Admin:
    """The engine's admin API over plain HTTP (`X-ADMIN-TOKEN`)."""

    url: str
    token: str
    session: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        return await admin_request(self.session, self.url, self.token, method, path, body)

    async def register_blp(self, *, rate: str = BIG, threshold: str = BIG) -> m.Credentials:
        body = {
            "collateral": "10000000",
            "minute_rate": rate,
            "hour_rate": rate,
            "max_position_notional": {"BTC-PERP": threshold, "ETH-PERP": threshold},
        }
        return m.Credentials.model_validate(await self.call("POST", "/blps", body))

    async def set_index(self, symbol: str = "BTC-PERP", price: str = "50000") -> None:
        await self.call("POST", "/index", {"symbol": symbol, "price": price})

    async def force(self, count: int, symbol: str = "BTC-PERP") -> m.ForceResult:
        body = {"symbol": symbol, "count": count}
        return m.ForceResult.model_validate(await self.call("POST", "/liquidations/force", body))

    async def stats(self) -> m.EngineStats:
        return m.EngineStats.model_validate(await self.call("GET", "/stats"))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def engine() -> AsyncIterator[RunningEngine]:
    eng = await boot()
    try:
        yield eng
    finally:
        await eng.stop()


@pytest.fixture
async def admin(engine: RunningEngine, session: aiohttp.ClientSession) -> Admin:
    a = Admin(engine.url, engine.admin_token, session)
    await a.set_index("BTC-PERP", "50000")
    await a.set_index("ETH-PERP", "3000")
    return a


@pytest.fixture
async def creds(admin: Admin) -> m.Credentials:
    return await admin.register_blp()


@pytest.fixture
async def client(engine: RunningEngine, creds: m.Credentials) -> AsyncIterator[BLPClient]:
    async with BLPClient(engine.url, creds.api_key, creds.api_secret, timeout=10) as c:
        yield c
