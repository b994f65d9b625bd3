"""Chaos: the client's stream through a fault-injecting TCP proxy to the real engine.

The issue's Done-when: the proxy cuts the connection at random points at least 50 times while
the engine emits at least 5,000 assignments, and the client yields every seq exactly once, in
order; the same across an engine restart on the same data directory; the same with a consumer
that stalls for longer than the server's buffer allows. The producer is paced by the
consumer's progress (it stays a few hundred events ahead) so cuts land on live traffic as well
as on replays; nothing waits on the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from blp_client import models as m
from blp_client.client import BLPClient
from blp_client.engine.server import RunningEngine
from blp_client.testing import FaultProxy

from .conftest import Admin, boot

N = 5_000  # assignments
BATCH = 250
AHEAD = 500  # the producer stays at most this many assignments ahead of the consumer
MIN_CUTS = 50
CUT_BYTES = (2_000, 30_000)  # each proxied connection dies after this many bytes (seeded)
STALLS, STALL_EVERY = 3, 1500  # the stalling test: stalls, assignments between them
CUT_P = 0.05  # ... and its chance of a cut per delivered assignment (seeded)
WAIT = 120.0  # a generous bound on the whole run; the tests finish in seconds


class Progress:
    """The consumer's delivered count, awaitable by the producer."""

    def __init__(self) -> None:
        self.delivered = 0
        self._changed = asyncio.Event()

    def bump(self) -> None:
        self.delivered += 1
        self._changed.set()

    async def at_least(self, n: int) -> None:
        while self.delivered < n:
            self._changed.clear()
            await self._changed.wait()


def chaos_client(url: str, creds: m.Credentials, seed: int) -> BLPClient:
    return BLPClient(
        url,
        creds.api_key,
        creds.api_secret,
        timeout=5.0,
        reconnect_base=0.005,
        reconnect_max=0.05,
        rng=random.Random(seed),
    )


async def produce(
    admin: Callable[[], Admin],
    progress: Progress,
    total: int,
    between: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    """Force `total` assignments in batches, staying at most AHEAD of the consumer;
    `between(n_forced)` runs after each batch (e.g. to restart the engine)."""
    forced = 0
    while forced < total:
        await progress.at_least(forced - AHEAD)
        n = min(BATCH, total - forced)
        result = await admin().force(n)
        assert result.assignments == n
        forced += n
        if between is not None:
            await between(forced)


def check(events: list[m.Event], last_seq: int, assignments: int) -> None:
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, last_seq + 1)), "not every seq exactly once, in order"
    assert len({e.id for e in events}) == len(events)
    assert sum(isinstance(e, m.AssignmentEvent) for e in events) == assignments


async def consume(
    client: BLPClient,
    progress: Progress,
    done: Callable[[list[m.Event]], bool],
    on_event: Callable[[m.Event], Awaitable[None]] | None = None,
) -> list[m.Event]:
    got: list[m.Event] = []
    async with contextlib.aclosing(client.events(0)) as events:
        async for ev in events:
            got.append(ev)
            if isinstance(ev, m.AssignmentEvent):
                progress.bump()
            if on_event is not None:
                await on_event(ev)
            if done(got):
                break
    return got


async def test_random_cuts_every_seq_once_in_order(
    engine: RunningEngine, admin: Admin, creds: m.Credentials
) -> None:
    progress = Progress()
    async with (
        FaultProxy(("127.0.0.1", engine.port), seed=11, cut_after=CUT_BYTES) as proxy,
        chaos_client(proxy.url(), creds, seed=12) as client,
    ):
        producer = asyncio.create_task(produce(lambda: admin, progress, N))
        async with asyncio.timeout(WAIT):
            got = await consume(client, progress, lambda g: progress.delivered == N)
            await producer
        check(got, N + 1, N)  # seq 1 is the registration's profile event
        history = [a for e in got if isinstance(e, m.AssignmentEvent) for a in [e.data]]
        async with chaos_client(engine.url, creds, seed=0) as direct:  # not through the proxy
            cursor: int | None = 0
            rest: list[m.Assignment] = []
            while cursor is not None:
                page = await direct.assignment_history(cursor, 1000)
                rest += page.assignments
                cursor = page.next_from_seq
        assert history == rest  # exactly what the engine logged
        assert proxy.cuts >= MIN_CUTS, proxy.cuts
        assert client.stats["reconnects"] >= MIN_CUTS
        print(f"chaos cuts: {N} assignments, {proxy.cuts} cuts, client {client.stats}")


