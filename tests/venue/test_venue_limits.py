"""The venue's Binance USDⓈ-M rate limits: the pure limiter's windows and bans, the weights and
order counts a real server reports in its headers, 429/418 answers as Binance gives them and
as the unmodified ccxt class raises them, and the switches (config, admin, `--no-venue-limits`).

Window resets come from an injected server clock, never from waiting: `Clock` starts just after
a minute boundary and runs at wall speed (so ccxt's signed requests stay inside their
recvWindow), and `next_window` jumps to just after the next boundary.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from ccxt.base import errors as cx

from blp_client.bot.venues import CcxtVenue, OrderRequest, OrderType, Side
from blp_client.bot.venues.base import RateLimited
from blp_client.bot.venues.ccxt_errors import (
    Placement,
    map_error,
    placement_outcome,
    rate_limit_floor,
    retry_after_s,
)
from blp_client.cli import build_parser
from blp_client.engine.binance.auth import API_KEY_HEADER, sign
from blp_client.engine.binance.limits import LimitsConfig, VenueLimiter
from blp_client.engine.binance.weights import COSTS
from blp_client.engine.config import ConfigError, EngineConfig, load_config, parse_config
from blp_client.engine.server import start_engine

from .conftest import ADMIN_TOKEN, BTC, VenueEnv, venue_env, wall_ms

D = Decimal
SYM = "BTC/USDT:USDT"
MINUTE = 60_000
WEIGHT = "X-MBX-USED-WEIGHT-1M"
O10, O1M = "X-MBX-ORDER-COUNT-10S", "X-MBX-ORDER-COUNT-1M"
ADMIN = {"X-ADMIN-TOKEN": ADMIN_TOKEN}


class Clock:
    """Server time from 100 ms after a minute boundary, at wall speed, plus jumps."""

    def __init__(self) -> None:
        self.base = (wall_ms() // MINUTE + 1) * MINUTE + 100
        self.t0 = time.monotonic()
        self.offset = 0

    def __call__(self) -> int:
        return self.base + self.offset + int((time.monotonic() - self.t0) * 1000)

    def next_window(self, length_ms: int = MINUTE) -> None:
        now = self()
        self.offset += (now // length_ms + 1) * length_ms + 100 - now


class Http:
    """Raw requests to the facade: public, or signed like Binance's docs show."""

    def __init__(self, session: aiohttp.ClientSession, env: VenueEnv, clock: Clock) -> None:
        self.s, self.env, self.clock = session, env, clock

    async def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        signed: bool = False,
        key: tuple[str, str] | None = None,
    ) -> tuple[int, Any, Any]:
        query = urlencode(dict(params or {}))
        headers = {}
        if signed:
            api_key, secret = key or (self.env.api_key, self.env.api_secret)
            query = "&".join(p for p in (query, f"timestamp={self.clock()}") if p)
            query += "&signature=" + sign(secret, query)
            headers[API_KEY_HEADER] = api_key
        url = f"{self.env.url}{path}" + (f"?{query}" if query else "")
        async with self.s.request(method, url, headers=headers) as r:
            return r.status, r.headers, await r.json()

    async def weight(self, method: str, path: str, **params: Any) -> int:
        status, headers, body = await self.call(method, path, params)
        assert status == 200, body
        return int(headers[WEIGHT])


@pytest.fixture
def clock() -> Clock:
    return Clock()


# ---- the pure limiter -----------------------------------------------------------------------


