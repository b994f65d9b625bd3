"""Property tests over what a client may send outside the OpenAPI spec's reach: WebSocket
stream messages (auth, subscribe, ack, garbage, oversized, deep JSON) and admin bodies (the
engine's and the venue's), against one real engine on 127.0.0.1.

Properties: the server never answers 5xx, never closes a stream with a code outside the
protocol's (4001 auth, 4002 bad message, 1009 too big), and garbage corrupts no state: the
BLP's seq numbers, its events and its account are unchanged, a refused admin body changes
nothing, and a fresh subscriber still gets every event once, in order.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from fuzz_support import ADMIN_BODIES, ThreadedEngine, admin_payloads, ws_messages
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from server_helpers import test_config

from blp_client.auth import HEADER_ADMIN_TOKEN, Timestamps, sign_stream, signed_headers
from blp_client.errors import CLOSE_AUTH_FAILED, CLOSE_BAD_REQUEST, CLOSE_TOO_BIG

TIMEOUT = 10.0
PROTOCOL_CLOSES = {CLOSE_AUTH_FAILED, CLOSE_BAD_REQUEST, CLOSE_TOO_BIG}
FUZZ = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class World:
    """The engine, one BLP with a few assignments (seqs 1..n) and its credentials."""

    engine: ThreadedEngine
    account_id: int
    key: str
    secret: str
    timestamps: Timestamps

    def request(
        self, method: str, path: str, body: bytes | None = None, *, signed: bool = False
    ) -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            headers = {HEADER_ADMIN_TOKEN: self.engine.engine.admin_token}
            if signed:
                text = (body or b"").decode()
                ts = self.timestamps.next()
                headers.update(signed_headers(self.key, self.secret, method, path, text, ts))
            if body is not None:
                headers["Content-Type"] = "application/json"
            async with (
                aiohttp.ClientSession() as s,
                s.request(method, self.engine.url + path, data=body, headers=headers) as r,
            ):
                return r.status, await r.json(content_type=None)

        return self.engine.run(go())

    def ok(self, method: str, path: str, body: Any = None, *, signed: bool = False) -> Any:
        raw = json.dumps(body).encode() if body is not None else None
        status, data = self.request(method, path, raw, signed=signed)
        assert status == 200, (method, path, status, data)
        return data

    def snapshot(self) -> dict[str, Any]:
        """What garbage must not change: the BLP's events and account, the engine's figures
        (stream counters aside), the venue's switches, the clock."""
        stats = self.ok("GET", "/admin/v1/stats")
        stats.pop("stream", None)
        return {
            "events": self.ok("GET", "/api/v1/events?from_seq=0&limit=1000", signed=True),
            "account": self.ok("GET", "/api/v1/account", signed=True),
            "stats": stats,
            "venue": self.ok("GET", "/admin/v1/venue/faults"),
            "stream_fault": self.ok("GET", "/admin/v1/faults/stream"),
            "clock": self.ok("GET", "/admin/v1/clock"),
        }


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    config = test_config(rate_limit={"per_second": 100_000, "burst": 100_000})
    engine = ThreadedEngine(config, venue_api="binance")
    try:
        w = World(engine, 0, "", "", Timestamps())
        w.ok("POST", "/admin/v1/index", {"symbol": "BTC-PERP", "price": "50000"})
        creds = w.ok(
            "POST",
            "/admin/v1/blps",
            {
                "collateral": "1000000",
                "minute_rate": "10000000",
                "hour_rate": "100000000",
                "max_position_notional": {"BTC-PERP": "100000000"},
            },
        )
        w.account_id, w.key, w.secret = creds["account_id"], creds["api_key"], creds["api_secret"]
        w.ok("POST", "/admin/v1/liquidations/force", {"symbol": "BTC-PERP", "count": 3})
        assert w.ok("GET", "/api/v1/events?from_seq=0", signed=True)["last_seq"] >= 3
        yield w
    finally:
        engine.stop()


# ---- WebSocket ------------------------------------------------------------------------------


async def _talk(w: World, authenticate: bool, frames: list[str]) -> int | None:
    """Open a stream (optionally authenticated), send `frames`, then a ping; the close code
    the server gave, or None when it is still serving (the pong came back)."""
    async with aiohttp.ClientSession() as s, s.ws_connect(w.engine.engine.ws_url) as ws:
        if authenticate:
            ts = w.timestamps.next()
            auth = {
                "op": "auth",
                "key": w.key,
                "timestamp": ts,
                "signature": sign_stream(w.secret, ts),
            }
            await ws.send_str(json.dumps(auth))
            reply = await ws.receive(timeout=TIMEOUT)
            assert json.loads(reply.data) == {"op": "auth", "ok": True}, reply
        for text in [*frames, '{"op":"ping","ts":424242}']:
            if ws.closed:
                break
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
                await ws.send_str(text)
        while True:
            msg = await ws.receive(timeout=TIMEOUT)
            if msg.type is aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if data == {"op": "pong", "ts": 424242}:
                    return None
                continue
            if msg.type is aiohttp.WSMsgType.CLOSE:
                return int(msg.data)
            return ws.close_code  # CLOSED / ERROR: what the server's close frame said


