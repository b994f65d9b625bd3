"""The WebSocket stream: backlog then live, resume from a seq, heartbeats both ways, the
slow-consumer close, idle close, shutdown close, and the event log across a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import structlog
from server_helpers import Api, BLPCreds, Stream, next_ts, running_api, test_config
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from blp_client import models as m
from blp_client.auth import sign_stream
from blp_client.engine.server import start_engine


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with running_api() as a:
        yield a


def seqs(events: list[dict]) -> list[int]:  # type: ignore[type-arg]
    return [e["seq"] for e in events]


async def test_backlog_then_live_in_order(api: Api) -> None:
    await api.set_index()
    b = await api.register_blp()
    await api.force(30)
    s = await Stream.open(api, b, 0)
    log_id = s.subscribed.pop("log_id")
    assert s.subscribed == {"op": "subscribed", "from_seq": 0, "last_seq": 31}
    assert isinstance(log_id, str) and len(log_id) == 32  # the event log's identity
    backlog = await s.events(31)
    assert seqs(backlog) == list(range(1, 32))
    assert backlog[0]["type"] == "profile" and backlog[1]["type"] == "assignment"
    for e in backlog:
        m.EVENT_ADAPTER.validate_python(e)  # each one is a valid protocol v1 event
        assert e["id"] == f"ev-{e['seq']}"
    await api.force(10)
    live = await s.events(10)
    assert seqs(live) == list(range(32, 42))
    assert len({e["id"] for e in backlog + live}) == 41
    await s.close()


async def test_resume_from_a_seq(api: Api) -> None:
    await api.set_index()
    b = await api.register_blp()
    await api.force(20)
    s = await Stream.open(api, b, from_seq=15)
    assert s.subscribed["last_seq"] == 21
    assert seqs(await s.events(6)) == [16, 17, 18, 19, 20, 21]
    await api.force(2)
    assert seqs(await s.events(2)) == [22, 23]
    await s.close()
    # a client ahead of the log gets only newer events
    s = await Stream.open(api, b, from_seq=25)
    await api.force(3)
    assert seqs(await s.events(1)) == [26]
    await s.close()


async def test_events_are_per_blp(api: Api) -> None:
    await api.set_index()
    a = await api.register_blp()
    b = await api.register_blp()
    sa, sb = await Stream.open(api, a, 0), await Stream.open(api, b, 0)
    await api.force(40)
    ea = await sa.events(1 + 20, timeout=10)
    eb = await sb.events(1 + 20, timeout=10)
    assert seqs(ea) == list(range(1, 22)) and seqs(eb) == list(range(1, 22))
    assert {e["data"]["account_id"] for e in ea if e["type"] == "profile"} == {a.account_id}
    ids_a = {e["id"] for e in ea}
    assert not ids_a & {e["id"] for e in eb}
    for creds in (a, b):  # 20 of the 40 assignments each: none sent to both
        page = await api.ok(creds, "GET", "/api/v1/events?from_seq=0&limit=1000")
        assert page["last_seq"] == 21
        assert [e["type"] for e in page["events"]].count("assignment") == 20
        profiles = {e["data"]["account_id"] for e in page["events"] if e["type"] == "profile"}
        assert profiles == {creds.account_id}


async def test_ping_pong_both_directions() -> None:
    eng = await start_engine(
        port=0, clock="manual", config=test_config(stream={"ping_interval_s": 0.05})
    )
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(eng, session)
            b = await api.register_blp()
            s = await Stream.open(api, b, 0)
            await s.send({"op": "ping", "ts": 12345})
            got_pong = got_ping = False
            while not (got_pong and got_ping):
                msg = await s.recv()
                if msg["op"] == "pong":
                    assert msg == {"op": "pong", "ts": 12345}
                    got_pong = True
                elif msg["op"] == "ping":
                    assert isinstance(msg["ts"], int)
                    await s.send({"op": "pong", "ts": msg["ts"]})
                    got_ping = True
            await s.close()
    finally:
        await eng.stop()


async def test_idle_client_is_closed_4010() -> None:
    eng = await start_engine(
        port=0, clock="manual",
        config=test_config(stream={"ping_interval_s": 0.02, "idle_timeout_s": 0.1}),
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(eng, session)
            b = await api.register_blp()
            s = await Stream.open(api, b, 0)
            code, _ = await s.until_closed()
            assert code == 4010
    finally:
        await eng.stop()


async def test_second_subscribe_is_an_error_not_a_close(api: Api) -> None:
    b = await api.register_blp()
    s = await Stream.open(api, b, 0)
    await s.send({"op": "subscribe", "from_seq": 0})
    while True:
        msg = await s.recv()
        if msg["op"] == "error":
            assert msg["code"] == "already_subscribed"
            break
    await s.send({"op": "ping", "ts": 1})
    while (msg := await s.recv())["op"] != "pong":
        pass
    await s.close()


async def test_slow_consumer_is_closed_4008_and_resumes_without_loss() -> None:
    eng = await start_engine(port=0, clock="manual", config=test_config(stream={"send_buffer": 8}))
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(eng, session)
            await api.set_index()
            b = await api.register_blp()
            s = await Stream.open(api, b, 0)
            res = await api.force(200)  # one burst far past the 8-event buffer
            assert res["assignments"] == 200
            code, msgs = await s.until_closed()
            assert code == 4008
            got = [x["seq"] for x in msgs if x["op"] == "event"]
            assert got == list(range(1, len(got) + 1))  # a gapless prefix
            stats = m.EngineStats.model_validate(await api.admin_ok("GET", "/stats"))
            assert stats.stream["slow_consumer_closes"] == 1
            # resume from the last seq seen: the log has every event
            last = got[-1] if got else 0
            s2 = await Stream.open(api, b, from_seq=last)
            rest = await s2.events(201 - last)
            assert seqs(rest) == list(range(last + 1, 202))
            await s2.close()
    finally:
        await eng.stop()


async def test_stalled_reader_is_closed_4008_and_never_stalls_the_engine() -> None:
    """A client that stops reading its socket: the server's writes back up, the bounded buffer
    fills, the connection is closed 4008, and meanwhile REST and other streams keep going."""
    eng = await start_engine(
        port=0, clock="manual", config=test_config(stream={"send_buffer": 16, "so_sndbuf": 4096})
    )
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(eng, session)
            await api.set_index()
            b = await api.register_blp()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", eng.port))
            sock.setblocking(False)
            stalled = await ws_connect(eng.ws_url, sock=sock, max_queue=1)
            ts = next_ts()
            await stalled.send(json.dumps({"op": "auth", "key": b.key, "timestamp": ts,
                                           "signature": sign_stream(b.secret, ts)}))  # fmt: skip
            assert json.loads(await stalled.recv())["ok"] is True
            await stalled.send(json.dumps({"op": "subscribe", "from_seq": 0}))
            assert json.loads(await stalled.recv())["op"] == "subscribed"
            # from here on `stalled` reads nothing
            healthy = await Stream.open(api, b, 0)
            expected = 1
            assert seqs(await healthy.events(1)) == [1]
            rounds = 0
            while eng.service.counters["slow_consumer_closes"] == 0:
                rounds += 1
                assert rounds < 3000, "the stalled reader was never closed"
                await api.force(5)
                assert seqs(await healthy.events(5)) == list(range(expected + 1, expected + 6))
                expected += 5
            got: list[int] = []
            with contextlib.suppress(ConnectionClosed):
                async with asyncio.timeout(10):
                    while True:
                        msg = json.loads(await stalled.recv())
                        if msg["op"] == "event":
                            got.append(msg["seq"])
            assert stalled.close_code == 4008
            assert got == list(range(1, len(got) + 1))
            assert len(got) < expected
            await healthy.close()
    finally:
        await eng.stop()


async def test_engine_shutdown_closes_1001(api: Api) -> None:
    b = await api.register_blp()
    s = await Stream.open(api, b, 0)
    await s.events(1)
    await api.engine.stop()  # stop() is idempotent: the fixture's stop is a no-op
    code, _ = await s.until_closed()
    assert code == 1001


async def test_log_and_seqs_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "engine-data"
    eng = await start_engine(port=0, clock="manual", config=test_config(), data_dir=data)
    async with aiohttp.ClientSession() as session:
        api = Api(eng, session)
        await api.set_index()
        b = await api.register_blp(threshold="7000000")
        await api.ok(
            b, "PATCH", "/api/v1/blp/profile", {"max_position_notional": {"BTC-PERP": "6000000"}}
        )
        await api.force(20)
        before = m.EventPage.model_validate(await api.ok(b, "GET", "/api/v1/events?limit=1000"))
        assert before.last_seq == 22
    await eng.stop()
    assert (data / "events.sqlite3").exists()

    eng = await start_engine(port=0, clock="manual", config=test_config(), data_dir=data)
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(eng, session)
            await api.set_index()
            # the same credentials work; the BLP was registered again with its last profile
            p = m.Profile.model_validate(await api.ok(b, "GET", "/api/v1/blp/profile"))
            assert p.max_position_notional["BTC-PERP"] == 6_000_000
            s = await Stream.open(api, b, from_seq=10)
            assert s.subscribed["last_seq"] == 23  # + the re-registration's profile event
            old = await s.events(13)
            assert seqs(old) == list(range(11, 24))
            assert old[-1]["type"] == "profile" and old[-1]["data"]["reason"] == "registered"
            assert [e["id"] for e in old[:12]] == [e.id for e in before.events[10:22]]
            await api.force(5)
            new = await s.events(5)
            assert seqs(new) == list(range(24, 29))
            ids = {e["id"] for e in old + new} | {e.id for e in before.events}
            assert len(ids) == 28  # ids never repeat across runs
            page = m.AssignmentPage.model_validate(
                await api.ok(b, "GET", "/api/v1/assignments?limit=1000")
            )
            assert len(page.assignments) == 25
            await s.close()
    finally:
        await eng.stop()


# ---- hardening: bounded backlog, oversized and malformed messages ----------------------


async def _stalled_client(api: Api, b: BLPCreds) -> ClientConnection:
    """A real client, default socket options, that authenticates, subscribes and then reads
    nothing more (and so answers no ping)."""
    ws = await ws_connect(api.engine.ws_url, max_queue=1)
    ts = next_ts()
    await ws.send(json.dumps({"op": "auth", "key": b.key, "timestamp": ts,
                              "signature": sign_stream(b.secret, ts)}))  # fmt: skip
    assert json.loads(await ws.recv())["ok"] is True
    await ws.send(json.dumps({"op": "subscribe", "from_seq": 0}))
    assert json.loads(await ws.recv())["op"] == "subscribed"
    return ws


async def test_a_client_that_never_reads_is_closed_4008_within_the_bound() -> None:
    """Default socket options: the kernel could absorb megabytes for a client that does not
    read. The engine bounds what it holds up by what the client *confirmed* (pongs): after
    `send_window_bytes` unconfirmed it stops writing to it, its live buffer (`send_buffer`)
    fills, and it is closed 4008 — while another client on the same BLP gets everything."""
    window, buffer, batch = 32 * 1024, 16, 5
    cfg = test_config(stream={"send_buffer": buffer, "send_window_bytes": window})
    async with running_api(config=cfg) as api:
        await api.set_index()
        b = await api.register_blp()
        stalled = await _stalled_client(api, b)
        healthy = await Stream.open(api, b, 0)
        expected = 1
        assert seqs(await healthy.events(1)) == [1]
        while api.engine.service.counters["slow_consumer_closes"] == 0:
            # the bound in events: the window's worth (events are > 200 bytes) + the buffer
            assert expected <= window // 200 + buffer + batch, "not closed within the bound"
            await api.force(batch)
            assert seqs(await healthy.events(batch)) == list(range(expected + 1, expected + 6))
            expected += batch
        raw: list[str] = []
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    raw.append(str(await stalled.recv()))
        assert stalled.close_code == 4008
        events = [json.loads(t) for t in raw if json.loads(t)["op"] == "event"]
        assert seqs(events) == list(range(1, len(events) + 1))  # a gapless prefix
        largest = max(len(t) for t in raw)
        assert sum(len(t) for t in raw) <= window + largest  # what it held up: the window
        # the engine keeps serving the other client
        await api.force(batch)
        assert seqs(await healthy.events(batch)) == list(range(expected + 1, expected + 6))
        await healthy.close()


async def test_an_oversized_message_is_closed_1009_with_a_reason(api: Api) -> None:
    b = await api.register_blp()
    other = await Stream.open(api, b, 0)
    big = await _stalled_client(api, b)
    await big.send(json.dumps({"op": "ping", "ts": 1, "pad": "x" * 70_000}))  # > 64 KiB
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                await big.recv()
    assert big.close_code == 1009
    assert big.close_reason == "message too big: the limit is 65536 bytes"
    await other.send({"op": "ping", "ts": 7})  # the engine serves the others
    while (msg := await other.recv())["op"] != "pong":
        pass
    assert msg == {"op": "pong", "ts": 7}
    await other.close()


NESTED = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize(
    ("text", "why", "authenticated"),
    [
        ("not json", "message is not JSON", True),
        ('["op", "ping"]', "message is a JSON list, not an object", True),
        ('{"op":"dance"}', "unknown op 'dance'", True),
        (NESTED, "message is nested deeper than 32 levels", True),
        (NESTED, "message is nested deeper than 32 levels", False),  # even before auth
        ('{"op":"ping","ts":' + NESTED + "}", "message is nested deeper than 32 levels", True),
    ],
    ids=["not-json", "not-an-object", "unknown-op", "deep", "deep-before-auth", "deep-inside"],
)
async def test_a_malformed_message_is_closed_4002_and_logged(
    api: Api, text: str, why: str, authenticated: bool
) -> None:
    b = await api.register_blp()
    with structlog.testing.capture_logs() as logs:
        s = await Stream.open(api, b, 0 if authenticated else None, auth=authenticated)
        await s.ws.send_str(text)
        code, msgs = await s.until_closed()
    assert code == 4002
    assert msgs[-1] == {"op": "error", "code": "bad_request", "message": why}
    bad = [e for e in logs if e["event"] == "stream_bad_message"]
    assert bad and bad[0]["reason"] == why and bad[0]["log_level"] == "warning"
