"""`BLPClient.events()` / `assignments()` against the real engine: replay then live, resume,
auth refusal, heartbeat detection (blackholed proxy), slow-consumer closes and REST gap filling
(a proxy that drops stream frames)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from blp_client import models as m
from blp_client.client import BLPClient
from blp_client.engine.server import RunningEngine
from blp_client.errors import AuthError, StreamError
from blp_client.testing import FaultProxy

from .conftest import Admin, boot

WAIT = 30.0  # upper bound for awaited conditions; never a sleep


def fast_client(url: str, creds: m.Credentials, **kw: object) -> BLPClient:
    opts: dict[str, object] = {
        "reconnect_base": 0.01,
        "reconnect_max": 0.1,
        "rng": random.Random(5),
        "timeout": 5.0,
    }
    opts.update(kw)
    return BLPClient(url, creds.api_key, creds.api_secret, **opts)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def proxied_client(
    engine: RunningEngine, creds: m.Credentials
) -> AsyncIterator[tuple[FaultProxy, BLPClient]]:
    """A `fast_client` talking to `engine` through a fresh `FaultProxy`."""
    async with (
        FaultProxy(("127.0.0.1", engine.port)) as proxy,
        fast_client(proxy.url(), creds) as c,
    ):
        yield proxy, c


async def test_events_replay_then_live_in_order(client: BLPClient, admin: Admin) -> None:
    await admin.force(10)
    got: list[m.Event] = []
    async with asyncio.timeout(WAIT), contextlib.aclosing(client.events(0)) as events:
        async for ev in events:
            got.append(ev)
            if ev.seq == 11:
                await admin.force(5)  # live, while subscribed
            if ev.seq == 16:
                break
    assert [e.seq for e in got] == list(range(1, 17))
    assert isinstance(got[0], m.ProfileEvent) and got[0].data.reason == "registered"
    assert all(isinstance(e, m.AssignmentEvent) for e in got[1:])
    assert len({e.id for e in got}) == 16


async def test_assignments_yields_assignment_data_and_resumes_from_seq(
    client: BLPClient, admin: Admin
) -> None:
    await admin.force(6)
    first: list[m.Assignment] = []
    async with asyncio.timeout(WAIT), contextlib.aclosing(client.assignments()) as stream:
        async for a in stream:
            first.append(a)
            if len(first) == 3:
                break
    assert [a.seq for a in first] == [2, 3, 4]
    rest: list[m.Assignment] = []
    async with asyncio.timeout(WAIT), contextlib.aclosing(client.assignments(first[-1].seq)) as s:
        async for a in s:
            rest.append(a)
            if a.seq == 7:
                break
    assert [a.seq for a in rest] == [5, 6, 7]
    history = await client.assignment_history(0)
    assert first + rest == history.assignments


async def test_stream_auth_refused_raises(engine: RunningEngine, creds: m.Credentials) -> None:
    bad = m.Credentials(account_id=0, api_key=creds.api_key, api_secret="f" * 64)
    async with fast_client(engine.url, bad) as c:
        with pytest.raises(AuthError):
            async with asyncio.timeout(WAIT):
                async for _ in c.events():
                    pass


async def test_a_wrong_key_raises_at_once(engine: RunningEngine, creds: m.Credentials) -> None:
    unknown = m.Credentials(account_id=0, api_key="blp_nobody", api_secret=creds.api_secret)
    async with (
        FaultProxy(("127.0.0.1", engine.port)) as proxy,
        fast_client(proxy.url(), unknown) as c,
    ):
        with pytest.raises(AuthError) as err:
            async with asyncio.timeout(WAIT):
                async for _ in c.events():
                    pass
        assert err.value.code == "invalid_api_key"
        assert proxy.connections == 1 and c.stats["reconnects"] == 0  # no retry


async def test_a_handshake_stalled_past_the_auth_timeout_reconnects(
    session: aiohttp.ClientSession,
) -> None:
    """The engine gives up on a connection that sends no auth within `auth_timeout_s`
    (`auth_timeout`, then 4001): not a verdict on the key, so the SDK reconnects with backoff,
    and the stream delivers every event exactly once."""
    eng = await boot(stream={"auth_timeout_s": 0.2})
    try:
        admin = Admin(eng.url, eng.admin_token, session)
        await admin.set_index()
        creds = await admin.register_blp()
        await admin.force(5)  # seqs 2..6
        async with (
            FaultProxy(("127.0.0.1", eng.port)) as proxy,
            fast_client(proxy.url(), creds, timeout=5.0) as c,  # waits longer than the engine
        ):
            proxy.stall_next(2)  # the client's auth never reaches the engine, twice
            got: list[int] = []
            async with asyncio.timeout(WAIT), contextlib.aclosing(c.events()) as events:
                async for ev in events:
                    got.append(ev.seq)
                    if ev.seq == 6:
                        await admin.force(2)  # and live ones after it
                    if ev.seq == 8:
                        break
            assert got == list(range(1, 9))
            assert proxy.connections == 3 and proxy.dropped > 0
            assert c.stats["reconnects"] == 2 and c.stats["connects"] == 1
    finally:
        await eng.stop()


async def heal_after_redial(proxy: FaultProxy) -> None:
    """Once the client has noticed the silence and dialled again, let bytes flow again."""
    await proxy.wait_until(lambda p: p.connections >= 2)
    proxy.blackhole = False


async def test_silent_connection_is_detected_by_heartbeat(
    engine: RunningEngine, admin: Admin, creds: m.Credentials
) -> None:
    async with (
        FaultProxy(("127.0.0.1", engine.port), seed=3) as proxy,
        fast_client(
            proxy.url(), creds, heartbeat_interval=0.05, heartbeat_timeout=0.3, timeout=0.5
        ) as c,
    ):
        await admin.force(2)
        got: list[int] = []
        async with asyncio.timeout(WAIT), contextlib.aclosing(c.events()) as events:
            async for ev in events:
                got.append(ev.seq)
                if ev.seq == 3:
                    proxy.blackhole = True  # the socket stays open, nothing flows
                    await admin.force(2)
                    heal = asyncio.create_task(heal_after_redial(proxy))
                if ev.seq == 5:
                    break
        await heal
        assert got == [1, 2, 3, 4, 5]
        assert c.stats["silent"] >= 1 and c.stats["reconnects"] >= 1
        assert proxy.cuts == 0  # nobody cut anything: the heartbeat found it


async def test_slow_consumer_is_closed_by_server_and_client_resumes(
    session: aiohttp.ClientSession,
) -> None:
    eng = await boot(stream={"send_buffer": 100})
    try:
        admin = Admin(eng.url, eng.admin_token, session)
        await admin.set_index()
        creds = await admin.register_blp()
        async with fast_client(eng.url, creds) as c:
            seqs: list[int] = []
            async with asyncio.timeout(WAIT), contextlib.aclosing(c.events()) as events:
                async for ev in events:
                    seqs.append(ev.seq)
                    if ev.seq == 1:
                        # live events while the consumer stalls, until the server gives up on
                        # it (each batch fits the buffer: only the stall can overflow it)
                        while not (await admin.stats()).stream["slow_consumer_closes"]:
                            await admin.force(50)
                        last = (await c.event_history(0, 1)).last_seq
                    if len(seqs) > 1 and ev.seq == last:
                        break
            assert seqs == list(range(1, last + 1))
            assert c.stats["reconnects"] >= 1
    finally:
        await eng.stop()


def _seqs(*seqs: int) -> Callable[[bytes], bool]:
    marks = [f'"op":"event","seq":{s},'.encode() for s in seqs]
    return lambda payload: any(mark in payload for mark in marks)


async def test_a_hole_in_the_stream_is_filled_from_rest_history(
    engine: RunningEngine, admin: Admin, creds: m.Credentials
) -> None:
    await admin.force(10)  # seqs 2..11
    async with proxied_client(engine, creds) as (proxy, c):
        proxy.drop_frames = _seqs(5, 6, 9)  # the stream loses them; REST does not
        got: list[m.Event] = []
        async with asyncio.timeout(WAIT), contextlib.aclosing(c.events()) as events:
            async for ev in events:
                got.append(ev)
                if ev.seq == 11:
                    break
        assert [e.seq for e in got] == list(range(1, 12))
        assert proxy.dropped_frames == 3
        assert c.stats["gaps"] == 2 and c.stats["gap_events_filled"] == 3
        assert c.stats["reconnects"] == 0  # filled in place, no resubscription
        history = await c.event_history(0, 100)
        assert got == history.events


async def test_assignments_fill_holes_too(
    engine: RunningEngine, admin: Admin, creds: m.Credentials
) -> None:
    await admin.force(6)  # seqs 2..7
    async with proxied_client(engine, creds) as (proxy, c):
        proxy.drop_frames = _seqs(3, 4)
        got: list[m.Assignment] = []
        async with asyncio.timeout(WAIT), contextlib.aclosing(c.assignments()) as stream:
            async for a in stream:
                got.append(a)
                if a.seq == 7:
                    break
        assert [a.seq for a in got] == [2, 3, 4, 5, 6, 7]
        assert got == (await c.assignment_history(0)).assignments
        assert proxy.dropped_frames == 2
        assert c.stats["gaps"] == 1 and c.stats["gap_events_filled"] == 2
        assert c.stats["reconnects"] == 0  # filled in place, no resubscription


async def test_duplicated_frames_are_dropped(
    engine: RunningEngine, admin: Admin, creds: m.Credentials
) -> None:
    await admin.force(5)  # seqs 2..6
    async with proxied_client(engine, creds) as (proxy, c):
        proxy.dup_frames = _seqs(2, 3, 6)  # these arrive twice
        got: list[int] = []
        async with asyncio.timeout(WAIT), contextlib.aclosing(c.events()) as events:
            async for ev in events:
                got.append(ev.seq)
                if ev.seq == 6:
                    await admin.force(1)  # one more, so the duplicate of 6 is read first
                if ev.seq == 7:
                    break
        assert got == [1, 2, 3, 4, 5, 6, 7]
        assert proxy.duplicated_frames == 3
        assert c.stats["duplicates"] == 3


async def test_resuming_past_the_servers_log_is_an_error(
    engine: RunningEngine, admin: Admin, creds: m.Credentials
) -> None:
    await admin.force(2)  # seqs 1..3
    async with fast_client(engine.url, creds) as c:
        with pytest.raises(StreamError) as err:
            async with asyncio.timeout(WAIT):
                async for _ in c.events(from_seq=10):
                    pass
        assert err.value.code == "server_behind"


async def test_not_a_blp_stream_is_an_error(session: aiohttp.ClientSession) -> None:
    from aiohttp import web

    app = web.Application()  # serves nothing: /api/v1/stream is a 404
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        creds = m.Credentials(account_id=1, api_key="k", api_secret="s")
        async with fast_client(f"http://127.0.0.1:{port}", creds) as c:
            with pytest.raises(StreamError) as err:
                async with asyncio.timeout(WAIT):
                    async for _ in c.events():
                        pass
            assert err.value.code == "handshake_refused"
    finally:
        await runner.cleanup()


FIXED_BLP = {
    "name": "desk",
    "api_key": "blp_desk_key",
    "api_secret": "a-long-random-secret-for-tests-0123456789",
    "collateral": "10000000",
    "minute_rate": "1000000000",
    "hour_rate": "1000000000",
    "max_position_notional": {"BTC-PERP": "1000000000", "ETH-PERP": "1000000000"},
}
FIXED_CREDS = m.Credentials(
    account_id=0, api_key=FIXED_BLP["api_key"], api_secret=FIXED_BLP["api_secret"]
)


async def _first_events(engine: RunningEngine, session: aiohttp.ClientSession, n: int) -> str:
    """Force `n` assignments and read the stream up to them; returns the log's id."""
    admin = Admin(engine.url, engine.admin_token, session)
    await admin.set_index("BTC-PERP", "50000")
    await admin.force(n)
    async with fast_client(engine.url, FIXED_CREDS) as c:
        async with asyncio.timeout(WAIT), contextlib.aclosing(c.assignments(0)) as stream:
            seen = 0
            async for _ in stream:
                seen += 1
                if seen == n:
                    break
        assert c.log_id
        return c.log_id


