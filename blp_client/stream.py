"""The resumable event stream behind `BLPClient.events()` / `.assignments()`: asyncio glue.

The rules (auth, subscribe from the last seq, exactly once and in order, gaps, heartbeats,
reconnect or fail) are `ClientStreamProtocol`'s, sans I/O (stream_protocol.py). This module
only carries out its actions over aiohttp: open the WebSocket, feed it every frame, send what
it says, fetch history pages, sleep the backoff, and tick its timer from a watchdog task.
It needs no `BLPClient`: `StreamSettings` (where, who, timing) and a REST page fetcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

import aiohttp

from .auth import Timestamps
from .errors import BLPError
from .models import Assignment, AssignmentEvent, Event, EventPage
from .stream_protocol import (
    ClientAction,
    ClientStreamProtocol,
    Close,
    Connected,
    Deliver,
    Fail,
    FetchPage,
    Reconnect,
    Send,
    StreamSettings,
)

__all__ = ["EventStream", "StreamSettings"]

T = TypeVar("T")
FetchEvents = Callable[[int, int], Awaitable[EventPage]]  # (from_seq, limit) -> a page

_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


class _Conn:
    """What the receive loop and its watchdog share about one connection."""

    __slots__ = ("lost", "waiting_since")

    def __init__(self) -> None:
        self.waiting_since: float | None = None  # loop time a pending receive() started
        self.lost: str | None = None  # why the watchdog dropped it, if it did


class EventStream:
    """Subscriptions to one BLP's stream: `events(from_seq)`, `assignments(from_seq)`."""

    def __init__(
        self,
        settings: StreamSettings,
        session: aiohttp.ClientSession,
        fetch_events: FetchEvents,
        *,
        timestamps: Timestamps | None = None,
        rng: random.Random | None = None,
        stats: dict[str, int] | None = None,
        on_connected: Callable[[Connected], None] | None = None,
    ) -> None:
        self.settings = settings
        self.session = session
        self.fetch_events = fetch_events
        self.timestamps = timestamps or Timestamps()
        self.rng = rng
        self.stats = stats if stats is not None else {}
        self.on_connected = on_connected

    def events(self, from_seq: int = 0, log_id: str | None = None) -> AsyncGenerator[Event, None]:
        """Every event with `seq > from_seq`, then live ones, exactly once and in order."""
        return self._run(from_seq, log_id, _event)

    def assignments(
        self, from_seq: int = 0, log_id: str | None = None
    ) -> AsyncGenerator[Assignment, None]:
        """The assignments among them (their `data`)."""
        return self._run(from_seq, log_id, _assignment)

    async def _run(
        self, from_seq: int, log_id: str | None, project: Callable[[Event], T | None]
    ) -> AsyncGenerator[T, None]:
        """One async generator for the whole subscription (no nested layers: this is the hot
        path): connections come and go inside it."""
        s = self.settings
        proto = ClientStreamProtocol(s, from_seq, log_id=log_id, rng=self.rng, stats=self.stats)
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        loop = asyncio.get_running_loop()
        delay = 0.0
        while True:
            if delay:
                await asyncio.sleep(delay)
            ws: aiohttp.ClientWebSocketResponse | None = None
            watchdog: asyncio.Task[None] | None = None
            conn = _Conn()
            try:
                try:
                    async with asyncio.timeout(s.handshake_timeout):
                        ws = await self.session.ws_connect(
                            s.url,
                            timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
                            autoping=True,
                            max_msg_size=s.max_message_size,
                        )
                except aiohttp.WSServerHandshakeError as exc:
                    actions = proto.connect_failed(f"HTTP {exc.status}", exc.status)
                except _TRANSPORT_ERRORS as exc:
                    actions = proto.connect_failed(f"{type(exc).__name__}: {exc}")
                else:
                    actions = proto.connection_made(self.timestamps.next(), loop.time())
                    watchdog = asyncio.create_task(self._watchdog(ws, proto, conn))
                while True:
                    follow: list[ClientAction] | None = None  # the protocol's next answer
                    reconnect = False
                    for action in actions:
                        if isinstance(action, Deliver):  # the hot path
                            item = project(action.event)
                            if item is not None:
                                yield item
                        elif isinstance(action, Send):
                            assert ws is not None
                            try:
                                await ws.send_str(action.text)
                            except _TRANSPORT_ERRORS as exc:
                                follow = proto.connection_lost(None, f"send failed: {exc}")
                                break
                        elif isinstance(action, FetchPage):
                            try:
                                page = await self.fetch_events(action.from_seq, action.limit)
                            except BLPError as exc:
                                follow = proto.page_failed(str(exc))
                            else:
                                follow = proto.page_received(page)
                        elif isinstance(action, Reconnect):
                            delay, reconnect = action.delay, True
                        elif isinstance(action, Fail):
                            raise action.error
                        elif isinstance(action, Connected):
                            if self.on_connected is not None:
                                self.on_connected(action)
                        elif isinstance(action, Close):
                            assert ws is not None
                            await ws.close()
                    if reconnect:
                        break
                    if follow is not None:
                        actions = follow
                        continue
                    assert ws is not None
                    conn.waiting_since = loop.time()
                    msg = await ws.receive()
                    conn.waiting_since = None
                    if msg.type is text or msg.type is binary:
                        actions = proto.receive(msg.data)
                    else:
                        actions = _lost(proto, ws, msg, conn)
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                if ws is not None and not ws.closed:
                    await _quiet_close(ws)

    async def _watchdog(
        self, ws: aiohttp.ClientWebSocketResponse, proto: ClientStreamProtocol, conn: _Conn
    ) -> None:
        """Tick the protocol's timer: it sends pings, and closes a connection on which a
        `receive()` has waited longer than `heartbeat_timeout` (the server answers pings, so
        a live link is never that quiet) or whose handshake takes too long; the pending
        `receive()` then ends and the protocol says what next."""
        s = self.settings
        tick = min(s.heartbeat_interval, s.heartbeat_timeout, s.handshake_timeout) / 4
        loop = asyncio.get_running_loop()
        try:
            while not ws.closed:
                await asyncio.sleep(tick)
                now = loop.time()
                since = conn.waiting_since
                silent = now - since if since is not None else 0.0
                for action in proto.timer(now, silent, int(time.time() * 1000)):
                    if isinstance(action, Send):
                        await asyncio.wait_for(ws.send_str(action.text), s.heartbeat_timeout)
                    elif isinstance(action, Close):
                        await ws.close()
                        return
        except TimeoutError:  # a ping that could not be sent in time: the link is stuck
            conn.lost = "ping not sent within heartbeat_timeout"
            with contextlib.suppress(Exception):
                await ws.close()
        except Exception:  # the connection is closing: the receive side reports why
            return


def _lost(
    proto: ClientStreamProtocol,
    ws: aiohttp.ClientWebSocketResponse,
    msg: aiohttp.WSMessage,
    conn: _Conn,
) -> list[ClientAction]:
    """A non-data frame from `receive()`: the end of the connection, told to the protocol."""
    kind = msg.type
    if kind is aiohttp.WSMsgType.CLOSE:
        code = msg.data if isinstance(msg.data, int) else ws.close_code
        reason = msg.extra if isinstance(msg.extra, str) else ""
    elif kind in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
        code, reason = ws.close_code, ""
    elif kind is aiohttp.WSMsgType.ERROR:
        code, reason = None, str(msg.data)
    else:
        return []  # ping/pong frames are answered by aiohttp
    if conn.lost is not None:
        code, reason = None, conn.lost
    return proto.connection_lost(code, reason)


def _event(ev: Event) -> Event:
    return ev


def _assignment(ev: Event) -> Assignment | None:
    return ev.data if type(ev) is AssignmentEvent else None


async def _quiet_close(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):  # best effort on a dead socket
        await asyncio.wait_for(ws.close(), 1.0)