def test_limiter_windows_roll_over_at_the_boundary() -> None:
    lim = VenueLimiter(
        LimitsConfig(request_weight_per_minute=10, orders_per_10s=2, orders_per_minute=3)
    )
    v = lim.charge("a", 6, 120_000)
    assert (v.refused, v.used_weight, v.status) == (None, 6, 200)
    v = lim.charge("a", 5, 120_500)  # 11 > 10: refused, nothing counted, wait to 180_000
    assert (v.refused, v.status, v.retry_after_s, v.used_weight) == ("weight", 429, 60, 6)
    assert lim.charge("a", 4, 179_999).used_weight == 10  # a lighter one still fits
    v = lim.charge("a", 1, 179_999)
    assert (v.refused, v.retry_after_s) == ("weight", 1)  # 1 ms left: Retry-After 1
    assert lim.charge("b", 10, 179_999).used_weight == 10  # another client, its own budget
    v = lim.charge("a", 1, 180_000)  # the next minute starts from 0
    assert (v.refused, v.used_weight) == (None, 1)
    # orders per account, fixed 10 s and 1 min windows (3 per minute, 2 per 10 s)
    v = lim.charge("a", 0, 200_000, account=7, orders=1)
    assert (v.orders_10s, v.orders_1m) == (1, 1)
    assert lim.charge("a", 0, 209_999, account=7, orders=1).orders_10s == 2
    v = lim.charge("a", 0, 209_999, account=7, orders=1)
    assert (v.refused, v.retry_after_s, v.orders_10s, v.orders_1m) == ("orders_10s", 1, 2, 2)
    v = lim.charge("a", 0, 210_000, account=7, orders=1)
    assert (v.refused, v.orders_10s, v.orders_1m) == (None, 1, 3)
    v = lim.charge("a", 0, 215_000, account=7, orders=1)
    assert (v.refused, v.retry_after_s) == ("orders_1m", 25)
    assert lim.charge("a", 0, 215_000, account=8, orders=1).orders_1m == 1  # per account
    # a request with no account counts no orders, and a read reports none
    assert lim.charge("a", 0, 215_000, None, 1).orders_10s is None
    assert lim.charge("a", 1, 215_000, account=7).orders_10s is None
    assert lim.served() == {"429": 4, "418": 0, "weight": 2, "orders_10s": 1, "orders_1m": 1}
    usage = lim.usage(215_000)
    assert usage["clients"]["a"]["used_weight_1m"] == 2
    assert usage["accounts"]["7"] == {"orders_10s": 1, "orders_1m": 3}
    lim.reset()
    assert lim.served()["429"] == 0 and lim.usage(0) == {"clients": {}, "accounts": {}}


def test_limiter_bans_a_client_that_keeps_sending() -> None:
    cfg = LimitsConfig(request_weight_per_minute=5, ban_after=2, ban_ms=120_000, ban_max_ms=300_000)
    lim = VenueLimiter(cfg)
    assert lim.charge("a", 5, 60_000).refused is None
    assert lim.charge("a", 1, 61_000).refused == "weight"  # told to wait 59 s
    assert lim.charge("a", 1, 61_001).refused == "weight"  # strike 1
    assert lim.charge("a", 1, 62_000).refused == "weight"  # strike 2
    v = lim.charge("a", 1, 63_000)  # strike 3 > ban_after
    assert (v.refused, v.status, v.banned_until_ms, v.retry_after_s) == (
        "banned",
        418,
        183_000,
        120,
    )
    assert lim.charge("a", 0, 182_999).refused == "banned"  # a new minute does not lift it
    assert lim.charge("b", 1, 100_000).refused is None  # only that client
    assert lim.charge("a", 1, 183_000).refused is None
    assert lim.served() == {"429": 3, "418": 2, "weight": 3, "orders_10s": 0, "orders_1m": 0}
    # a client that comes back when told collects no strikes
    lim.charge("a", 4, 190_000)
    assert lim.charge("a", 1, 200_000).retry_after_s == 40
    assert lim.charge("a", 5, 240_000).refused is None
    assert lim.charge("a", 1, 250_000).refused == "weight"
    assert lim.clients["a"].strikes == 0
    # refused orders are no strikes: the order limits are per account, the ban per IP
    for _ in range(10):
        assert lim.charge("c", 0, 300_000, account=1, orders=400).refused == "orders_10s"
    assert lim.clients["c"].strikes == 0 and lim.clients["c"].bans == 0
    # the second ban doubles, the third is capped by ban_max_ms
    for now, ban in ((250_000, 240_000), (600_000, 300_000)):
        lim.charge("a", 5 - lim.clients["a"].weight.at(now), now)
        v = lim.charge("a", 1, now)
        while v.refused != "banned":
            v = lim.charge("a", 1, now)
        assert v.banned_until_ms == now + ban


def test_limits_config_is_bounded() -> None:
    with pytest.raises(ValueError, match="request_weight_per_minute"):
        LimitsConfig(request_weight_per_minute=0)
    with pytest.raises(ValueError, match="per"):
        LimitsConfig.from_mapping({"per": "account"})
    with pytest.raises(ValueError, match="unknown"):
        LimitsConfig.from_mapping({"weight": 5})
    with pytest.raises(ValueError, match="invalid value"):
        LimitsConfig.from_mapping({"enabled": 1})
    with pytest.raises(ValueError, match="ban_ms"):
        LimitsConfig(ban_ms=500)
    assert LimitsConfig.from_mapping({"orders_per_10s": 3}).orders_per_10s == 3


