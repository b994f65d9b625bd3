"""Helpers for the engine server tests: a real engine on 127.0.0.1, raw signed HTTP, raw
WebSocket reads with timeouts (no sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from blp_client.auth import HEADER_ADMIN_TOKEN, Timestamps, sign, sign_stream, signed_headers
from blp_client.engine.config import EngineConfig
from blp_client.engine.server import RunningEngine, start_engine

TIMEOUT = 10.0
_ts = Timestamps()


def next_ts() -> int:
    return _ts.next()


@dataclass
class BLPCreds:
    account_id: int
    key: str
    secret: str


class Api:
    """Raw HTTP against a running engine: admin calls and signed BLP calls."""

    def __init__(self, engine: RunningEngine, session: aiohttp.ClientSession) -> None:
        self.engine = engine
        self.url = engine.url
        self.session = session

    async def admin(
        self, method: str, path: str, body: Any = None, token: str | None = ""
    ) -> tuple[int, Any]:
        headers = {}
        if token == "":
            token = self.engine.admin_token
        if token is not None:
            headers[HEADER_ADMIN_TOKEN] = token
        data = json.dumps(body) if body is not None else None
        async with self.session.request(
            method, self.url + "/admin/v1" + path, data=data, headers=headers
        ) as r:
            return r.status, await r.json()

    async def admin_ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await self.admin(method, path, body)
        assert status == 200, (status, data)
        return data

    async def signed(
        self,
        creds: BLPCreds,
        method: str,
        path: str,
        body: Any = None,
        *,
        ts: int | None = None,
        secret: str | None = None,
        raw: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        text = raw if raw is not None else (json.dumps(body) if body is not None else "")
        ts = ts if ts is not None else next_ts()
        h = (
            headers
            if headers is not None
            else signed_headers(creds.key, secret or creds.secret, method, path, text, ts)
        )
        async with self.session.request(
            method, self.url + path, data=text.encode() if text else None, headers=h
        ) as r:
            return r.status, await r.json(), r

    async def ok(self, creds: BLPCreds, method: str, path: str, body: Any = None) -> Any:
        status, data, _ = await self.signed(creds, method, path, body)
        assert status == 200, (status, data)
        return data

    async def register_blp(
        self,
        minute_rate: str = "10000000",
        hour_rate: str = "100000000",
        threshold: str = "100000000",
        collateral: str = "1000000",
        name: str | None = None,
    ) -> BLPCreds:
        data = await self.admin_ok(
            "POST",
            "/blps",
            {
                "collateral": collateral,
                "minute_rate": minute_rate,
                "hour_rate": hour_rate,
                "max_position_notional": {"BTC-PERP": threshold, "ETH-PERP": threshold},
                "name": name,
            },
        )
        return BLPCreds(data["account_id"], data["api_key"], data["api_secret"])

    async def set_index(self, symbol: str = "BTC-PERP", price: str = "50000") -> Any:
        return await self.admin_ok("POST", "/index", {"symbol": symbol, "price": price})

    async def force(self, count: int, symbol: str = "BTC-PERP", side: str = "alternate") -> Any:
        return await self.admin_ok(
            "POST", "/liquidations/force", {"symbol": symbol, "count": count, "side": side}
        )


class Stream:
    """A raw WebSocket on /api/v1/stream."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    @classmethod
    async def open(
        cls, api: Api, creds: BLPCreds, from_seq: int | None = 0, *, auth: bool = True
    ) -> Stream:
        ws = await api.session.ws_connect(api.url + "/api/v1/stream", autoping=True)
        s = cls(ws)
        if auth:
            ts = next_ts()
            await s.send({"op": "auth", "key": creds.key, "timestamp": ts,
                          "signature": sign_stream(creds.secret, ts)})  # fmt: skip
            msg = await s.recv()
            assert msg == {"op": "auth", "ok": True}, msg
            if from_seq is not None:
                await s.send({"op": "subscribe", "from_seq": from_seq})
                sub = await s.recv()
                assert sub["op"] == "subscribed", sub
                s.subscribed = sub
        return s

    subscribed: dict[str, Any]

    async def send(self, obj: Any) -> None:
        await self.ws.send_str(json.dumps(obj))

    async def recv(self, timeout: float = TIMEOUT) -> Any:
        msg = await self.ws.receive(timeout=timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
        return json.loads(msg.data)

    async def events(self, n: int, timeout: float = TIMEOUT) -> list[Any]:
        """The next n events (server pings are answered, as the protocol asks: their pongs
        keep the server's send window open)."""
        out: list[Any] = []
        async with asyncio.timeout(timeout):
            while len(out) < n:
                msg = await self.recv()
                if msg["op"] == "event":
                    out.append(msg)
                elif msg["op"] == "ping":
                    await self.send({"op": "pong", "ts": msg["ts"]})
        return out

    async def until_closed(self, timeout: float = TIMEOUT) -> tuple[int | None, list[Any]]:
        """Read everything until the server closes; returns (close code, messages)."""
        got: list[Any] = []
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    got.append(json.loads(msg.data))
                    continue
                if msg.type == aiohttp.WSMsgType.CLOSE:
                    return int(msg.data), got  # the server's close code
                if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    return self.ws.close_code, got
                if msg.type == aiohttp.WSMsgType.ERROR:
                    return self.ws.close_code, got

    async def close(self) -> None:
        await self.ws.close()


__all__ = ["TIMEOUT", "Api", "BLPCreds", "Stream", "next_ts", "running_api", "sign", "test_config"]


# ---- running engines ------------------------------------------------------------------


def test_config(**overrides: Any) -> EngineConfig:
    """Engine config for tests: generous rate limits, plus any section overrides."""
    data: dict[str, Any] = {"rate_limit": {"per_second": 1000, "burst": 1000}}
    data.update(overrides)
    return EngineConfig.model_validate(data)


test_config.__test__ = False  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def running_api(**kwargs: Any) -> AsyncIterator[Api]:
    """A manual-clock engine on an ephemeral port and an HTTP session to it."""
    kwargs.setdefault("config", test_config())
    eng = await start_engine(port=0, clock="manual", **kwargs)
    try:
        async with aiohttp.ClientSession() as session:
            yield Api(eng, session)
    finally:
        await eng.stop()
