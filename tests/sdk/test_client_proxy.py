"""The fault-injecting TCP proxy against a tiny echo server over 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from blp_client.testing import FaultProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, int]]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    yield "127.0.0.1", server.sockets[0].getsockname()[1]
    server.close()


async def _open(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(proxy.host, proxy.port)


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    got = b""
    try:
        while data := await reader.read(65536):
            got += data
    except (ConnectionError, OSError):
        pass
    return got


async def test_forwards_both_ways(echo: tuple[str, int]) -> None:
    async with FaultProxy(echo) as proxy:
        reader, writer = await _open(proxy)
        payload = bytes(range(256)) * 1000
        writer.write(payload)
        got = await reader.readexactly(len(payload))
        assert got == payload
        assert proxy.bytes_up == len(payload) and proxy.bytes_down == len(payload)
        assert proxy.connections == 1 and proxy.active == 1
        writer.close()
        await proxy.wait_until(lambda p: p.active == 0, timeout=5)
        assert proxy.cuts == 0


async def test_cut_all_resets_open_connections(echo: tuple[str, int]) -> None:
    async with FaultProxy(echo) as proxy:
        conns = [await _open(proxy) for _ in range(3)]
        for _, w in conns:
            w.write(b"x")
        for r, _ in conns:
            assert await r.readexactly(1) == b"x"
        assert proxy.cut_all() == 3
        for r, _ in conns:
            assert await _read_until_closed(r) == b""
        assert proxy.cuts == 3 and proxy.active == 0
        # the proxy keeps accepting
        r, w = await _open(proxy)
        w.write(b"again")
        assert await r.readexactly(5) == b"again"
        w.close()


async def test_cut_after_random_byte_budget_is_seeded(echo: tuple[str, int]) -> None:
    async def run(seed: int) -> list[int]:
        received = []
        async with FaultProxy(echo, seed=seed, cut_after=(1000, 5000)) as proxy:
            for _ in range(5):
                reader, writer = await _open(proxy)
                got = 0
                try:
                    while True:  # ping-pong 100 bytes until the proxy cuts
                        writer.write(b"z" * 100)
                        data = await reader.readexactly(100)
                        got += len(data)
                except (asyncio.IncompleteReadError, ConnectionError, OSError):
                    pass
                received.append(got)
                writer.close()
            assert proxy.cuts == 5
        return received

    a, b = await run(1), await run(1)
    assert a == b  # same seed, same cut points
    assert all(n < 5000 for n in a)
    assert await run(2) != a


async def test_latency_delays_every_chunk(echo: tuple[str, int]) -> None:
    async with FaultProxy(echo, latency=0.05) as proxy:
        reader, writer = await _open(proxy)
        t0 = time.monotonic()
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        assert time.monotonic() - t0 >= 0.1  # 50 ms each way, a lower bound only
        writer.close()


async def test_blackhole_swallows_silently_then_recovers(echo: tuple[str, int]) -> None:
    async with FaultProxy(echo) as proxy:
        reader, writer = await _open(proxy)
        proxy.blackhole = True
        writer.write(b"lost")
        await writer.drain()
        await proxy.wait_until(lambda p: p.dropped >= 4, timeout=5)
        assert proxy.active == 1 and not reader.at_eof()  # still open, just silent
        proxy.blackhole = False
        writer.write(b"found")
        assert await reader.readexactly(5) == b"found"
        writer.close()


async def test_refuse_and_retarget(echo: tuple[str, int]) -> None:
    other = await asyncio.start_server(_echo, "127.0.0.1", 0)
    try:
        async with FaultProxy(("127.0.0.1", 1)) as proxy:  # nothing listens on port 1
            r, w = await _open(proxy)
            assert await _read_until_closed(r) == b""
            proxy.retarget(echo)
            proxy.refuse = True
            r, w = await _open(proxy)
            assert await _read_until_closed(r) == b""
            proxy.refuse = False
            proxy.retarget(("127.0.0.1", other.sockets[0].getsockname()[1]))
            r, w = await _open(proxy)
            w.write(b"hi")
            assert await r.readexactly(2) == b"hi"
            w.close()
            assert proxy.connections == 3
    finally:
        other.close()


def test_only_loopback() -> None:
    with pytest.raises(ValueError):
        FaultProxy(("127.0.0.1", 1), host="0.0.0.0")
