"""A fault-injecting TCP proxy for tests and chaos runs (127.0.0.1 only).

It forwards bytes both ways between its clients and one upstream `host:port` and can, while
running: cut every connection now (`cut_all`), cut each connection after a random number of
forwarded bytes drawn from a seeded RNG (`cut_after=(lo, hi)`), delay every chunk (`latency`),
silently stop forwarding while keeping sockets open (`blackhole`, to exercise heartbeat
detection), keep its own socket buffers small (`sock_buffer`, so backpressure reaches the
server sooner), refuse new connections (`refuse`), and be pointed at a new upstream (`retarget`,
e.g. across an engine restart on another port), and drop chosen WebSocket text frames from
server to client (`drop_frames`, to make holes in a stream) or send them twice
(`dup_frames`), and swallow what the client sends on its next connections while the server's
answers still flow (`stall_next`, a handshake stalled past the server's auth timeout).

Tests await conditions on it rather than sleeping: `await proxy.wait_until(lambda p: p.cuts >= 3)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from .._log import get_logger

_log = get_logger("blp_client.testing.proxy")

_CHUNK = 16384


class _FrameFilter:
    """Passes an HTTP/1.1 upgrade response through, then WebSocket frames one by one, dropping
    (or duplicating) the text frames whose payload `drop(payload)` (`dup(payload)`) selects.
    Uncompressed frames only; a plain HTTP response passes untouched."""

    def __init__(
        self,
        proxy: FaultProxy,
        drop: Callable[[bytes], bool] | None,
        dup: Callable[[bytes], bool] | None,
    ) -> None:
        self.proxy = proxy
        self.drop = drop
        self.dup = dup
        self.in_frames = False
        self.passthrough = False  # not a WebSocket upgrade (plain HTTP): leave it alone
        self.buf = bytearray()

    def feed(self, data: bytes) -> bytes:
        if self.passthrough:
            return data
        self.buf += data
        out = bytearray()
        if not self.in_frames:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return b""
            head = bytes(self.buf[: end + 4])
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.passthrough = True
                rest = bytes(self.buf)
                self.buf.clear()
                return rest
            out += head
            del self.buf[: end + 4]
            self.in_frames = True
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, pos = b1 & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    break
                n, pos = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                if len(self.buf) < 10:
                    break
                n, pos = int.from_bytes(self.buf[2:10], "big"), 10
            masked = bool(b1 & 0x80)
            total = pos + (4 if masked else 0) + n
            if len(self.buf) < total:
                break
            frame = bytes(self.buf[:total])
            del self.buf[:total]
            payload = frame[total - n :]
            if masked:
                key = frame[pos : pos + 4]
                payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            if (b0 & 0x0F) == 0x1 and (b0 & 0x80):
                if self.drop is not None and self.drop(payload):
                    self.proxy.dropped_frames += 1
                    continue
                if self.dup is not None and self.dup(payload):
                    self.proxy.duplicated_frames += 1
                    out += frame
            out += frame
        return bytes(out)


@dataclass(eq=False)
class _Conn:
    cid: int
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    budget: int | None  # bytes (both directions) after which the proxy cuts; None = never
    stalled: bool = False  # client → upstream bytes are swallowed once upstream answered
    answered: bool = False  # upstream → client bytes have flowed
    frames: _FrameFilter | None = None  # server → client WebSocket frame filter
    forwarded: int = 0
    dead: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FaultProxy:
    """`async with FaultProxy(("127.0.0.1", port), seed=1) as proxy:` then connect to
    `proxy.host:proxy.port` (or `proxy.url("http")`)."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        cut_after: tuple[int, int] | None = None,
        latency: float = 0.0,
        sock_buffer: int | None = None,
    ) -> None:
        if host != "127.0.0.1":
            raise ValueError("the fault proxy listens on 127.0.0.1 only")
        self.upstream = upstream
        self.host = host
        self.port = port
        self.rng = random.Random(seed)
        self.cut_after = cut_after
        self.latency = latency
        self.sock_buffer = sock_buffer  # SO_SNDBUF/SO_RCVBUF of the proxy's own sockets
        self.blackhole = False
        self.refuse = False
        # drop server → client WebSocket text frames whose payload this selects (new connections)
        self.drop_frames: Callable[[bytes], bool] | None = None
        self.dup_frames: Callable[[bytes], bool] | None = None  # ... or send twice
        # counters
        self.connections = 0  # accepted
        self.cuts = 0  # connections cut by a fault (cut_all or byte budget)
        self.bytes_up = 0  # client → upstream
        self.bytes_down = 0  # upstream → client
        self.dropped = 0  # bytes swallowed by the blackhole
        self.dropped_frames = 0  # WebSocket frames removed by `drop_frames`
        self.duplicated_frames = 0  # ... and sent twice by `dup_frames`
        self._conns: set[_Conn] = set()
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._next_id = 0
        self._fail_next: list[int] = []
        self._stall_next = 0

    # -- lifecycle

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        _log.debug("proxy.listening", port=self.port, upstream=self.upstream)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        conns = list(self._conns)  # (_kill forgets them)
        for conn in conns:
            self._kill(conn)
        tasks = [t for c in conns for t in c.tasks]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def active(self) -> int:
        """Open proxied connections."""
        return len(self._conns)

    # -- faults

    def cut_all(self) -> int:
        """Abort every open connection now (both sockets reset); returns how many."""
        n = 0
        for conn in list(self._conns):
            if not conn.dead:
                self._kill(conn)
                self.cuts += 1
                n += 1
        self._notify()
        return n

    def fail_next(self, connections: int = 1, after_bytes: int = 0) -> None:
        """Cut each of the next `connections` new connections once `after_bytes` bytes have
        been forwarded (0: as soon as the client sends anything)."""
        self._fail_next += [max(0, after_bytes)] * connections

    def stall_next(self, connections: int = 1) -> None:
        """On each of the next `connections` new connections, once the upstream has answered
        (e.g. the WebSocket upgrade), forward nothing more from the client (counted in
        `dropped`) for as long as it lasts; upstream → client keeps flowing."""
        self._stall_next += connections

    def retarget(self, upstream: tuple[str, int]) -> None:
        """Send new connections to another upstream (open ones are left alone)."""
        self.upstream = upstream

    async def wait_until(
        self, predicate: Callable[[FaultProxy], bool], timeout: float | None = None
    ) -> None:
        """Wait until `predicate(self)` holds; it is re-checked whenever a counter changes."""

        async def _wait() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(_wait(), timeout)

    # -- internals

    def _notify(self) -> None:
        self._changed.set()

    def _kill(self, conn: _Conn) -> None:
        if conn.dead:
            return
        conn.dead = True
        for w in (conn.client, conn.upstream):
            w.transport.abort()
        self._conns.discard(conn)

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._notify()
        if self.refuse:
            cwriter.transport.abort()
            return
        try:
            ureader, uwriter = await asyncio.open_connection(*self.upstream)
        except OSError:
            cwriter.transport.abort()
            return
        if self.sock_buffer is not None:
            for w in (cwriter, uwriter):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sock_buffer)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.sock_buffer)
        if self._fail_next:
            budget: int | None = self._fail_next.pop(0)
        else:
            budget = self.rng.randint(*self.cut_after) if self.cut_after else None
        self._next_id += 1
        conn = _Conn(self._next_id, cwriter, uwriter, budget)
        if self._stall_next:
            self._stall_next -= 1
            conn.stalled = True
        if self.drop_frames is not None or self.dup_frames is not None:
            conn.frames = _FrameFilter(self, self.drop_frames, self.dup_frames)
        self._conns.add(conn)
        up = asyncio.create_task(self._pump(conn, creader, uwriter, up=True))
        down = asyncio.create_task(self._pump(conn, ureader, cwriter, up=False))
        conn.tasks = [up, down]
        try:
            await asyncio.gather(up, down, return_exceptions=True)
        finally:
            if not conn.dead:
                conn.dead = True
                for w in (cwriter, uwriter):
                    w.close()
            self._conns.discard(conn)
            self._notify()

    async def _pump(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        up: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(maxsize=4)

        async def read() -> None:
            try:
                while True:
                    data = await reader.read(_CHUNK)
                    await queue.put((loop.time() + self.latency, data) if data else None)
                    if not data:
                        return
            except (ConnectionError, OSError):
                await queue.put(None)

        reading = asyncio.create_task(read())
        try:
            while True:
                item = await queue.get()
                if item is None:
                    if not conn.dead and writer.can_write_eof():
                        with contextlib.suppress(OSError, RuntimeError):
                            writer.write_eof()
                    return
                due, data = item
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if conn.dead:
                    return
                if self.blackhole or (up and conn.stalled and conn.answered):
                    self.dropped += len(data)
                    self._notify()
                    continue
                if not up:
                    conn.answered = True
                    if conn.frames is not None:
                        data = conn.frames.feed(data)
                cut = False
                if conn.budget is not None and conn.forwarded + len(data) > conn.budget:
                    data = data[: max(0, conn.budget - conn.forwarded)]
                    cut = True
                conn.forwarded += len(data)
                if up:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                if data:
                    writer.write(data)
                    with contextlib.suppress(ConnectionError, OSError):
                        await writer.drain()
                if cut:
                    if not conn.dead:
                        self._kill(conn)
                        self.cuts += 1
                        self._notify()
                    return
        except (ConnectionError, OSError):
            self._kill(conn)
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