async def test_a_different_event_log_is_refused(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """An engine restarted without its data directory starts a new log whose seqs are not
    ours: resuming from our last seq would silently skip its first events."""
    first = await boot(blps=[FIXED_BLP])
    try:
        old_log = await _first_events(first, session, 5)
    finally:
        await first.stop()
    second = await boot(blps=[FIXED_BLP])  # in memory again: a new log
    try:
        new_log = await _first_events(second, session, 8)  # its seqs pass ours
        assert new_log != old_log
        async with fast_client(second.url, FIXED_CREDS) as c:
            with pytest.raises(StreamError) as err:
                async with asyncio.timeout(WAIT):
                    async for _ in c.events(5, log_id=old_log):
                        pass
            assert err.value.code == "log_changed"
    finally:
        await second.stop()
    # the same data directory keeps its log (and its id) across a restart, and a client
    # resumes there with that id: accepted, from the next seq
    eng = await boot(data_dir=tmp_path, blps=[FIXED_BLP])
    try:
        kept_log = await _first_events(eng, session, 3)
        async with fast_client(eng.url, FIXED_CREDS) as c:
            last = (await c.event_history()).last_seq
    finally:
        await eng.stop()
    eng = await boot(data_dir=tmp_path, blps=[FIXED_BLP])
    try:
        assert await _first_events(eng, session, 1) == kept_log
        async with fast_client(eng.url, FIXED_CREDS) as c, asyncio.timeout(WAIT):
            resumed = c.events(last, log_id=kept_log)
            async with contextlib.aclosing(resumed):
                first = await anext(resumed)
        assert first.seq == last + 1 and c.log_id == kept_log
    finally:
        await eng.stop()