async def test_random_cuts_across_an_engine_restart(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    data_dir = tmp_path / "engine"
    engines: list[RunningEngine] = [await boot(data_dir)]
    admins = [Admin(engines[0].url, engines[0].admin_token, session)]
    try:
        await admins[0].set_index()
        creds = await admins[0].register_blp()
        progress = Progress()
        async with (
            FaultProxy(("127.0.0.1", engines[0].port), seed=21, cut_after=CUT_BYTES) as proxy,
            chaos_client(proxy.url(), creds, seed=22) as client,
        ):

            async def restart_midway(forced: int) -> None:
                if forced != N // 2:
                    return
                await progress.at_least(N // 4)  # the client is mid-stream
                await engines[0].stop()
                eng = await boot(data_dir)  # same data dir, another port
                engines.append(eng)
                admins.append(Admin(eng.url, eng.admin_token, session))
                await admins[-1].set_index()
                proxy.retarget(("127.0.0.1", eng.port))

            producer = asyncio.create_task(
                produce(lambda: admins[-1], progress, N, between=restart_midway)
            )
            async with asyncio.timeout(WAIT):
                got = await consume(client, progress, lambda g: progress.delivered == N)
                await producer
            assert len(engines) == 2
            async with chaos_client(engines[-1].url, creds, seed=0) as direct:
                last_seq = (await direct.event_history(0, 1)).last_seq
                if got[-1].seq < last_seq:  # events after the last assignment (none expected)
                    got += list((await direct.event_history(got[-1].seq, 1000)).events)
            check(got, last_seq, N)
            assert proxy.cuts >= MIN_CUTS, proxy.cuts
            print(f"chaos restart: {N} assignments, {proxy.cuts} cuts, client {client.stats}")
    finally:
        await engines[-1].stop()


async def test_stalling_consumer_and_cuts(session: aiohttp.ClientSession) -> None:
    """Cuts at seeded random points (≥ 50) plus three stalls, each lasting until the server
    has closed the connection as a slow consumer; each stall leaves a backlog (the send window
    plus the buffer) of hundreds of events that the client then catches up on, through more
    cuts. The per-connection buffer (1,000 events) is larger than what the paced producer can
    queue while the client catches up after a stall (AHEAD + BATCH), so every slow-consumer
    close here comes from a stall. The send window is small too (16 KiB, ~50 events written
    ahead of the client's pongs), like the proxy's socket buffers: a cut then strikes a
    connection that holds little, so cuts keep coming while the client catches up."""
    eng = await boot(stream={"send_buffer": 1000, "send_window_bytes": 16384})
    try:
        admin = Admin(eng.url, eng.admin_token, session)
        await admin.set_index()
        creds = await admin.register_blp()
        rng = random.Random(31)
        progress = Progress()
        stalls, attempts, extra = 0, 0, 0
        since = 0  # assignments delivered since the last stall ended (or the start)
        async with (
            FaultProxy(("127.0.0.1", eng.port), seed=32, sock_buffer=16384) as proxy,
            chaos_client(proxy.url(), creds, seed=33) as client,
        ):

            async def on_event(ev: m.Event) -> None:
                nonlocal stalls, attempts, extra, since
                if not isinstance(ev, m.AssignmentEvent):
                    return
                since += 1
                due = stalls < STALLS and since >= STALL_EVERY
                if due and since % 25 == 0 and attempts < 10:
                    stream = (await admin.stats()).stream
                    if not stream["subscribers"]:
                        return  # between connections: stall on the next one
                    # stall: the engine keeps emitting meanwhile, until it gives up on us (or
                    # the connection dies another way: then try again a little later)
                    attempts += 1
                    before = stream["slow_consumer_closes"]
                    while stream["subscribers"] and stream["slow_consumer_closes"] == before:
                        extra += (await admin.force(BATCH)).assignments
                        stream = (await admin.stats()).stream
                    if stream["slow_consumer_closes"] > before:
                        stalls += 1
                        since = 0
                elif (
                    (stalls == STALLS or since < STALL_EVERY - 400)  # none just before a stall
                    and proxy.active  # not while draining what a cut connection delivered
                    and rng.random() < CUT_P
                ):
                    proxy.cut_all()

            producer = asyncio.create_task(produce(lambda: admin, progress, N))
            async with asyncio.timeout(WAIT):
                got = await consume(
                    client,
                    progress,
                    lambda g: (
                        progress.delivered == N + extra
                        and (stalls == STALLS or (producer.done() and attempts >= 10))
                    ),
                    on_event,
                )
                await producer
            check(got, got[-1].seq, N + extra)
            async with chaos_client(eng.url, creds, seed=0) as direct:
                assert got[-1].seq == (await direct.event_history(0, 1)).last_seq
            assert stalls == STALLS, (stalls, attempts)
            stats = await admin.stats()
            assert stats.stream["slow_consumer_closes"] == stalls
            print(
                f"chaos stalls: {N + extra} assignments, {proxy.cuts} cuts, "
                f"{stalls} slow-consumer closes ({attempts} stalls), client {client.stats}"
            )
            assert proxy.cuts >= MIN_CUTS, proxy.cuts
    finally:
        await eng.stop()