def test_every_served_route_has_a_weight(env: VenueEnv) -> None:
    from aiohttp import web

    app = web.Application()
    env.facade.add_routes(app)
    routes = {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/fapi/")
    }
    assert routes == set(COSTS)


# ---- over HTTP: headers, 429, 418 -----------------------------------------------------------


async def test_weights_and_order_counts_in_the_headers(clock: Clock) -> None:
    async with venue_env(clock) as env, aiohttp.ClientSession() as s:
        h = Http(s, env, clock)
        expected = [  # (path, params, weight) from Binance's table, hand-summed
            ("/fapi/v1/ping", {}, 1),
            ("/fapi/v1/time", {}, 1),
            ("/fapi/v1/exchangeInfo", {}, 1),
            ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5}, 2),
            ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 100}, 5),
            ("/fapi/v1/depth", {"symbol": "BTCUSDT"}, 10),  # default limit 500
            ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000}, 20),
            ("/fapi/v1/ticker/bookTicker", {"symbol": "BTCUSDT"}, 2),
            ("/fapi/v1/ticker/bookTicker", {}, 5),
            ("/fapi/v1/ticker/24hr", {}, 40),
            ("/fapi/v1/ticker/price", {"symbol": "BTCUSDT"}, 1),
            ("/fapi/v1/premiumIndex", {}, 10),
        ]
        total = 0
        for path, params, weight in expected:
            total += weight
            assert await h.weight("GET", path, **params) == total, path
        assert total == 98
        # the header is case-insensitive (HTTP); an error answer carries it too
        status, headers, body = await h.call("GET", "/fapi/v1/depth", {"symbol": "NOPE"})
        assert (status, body["code"], headers["x-mbx-used-weight-1m"]) == (400, -1121, "108")
        # signed: openOrders without symbol 40, account 5; a bad signature still costs weight
        status, headers, _ = await h.call("GET", "/fapi/v1/openOrders", signed=True)
        assert (status, headers[WEIGHT]) == (200, "148")
        status, headers, _ = await h.call("GET", "/fapi/v2/account", signed=True)
        assert headers[WEIGHT] == "153" and O10 not in headers
        bad = (env.api_key, "0" * 64)
        status, headers, body = await h.call("GET", "/fapi/v2/balance", signed=True, key=bad)
        assert (status, body["code"], headers[WEIGHT]) == (400, -1022, "158")
        assert O10 not in headers  # no order counted for a refused signature
        # a new order costs no weight and counts 1 on both order limits
        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        order |= {"quantity": "0.001", "price": "40000"}
        status, headers, _ = await h.call("POST", "/fapi/v1/order", order, signed=True)
        assert (status, headers[WEIGHT], headers[O10], headers[O1M]) == (200, "158", "1", "1")
        status, headers, _ = await h.call("POST", "/fapi/v1/order", order, signed=True)
        assert (headers[O10], headers[O1M]) == ("2", "2")
        status, headers, _ = await h.call(
            "DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"}, signed=True
        )
        assert (status, headers[WEIGHT]) == (200, "159") and O10 not in headers
        # the real ccxt class sees the same headers
        ex = env.ccxt()
        try:
            await ex.load_markets()  # exchangeInfo + time
            assert ex.last_response_headers[WEIGHT] == "161"
            await ex.create_order(SYM, "limit", "buy", 0.001, 40_000, {"timeInForce": "GTC"})
            hdrs = ex.last_response_headers
            assert (hdrs[WEIGHT], hdrs[O10], hdrs[O1M]) == ("161", "3", "3")
            await ex.fetch_order_book(SYM, 50)
            assert ex.last_response_headers[WEIGHT] == "163"
        finally:
            await ex.close()
        # the next minute starts from zero
        clock.next_window()
        assert await h.weight("GET", "/fapi/v1/ping") == 1


