"""The WebSocket stream `/api/v1/stream`: asyncio glue around `ServerStreamProtocol`.

The rules (auth → subscribe → replay → live, heartbeats, flow control, errors and close codes)
are the protocol's, sans I/O (stream_protocol.py). Here, one connection = three tasks that
feed it and carry out its actions: the reader (client frames), the pump (the backlog from the
SQLite log, then the live buffer, paused while the send window is full) and the timer
(heartbeats, auth and idle deadlines). Whatever ends the connection goes through
`kill(code, reason)`; the handler then closes the socket with that code.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import Sequence

import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from ..auth import STREAM_PATH
from ..errors import CLOSE_GOING_AWAY, AuthError
from .service import EngineService, Subscriber, wall_ms
from .stream_protocol import (
    CLOSE_REASONS,
    Authenticate,
    Close,
    Pause,
    Resume,
    Send,
    ServerAction,
    ServerStreamProtocol,
    StartFeed,
)

log = structlog.get_logger("blp.stream")

__all__ = ["CLOSE_REASONS", "SERVICE_KEY", "StreamConnection", "stream_handler"]


class StreamSocket(web.WebSocketResponse):
    """aiohttp's WebSocket, whose 1009 close (a frame over `max_msg_size`, refused inside
    `receive()`) says why instead of an empty reason."""

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        if code == WSCloseCode.MESSAGE_TOO_BIG and not message:
            limit = self._max_msg_size
            message = f"message too big: the limit is {limit} bytes".encode()
        return await super().close(code=code, message=message, drain=drain)


class StreamConnection:
    def __init__(self, service: EngineService, ws: web.WebSocketResponse, peer: str) -> None:
        self.service = service
        self.ws = ws
        self.peer = peer
        self.cfg = cfg = service.config.stream
        self.proto = ServerStreamProtocol(
            ping_interval_s=cfg.ping_interval_s,
            idle_timeout_s=cfg.idle_timeout_s,
            auth_timeout_s=cfg.auth_timeout_s,
            send_window_bytes=cfg.send_window_bytes,
            clock=time.monotonic,
            wall_ms=wall_ms,
            peer=peer,
            logger=log,
        )
        self.sub: Subscriber | None = None
        self.pump: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.killed = asyncio.Event()
        self.done = asyncio.Event()  # set once the connection is fully closed
        self.flowing = asyncio.Event()  # the send window is open
        self.flowing.set()

    @property
    def key(self) -> str | None:
        return self.proto.key

    @property
    def sent(self) -> int:
        return self.proto.sent_events

    def kill(self, code: int, reason: str | None = None) -> None:
        """End the connection with `code` (the first reason given wins)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = (reason or CLOSE_REASONS.get(code, ""))[:120]
        self.killed.set()

    async def run(self) -> None:
        svc = self.service
        svc.counters["connections"] += 1
        svc.connections.add(self)
        reader = asyncio.create_task(self._read_loop())
        timer = asyncio.create_task(self._timer())
        killed = asyncio.create_task(self.killed.wait())
        try:
            await asyncio.wait({reader, killed}, return_when=asyncio.FIRST_COMPLETED)
            self._fail_on_crash(reader)
        finally:
            if self.sub is not None:
                svc.unsubscribe(self.sub)
            for t in (self.pump, timer):
                if t is not None:
                    t.cancel()
            if self.close_code is not None and not self.ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self.ws.close(
                            code=self.close_code, message=self.close_reason.encode(), drain=False
                        ),
                        self.cfg.close_timeout_s,
                    )
            reader.cancel()
            killed.cancel()
            await asyncio.gather(reader, killed, timer, *([self.pump] if self.pump else []),
                                 return_exceptions=True)  # fmt: skip
            svc.connections.discard(self)
            self.done.set()
            log.info(
                "stream_closed", peer=self.peer, api_key=self.key,
                code=self.close_code if self.close_code is not None else self.ws.close_code,
                reason=self.close_reason or None, sent=self.sent,
            )  # fmt: skip

    def _fail_on_crash(self, reader: asyncio.Task[None]) -> None:
        """An engine bug in the reader closes 1011 with a generic reason and an error id, the
        details in the log only (not a silent 1000 "normal")."""
        if not reader.done() or reader.cancelled() or reader.exception() is None:
            return
        error_id = secrets.token_hex(8)
        log.error("stream_internal_error", peer=self.peer, api_key=self.key, error_id=error_id,
                  exc_info=reader.exception())  # fmt: skip
        self.kill(WSCloseCode.INTERNAL_ERROR, f"internal error {error_id}")

    async def _do(self, actions: Sequence[ServerAction]) -> None:
        """Carry out the protocol's actions, in order."""
        for action in actions:
            if isinstance(action, Send):
                try:
                    await self.ws.send_str(action.text)
                except (ConnectionError, RuntimeError) as e:
                    self.kill(CLOSE_GOING_AWAY, f"send failed: {e}")
                    return
            elif isinstance(action, Close):
                self.kill(action.code, action.reason)
            elif isinstance(action, Authenticate):
                try:
                    key = self.service.verifier.verify(
                        action.key, action.timestamp, action.signature, "GET", STREAM_PATH, ""
                    )
                except AuthError as e:
                    await self._do(self.proto.auth_refused(e.code, e.message))
                else:
                    await self._do(self.proto.auth_accepted(key))
            elif isinstance(action, StartFeed):
                self._subscribe(action.from_seq)
            elif isinstance(action, Pause):
                self.flowing.clear()
            elif isinstance(action, Resume):
                self.flowing.set()

    # ---- reader --------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        proto = self.proto
        async for msg in self.ws:
            if msg.type is WSMsgType.TEXT:
                actions = proto.receive(msg.data)
            elif msg.type is WSMsgType.BINARY:
                actions = proto.receive_binary()
            elif msg.type is WSMsgType.ERROR:
                err = msg.data
                code = err.code if isinstance(err, WebSocketError) else WSCloseCode.PROTOCOL_ERROR
                actions = proto.frame_refused(code, str(err))
            else:
                continue
            await self._do(actions)
            if self.killed.is_set():
                return

    # ---- subscription --------------------------------------------------------------------

    def _subscribe(self, from_seq: int) -> None:
        key = self.proto.key
        assert key is not None
        sub, last = self.service.subscribe(key, from_seq, self._overflow)
        self.sub = sub
        self.pump = asyncio.create_task(self._pump(sub, from_seq, last))

    def _overflow(self) -> None:
        """Called by the service when this connection's live buffer is full."""
        self.service.counters["slow_consumer_closes"] += 1
        for action in self.proto.overflow():
            if isinstance(action, Close):
                self.kill(action.code, action.reason)

    async def _pump(self, sub: Subscriber, from_seq: int, upto: int) -> None:
        proto, send, flowing = self.proto, self.ws.send_str, self.flowing
        sent = proto.event_sent
        try:
            await self._do(proto.feed_started(from_seq, upto, self.service.log.log_id))
            cursor = from_seq
            while cursor < upto:
                rows = self.service.log.read(sub.blp, cursor, upto, self.cfg.backlog_page)
                if not rows:
                    break
                for _, text in rows:
                    await send(text)
                    if actions := sent(len(text)):
                        await self._do(actions)
                        await flowing.wait()
                cursor = rows[-1][0]
            while not sub.overflowed:
                while sub.buf:
                    text = sub.pop()
                    await send(text)
                    if actions := sent(len(text)):
                        await self._do(actions)
                        await flowing.wait()
                sub.wake.clear()
                await sub.wake.wait()
        except (ConnectionError, RuntimeError) as e:
            self.kill(CLOSE_GOING_AWAY, f"send failed: {e}")

    # ---- timer ---------------------------------------------------------------------------

    async def _timer(self) -> None:
        cfg = self.cfg
        tick = min(cfg.ping_interval_s, cfg.idle_timeout_s, cfg.auth_timeout_s) / 4
        while not self.killed.is_set():
            await asyncio.sleep(tick)
            await self._do(self.proto.timer())


async def stream_handler(request: web.Request) -> web.WebSocketResponse:
    service: EngineService = request.app[SERVICE_KEY]
    cfg = service.config.stream
    ws = StreamSocket(autoping=True, max_msg_size=cfg.max_message_bytes,
                      timeout=cfg.close_timeout_s)  # fmt: skip
    await ws.prepare(request)
    if cfg.so_sndbuf is not None and request.transport is not None:
        sock = request.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, cfg.so_sndbuf)
    conn = StreamConnection(service, ws, request.remote or "?")
    await conn.run()
    return ws


SERVICE_KEY: web.AppKey[EngineService] = web.AppKey("blp_service", EngineService)