@FUZZ
@given(authenticate=st.booleans(), frames=ws_messages)
@example(authenticate=False, frames=['{"op": []}'])  # was a crash: close 1000, nothing logged
@example(authenticate=True, frames=['{"op": {"a": 1}}'])
def test_stream_garbage_closes_with_a_protocol_code_and_changes_nothing(
    world: World, authenticate: bool, frames: list[str]
) -> None:
    before = world.snapshot()
    code = world.engine.run(_talk(world, authenticate, frames))
    assert code is None or code in PROTOCOL_CLOSES, (code, [f[:80] for f in frames])
    assert world.snapshot() == before


def test_zz_a_fresh_subscriber_gets_every_event_once_in_order(world: World) -> None:
    """After all the garbage: the stream from seq 0 is exactly the REST event log."""
    log = world.ok("GET", "/api/v1/events?from_seq=0&limit=1000", signed=True)

    async def read_all() -> list[Any]:
        async with aiohttp.ClientSession() as s, s.ws_connect(world.engine.engine.ws_url) as ws:
            ts = world.timestamps.next()
            sig = sign_stream(world.secret, ts)
            await ws.send_json({"op": "auth", "key": world.key, "timestamp": ts, "signature": sig})
            assert (await ws.receive_json(timeout=TIMEOUT))["ok"] is True
            await ws.send_json({"op": "subscribe", "from_seq": 0})
            got: list[Any] = []
            while len(got) < len(log["events"]):
                msg = await ws.receive_json(timeout=TIMEOUT)
                if msg["op"] == "event":
                    got.append(msg)
            return got

    events = world.engine.run(read_all())
    assert [e["seq"] for e in events] == list(range(1, log["last_seq"] + 1))
    assert events == log["events"]


# ---- admin bodies ---------------------------------------------------------------------------


@st.composite
def admin_requests(draw: st.DrawFn) -> tuple[str, str, bytes]:
    method, path = draw(st.sampled_from(sorted(ADMIN_BODIES)))
    structured = draw(st.booleans())
    body = (
        json.dumps(draw(ADMIN_BODIES[(method, path)])).encode()
        if structured
        else draw(admin_payloads())
    )
    return method, path, body


@FUZZ
@given(request=admin_requests())
@example(request=("POST", "/admin/v1/venue/keys", b'{"api_key": [null]}'))  # was a 500
@example(request=("POST", "/admin/v1/venue/keys", b'{"api_key": true}'))  # opened an account
def test_admin_bodies_never_5xx_and_a_refusal_changes_nothing(
    world: World, request: tuple[str, str, bytes]
) -> None:
    method, template, body = request
    path = template.replace("{account}", str(world.account_id))
    before = world.snapshot()
    status, data = world.request(method, path, body)
    assert status < 500, (method, path, body[:200], status, data)
    if status != 200:
        assert 400 <= status < 500 and isinstance(data, dict), (status, data)
        assert isinstance(data.get("code"), str) and isinstance(data.get("message"), str), data
        assert world.snapshot() == before, (method, path, body[:200], data)
    world.ok("DELETE", "/admin/v1/venue/faults")  # a valid fault set must not leak on
    world.ok("PUT", "/admin/v1/faults/stream", {})


@pytest.mark.parametrize("authenticate", [False, True])
@pytest.mark.parametrize("text", ['{"op": []}', '{"op": {"x": 1}}', '{"op": 7}'])
def test_a_non_string_op_is_a_bad_message(world: World, authenticate: bool, text: str) -> None:
    assert world.engine.run(_talk(world, authenticate, [text])) == CLOSE_BAD_REQUEST


def test_a_refused_venue_key_opens_no_account(world: World) -> None:
    body = json.dumps({"api_key": "fuzz-dup-key", "collateral": "10"}).encode()
    status, first = world.request("POST", "/admin/v1/venue/keys", body)
    assert status == 200, first
    accounts = world.ok("GET", "/admin/v1/stats")["accounts"]
    status, again = world.request("POST", "/admin/v1/venue/keys", body)
    assert (status, again["message"]) == (400, "api key already registered")
    assert world.ok("GET", "/admin/v1/stats")["accounts"] == accounts
    for bad in ([None], True, "", "x" * 129, "caf\u00e9"):
        raw = json.dumps({"api_key": bad}).encode()
        status, data = world.request("POST", "/admin/v1/venue/keys", raw)
        assert status == 400 and "api_key" in data["message"], (bad, status, data)
    assert world.ok("GET", "/admin/v1/stats")["accounts"] == accounts