async def test_weight_over_the_limit_is_429_with_retry_after(clock: Clock) -> None:
    async with (
        venue_env(clock, LimitsConfig(request_weight_per_minute=30)) as env,
        aiohttp.ClientSession() as s,
    ):
        h = Http(s, env, clock)
        assert await h.weight("GET", "/fapi/v1/depth", symbol="BTCUSDT") == 10
        assert await h.weight("GET", "/fapi/v1/depth", symbol="BTCUSDT", limit=1000) == 30
        status, headers, body = await h.call("GET", "/fapi/v1/ping")
        left_s = -(-((clock() // MINUTE + 1) * MINUTE - clock()) // 1000)
        assert status == 429
        assert abs(int(headers["Retry-After"]) - left_s) <= 1 and 1 <= left_s <= 60
        assert body == {
            "code": -1003,
            "msg": "Too many requests; current limit of IP(127.0.0.1) request weight per minute"
            " is 30. Please use WebSocket Streams for live updates to avoid polling the API.",
        }
        assert headers[WEIGHT] == "30"  # the refused request is not counted
        # a refused order is not executed and not counted; signed endpoints get the same 429
        before = len(env.exchange.orders)
        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
        status, headers, body = await h.call("GET", "/fapi/v2/account", signed=True)
        assert (status, body["code"]) == (429, -1003)
        # POST /fapi/v1/order costs no weight, so it still goes through a full minute
        status, headers, _ = await h.call("POST", "/fapi/v1/order", order, signed=True)
        assert status == 200 and len(env.exchange.orders) == before + 1
        # the unmodified ccxt class raises its rate-limit class; the bot maps it to RateLimited
        ex = env.public_ccxt()
        try:
            with pytest.raises(cx.DDoSProtection, match="-1003") as info:
                await ex.fetch_time()
            assert isinstance(map_error(info.value), RateLimited)
            assert placement_outcome(info.value) is Placement.REFUSED
            assert 1 <= int(ex.last_response_headers["Retry-After"]) <= 60
            clock.next_window()
            assert await ex.fetch_time() == pytest.approx(clock(), abs=2_000)
            assert ex.last_response_headers[WEIGHT] == "1"
        finally:
            await ex.close()


async def test_orders_per_10s_and_per_minute_are_1015(clock: Clock) -> None:
    limits = LimitsConfig(orders_per_10s=3, orders_per_minute=5)
    async with venue_env(clock, limits) as env:
        ex = env.ccxt()
        try:
            await ex.load_markets()

            async def place(cid: str) -> Any:
                params = {"timeInForce": "GTC", "clientOrderId": cid}
                return await ex.create_order(SYM, "limit", "buy", 0.001, 40_000, params)

            for i in range(1, 4):
                await place(f"o-{i}")
                assert ex.last_response_headers[O10] == str(i)
            with pytest.raises(cx.DDoSProtection, match="-1015") as info:
                await place("o-4")
            assert "Too many new orders; current limit is 3 orders per TEN_SECONDS." in str(
                info.value
            )
            assert placement_outcome(info.value) is Placement.REFUSED
            hdrs = ex.last_response_headers
            assert (hdrs[O10], hdrs[O1M]) == ("3", "3") and 1 <= int(hdrs["Retry-After"]) <= 10
            assert env.orders_with_cid("o-4") == []  # refused before it was executed
            assert len(await ex.fetch_open_orders(SYM)) == 3  # reads still go through
            clock.next_window(10_000)
            await ex.load_time_difference()  # the server clock jumped: ccxt re-syncs
            await place("o-4")
            await place("o-5")
            hdrs = ex.last_response_headers
            assert (hdrs[O10], hdrs[O1M]) == ("2", "5")
            with pytest.raises(cx.DDoSProtection, match="5 orders per MINUTE"):
                await place("o-6")
        finally:
            await ex.close()
        state = env.facade.limits_state()
        assert state["accounts"][str(env.trader)] == {"orders_10s": 2, "orders_1m": 5}
        assert state["served"] == {
            "429": 2, "418": 0, "weight": 0, "orders_10s": 1, "orders_1m": 1
        }  # fmt: skip


async def test_repeated_violation_is_418_and_a_ban(clock: Clock) -> None:
    limits = LimitsConfig(request_weight_per_minute=3, ban_after=2, ban_ms=120_000)
    async with venue_env(clock, limits) as env, aiohttp.ClientSession() as s:
        h = Http(s, env, clock)
        for _ in range(3):
            await h.weight("GET", "/fapi/v1/ping")
        for _ in range(3):  # the first 429, then two more while told to wait
            status, _, body = await h.call("GET", "/fapi/v1/ping")
            assert (status, body["code"]) == (429, -1003)
        now = clock()
        status, headers, body = await h.call("GET", "/fapi/v1/ping")
        until = int(body["msg"].split("banned until ")[1].split(".")[0])
        assert status == 418 and body["code"] == -1003
        assert body["msg"] == (
            f"Way too many requests; IP(127.0.0.1) banned until {until}. Please use the"
            " websocket for live updates to avoid bans."
        )
        assert now + 120_000 <= until <= clock() + 120_000
        assert int(headers["Retry-After"]) == 120
        clock.next_window()  # a new minute does not lift the ban
        ex = env.public_ccxt()
        try:
            with pytest.raises(cx.DDoSProtection, match="418") as info:
                await ex.fetch_time()
            assert isinstance(map_error(info.value), RateLimited)
            clock.offset += until - clock()  # the ban ends
            assert await ex.fetch_time() == pytest.approx(clock(), abs=2_000)
        finally:
            await ex.close()
        async with s.get(f"{env.url}/admin/v1/venue/limits", headers=ADMIN) as r:
            state = await r.json()
        assert state["served"] == {"429": 3, "418": 2, "weight": 3, "orders_10s": 0, "orders_1m": 0}
        client = state["clients"]["127.0.0.1"]
        assert client["bans"] == 1 and client["banned_until_ms"] is None


async def test_limits_off_no_headers_no_429(clock: Clock) -> None:
    limits = LimitsConfig(enabled=False, request_weight_per_minute=1, orders_per_10s=1)
    async with venue_env(clock, limits) as env, aiohttp.ClientSession() as s:
        h = Http(s, env, clock)
        for _ in range(5):
            status, headers, _ = await h.call("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT"})
            assert status == 200 and WEIGHT not in headers and "Retry-After" not in headers
        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
        for _ in range(3):
            status, headers, _ = await h.call("POST", "/fapi/v1/order", order, signed=True)
            assert status == 200 and O10 not in headers
        _, _, info = await h.call("GET", "/fapi/v1/exchangeInfo")
        assert info["rateLimits"][0]["limit"] == 1  # still reports what is configured
        assert env.facade.limiter.served()["429"] == 0


async def test_exchange_info_rate_limits_in_binance_shape(env: VenueEnv) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{env.url}/fapi/v1/exchangeInfo") as r:
        info = await r.json()
    assert info["rateLimits"] == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ]
    assert r.headers[WEIGHT] == "1"  # on by default


async def test_per_key_gives_each_api_key_its_budget(clock: Clock) -> None:
    async with (
        venue_env(clock, LimitsConfig(per="key", request_weight_per_minute=10)) as env,
        aiohttp.ClientSession() as s,
    ):
        h = Http(s, env, clock)
        other = env.facade.add_api_key(env.exchange.open_account(collateral=1000))
        for n in (5, 10):
            _, headers, _ = await h.call("GET", "/fapi/v2/account", signed=True)
            assert headers[WEIGHT] == str(n)
        status, _, _ = await h.call("GET", "/fapi/v2/account", signed=True)
        assert status == 429
        _, headers, _ = await h.call("GET", "/fapi/v2/account", signed=True, key=other)
        assert headers[WEIGHT] == "5"
        assert await h.weight("GET", "/fapi/v1/time") == 1  # unsigned: the IP's own budget
        clients = env.facade.limits_state()["clients"]
        assert len(clients) == 3 and "127.0.0.1" in clients  # the IP and two keys
        assert not any(env.api_key in c or other[0] in c for c in clients)  # no keys shown


async def test_admin_limits_routes(clock: Clock) -> None:
    async with venue_env(clock) as env, aiohttp.ClientSession(headers=ADMIN) as s:
        base = f"{env.url}/admin/v1/venue/limits"
        await Http(s, env, clock).weight("GET", "/fapi/v1/exchangeInfo")
        async with s.get(base) as r:
            state = await r.json()
        assert state["config"] == {
            "enabled": True,
            "request_weight_per_minute": 2400,
            "orders_per_10s": 300,
            "orders_per_minute": 1200,
            "funding_per_5min": 500,
            "per": "ip",
            "ban_after": 50,
            "ban_ms": 120_000,
            "ban_max_ms": 259_200_000,
        }
        assert state["clients"]["127.0.0.1"]["used_weight_1m"] == 1
        assert state["served"]["429"] == 0 and isinstance(state["now_ms"], int)
        async with s.put(base, json={"request_weight_per_minute": 1}) as r:
            assert r.status == 200 and (await r.json())["config"]["request_weight_per_minute"] == 1
        async with s.get(f"{env.url}/fapi/v1/ping") as r:
            assert r.status == 429
        for bad in ({"per": "account"}, {"bogus": 1}, {"ban_ms": "2"}):
            async with s.put(base, json=bad) as r:
                assert r.status == 400, bad
        async with s.delete(base) as r:
            state = await r.json()
        assert state["served"]["429"] == 0 and state["clients"] == {}
        assert state["config"]["request_weight_per_minute"] == 1
        async with s.get(f"{env.url}/admin/v1/venue") as r:
            info = await r.json()
        assert info["limits_enabled"] is True and info["limits_served"]["429"] == 0
        async with aiohttp.ClientSession() as anon, anon.get(base) as r:
            assert r.status == 401


# ---- the engine's switches: engine.toml, start_engine, blp engine ---------------------------


async def test_engine_config_and_the_off_switch(tmp_path: Path) -> None:
    p = tmp_path / "engine.toml"
    p.write_text("[venue_limits]\nrequest_weight_per_minute = 2\nban_mss = 5\n")
    with pytest.raises(ConfigError, match=r"venue_limits\.ban_mss"):
        load_config(p)
    for bad in ("orders_per_10s = 0", 'per = "account"', "ban_ms = 10", "ban_max_ms = 1000"):
        p.write_text(f"[venue_limits]\n{bad}\n")
        with pytest.raises(ConfigError, match="venue_limits"):
            load_config(p)
    assert EngineConfig().venue_limits.enabled  # on by default
    p.write_text("[venue_limits]\nrequest_weight_per_minute = 2\n")

    async def pings(**kw: Any) -> list[tuple[int, str | None]]:
        eng = await start_engine(port=0, clock="manual", venue_api="binance", **kw)
        try:
            async with aiohttp.ClientSession() as s:
                out = []
                for _ in range(3):
                    async with s.get(f"{eng.url}/fapi/v1/ping") as r:
                        out.append((r.status, r.headers.get(WEIGHT)))
                return out
        finally:
            await eng.stop()

    assert await pings(config_path=p) == [(200, "1"), (200, "2"), (429, "2")]
    assert await pings(config_path=p, venue_limits=False) == [(200, None)] * 3
    off = parse_config({"venue_limits": {"enabled": False, "request_weight_per_minute": 2}})
    assert await pings(config=off) == [(200, None)] * 3
    args = build_parser().parse_args(["engine", "--venue-api", "binance", "--no-venue-limits"])
    assert args.no_venue_limits is True
    assert build_parser().parse_args(["engine"]).no_venue_limits is False


# ---- the bot's side: Retry-After honoured ----------------------------------------------------


def test_retry_after_sets_the_backoff_floor() -> None:
    assert (rate_limit_floor(0), rate_limit_floor(1)) == (0.0, 1.0)
    assert rate_limit_floor(0, 7.0) == 7.0 and rate_limit_floor(3, 0.5) == 1.0
    assert rate_limit_floor(0, 3600.0) == 60.0  # a ban is not waited out inside one call

    class Ex:
        def __init__(self, headers: dict[str, str]) -> None:
            self.last_response_headers = headers

    assert retry_after_s(Ex({"retry-after": "12"})) == 12.0
    assert retry_after_s(Ex({"Retry-After": "soon"})) == 0.0 and retry_after_s(object()) == 0.0


async def test_ccxt_venue_retries_a_refused_order_after_retry_after(clock: Clock) -> None:
    """The bot's venue sleeps what the 429 said (here the sleep moves the server clock), so its
    one retry lands in the next 10 s window instead of collecting more refusals."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.offset += int(seconds * 1000)

    async with venue_env(clock, LimitsConfig(orders_per_10s=2)) as env:
        # a wide recvWindow: ccxt's clock does not jump with the server's
        venue = CcxtVenue(env.ccxt(options={"recvWindow": 60_000}), sleep=sleep, seed=1)
        try:
            for i in range(3):
                req = OrderRequest(
                    BTC, Side.BUY, D("0.001"), f"ra-{i}", OrderType.LIMIT, D("40000")
                )
                await venue.place_order(req)
        finally:
            await venue.close()
        assert len(slept) == 1 and 1.0 <= slept[0] <= 10.0 and slept[0] == int(slept[0])
        assert len(env.orders_with_cid("ra-2")) == 1
        assert env.facade.limiter.served()["orders_10s"] == 1
