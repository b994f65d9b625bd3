"""The WebSocket stream `/api/v1/stream`: auth, subscribe from a seq, backlog then live events,
heartbeats both ways, and a bounded per-connection buffer.

One connection = three tasks: the reader (client messages), the pump (backlog from the SQLite
log, then the live buffer) and the heartbeat (server pings, idle check). Whatever ends the
connection goes through `kill(code, reason)`; the handler then closes the socket with that code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from typing import Any

import structlog
from aiohttp import WSMsgType, web
from pydantic import ValidationError as PydanticValidationError

from .. import models as m
from ..auth import STREAM_PATH
from ..errors import (
    CLOSE_AUTH_FAILED,
    CLOSE_BAD_REQUEST,
    CLOSE_GOING_AWAY,
    CLOSE_IDLE,
    CLOSE_SLOW_CONSUMER,
    AuthError,
)
from .service import EngineService, Subscriber, wall_ms

log = structlog.get_logger("blp.stream")

CLOSE_REASONS = {
    CLOSE_GOING_AWAY: "engine shutting down",
    CLOSE_AUTH_FAILED: "authentication failed",
    CLOSE_BAD_REQUEST: "bad message",
    CLOSE_SLOW_CONSUMER: "slow consumer, resume from your last seq",
    CLOSE_IDLE: "idle: nothing heard from the client",
}


def _error(code: str, message: str) -> str:
    return m.StreamError(code=code, message=message).model_dump_json()


class StreamConnection:
    def __init__(self, service: EngineService, ws: web.WebSocketResponse, peer: str) -> None:
        self.service = service
        self.ws = ws
        self.peer = peer
        self.cfg = service.config.stream
        self.key: str | None = None
        self.sub: Subscriber | None = None
        self.pump: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.killed = asyncio.Event()
        self.done = asyncio.Event()  # set once the connection is fully closed
        self.last_heard = time.monotonic()
        self.sent = 0

    def kill(self, code: int, reason: str | None = None) -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason or CLOSE_REASONS.get(code, "")
        self.killed.set()

    async def run(self) -> None:
        svc = self.service
        svc.counters["connections"] += 1
        svc.connections.add(self)
        reader = asyncio.create_task(self._read_loop())
        heart = asyncio.create_task(self._heartbeat())
        killed = asyncio.create_task(self.killed.wait())
        try:
            await asyncio.wait({reader, killed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if self.sub is not None:
                svc.unsubscribe(self.sub)
            for t in (self.pump, heart):
                if t is not None:
                    t.cancel()
            if self.close_code is not None and not self.ws.closed:
                reason = self.close_reason.encode()[:120]
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self.ws.close(code=self.close_code, message=reason, drain=False),
                        self.cfg.close_timeout_s,
                    )
            reader.cancel()
            killed.cancel()
            await asyncio.gather(reader, killed, heart, *([self.pump] if self.pump else []),
                                 return_exceptions=True)  # fmt: skip
            svc.connections.discard(self)
            self.done.set()
            log.info(
                "stream_closed", peer=self.peer, api_key=self.key, code=self.close_code,
                reason=self.close_reason or None, sent=self.sent,
            )  # fmt: skip

    async def _send(self, text: str) -> None:
        await self.ws.send_str(text)

    # ---- reader --------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            msg = await self.ws.receive(timeout=self.cfg.auth_timeout_s)
        except TimeoutError:
            await self._send(_error("auth_timeout", "send the auth op first"))
            self.kill(CLOSE_AUTH_FAILED, "auth not sent in time")
            return
        if msg.type is not WSMsgType.TEXT:
            return
        self.last_heard = time.monotonic()
        if not await self._auth(msg.data):
            return
        async for msg in self.ws:
            if msg.type is not WSMsgType.TEXT:
                if msg.type is WSMsgType.BINARY:
                    await self._bad("binary frames are not part of the protocol")
                    return
                continue
            self.last_heard = time.monotonic()
            if not await self._handle(msg.data):
                return

    async def _auth(self, text: str) -> bool:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("op") != "auth":
                raise AuthError("the first message must be the auth op", "auth_required")
            req = m.AuthRequest.model_validate(data)
            self.key = self.service.verifier.verify(
                req.key, req.timestamp, req.signature, "GET", STREAM_PATH, ""
            )
        except (ValueError, PydanticValidationError) as e:
            code, message = "invalid_auth", f"malformed auth message: {_why(e)}"
        except AuthError as e:
            code, message = e.code, e.message
        else:
            await self._send(m.AuthResult(ok=True).model_dump_json())
            log.info("stream_auth", peer=self.peer, api_key=self.key)
            return True
        await self._send(_error(code, message))
        self.kill(CLOSE_AUTH_FAILED, message[:120])
        return False

    async def _handle(self, text: str) -> bool:
        try:
            data: Any = json.loads(text)
        except ValueError:
            return await self._bad("message is not JSON")
        op = data.get("op") if isinstance(data, dict) else None
        if op == "ping":
            ts = data.get("ts")
            await self._send(m.Pong(ts=ts if isinstance(ts, int) else wall_ms()).model_dump_json())
            return True
        if op == "pong":
            return True
        if op == "subscribe":
            try:
                req = m.Subscribe.model_validate(data)
            except PydanticValidationError as e:
                return await self._bad(f"invalid subscribe: {_why(e)}")
            if self.sub is not None:
                await self._send(_error("already_subscribed", "one subscription per connection"))
                return True
            self._subscribe(req.from_seq)
            return True
        return await self._bad(f"unknown op {op!r}")

    async def _bad(self, message: str) -> bool:
        with contextlib.suppress(Exception):
            await self._send(_error("bad_request", message))
        self.kill(CLOSE_BAD_REQUEST, message[:120])
        return False

    # ---- subscription --------------------------------------------------------------------

    def _subscribe(self, from_seq: int) -> None:
        assert self.key is not None
        sub, last = self.service.subscribe(self.key, from_seq, self._overflow)
        self.sub = sub
        self.pump = asyncio.create_task(self._pump(sub, from_seq, last))
        log.info("stream_subscribe", peer=self.peer, api_key=self.key, from_seq=from_seq,
                 last_seq=last)  # fmt: skip

    def _overflow(self) -> None:
        self.service.counters["slow_consumer_closes"] += 1
        log.warning("stream_slow_consumer", peer=self.peer, api_key=self.key,
                    buffer=self.cfg.send_buffer)  # fmt: skip
        self.kill(CLOSE_SLOW_CONSUMER)

    async def _pump(self, sub: Subscriber, from_seq: int, upto: int) -> None:
        try:
            await self._send(
                m.Subscribed(
                    from_seq=from_seq, last_seq=upto, log_id=self.service.log.log_id
                ).model_dump_json()
            )
            cursor = from_seq
            while cursor < upto:
                rows = self.service.log.read(sub.blp, cursor, upto, self.cfg.backlog_page)
                if not rows:
                    break
                for _, text in rows:
                    await self._send(text)
                self.sent += len(rows)
                cursor = rows[-1][0]
            while not sub.overflowed:
                while sub.buf:
                    await self._send(sub.buf.popleft())
                    self.sent += 1
                sub.wake.clear()
                await sub.wake.wait()
        except (ConnectionError, RuntimeError) as e:
            self.kill(CLOSE_GOING_AWAY, f"send failed: {e}"[:120])

    # ---- heartbeat -----------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        interval = self.cfg.ping_interval_s
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                await asyncio.sleep(interval)
                if time.monotonic() - self.last_heard > self.cfg.idle_timeout_s:
                    self.kill(CLOSE_IDLE)
                    return
                await self._send(m.Ping(ts=wall_ms()).model_dump_json())


def _why(e: Exception) -> str:
    if isinstance(e, PydanticValidationError):
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        return f"{loc}: {err['msg']}" if loc else str(err["msg"])
    return str(e)


async def stream_handler(request: web.Request) -> web.WebSocketResponse:
    service: EngineService = request.app[SERVICE_KEY]
    ws = web.WebSocketResponse(
        autoping=True, max_msg_size=1 << 16, timeout=service.config.stream.close_timeout_s
    )
    await ws.prepare(request)
    sndbuf = service.config.stream.so_sndbuf
    if sndbuf is not None and request.transport is not None:
        sock = request.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    conn = StreamConnection(service, ws, request.remote or "?")
    await conn.run()
    return ws


SERVICE_KEY: web.AppKey[EngineService] = web.AppKey("blp_service", EngineService)
