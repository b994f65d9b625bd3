"""The resumable event stream behind `BLPClient.events()` / `.assignments()`.

One async generator per subscription: connect and authenticate, subscribe from the last
delivered seq, hand each event to a `SeqTracker`, fill gaps from the REST history, answer and
send heartbeats, and on any transport failure reconnect with backoff and resume. Only
`AuthError` (the key was refused) and `StreamError` (the server broke the protocol) escape.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import aiohttp
import pydantic

from ._log import get_logger
from .auth import STREAM_PATH, sign_stream
from .errors import (
    CLOSE_AUTH_FAILED,
    CLOSE_BAD_REQUEST,
    AuthError,
    BLPError,
    StreamError,
)
from .models import (
    EVENT_CLASSES,
    SERVER_MESSAGE,
    Assignment,
    AssignmentEvent,
    AuthRequest,
    AuthResult,
    Event,
    Ping,
    Pong,
    Subscribe,
    Subscribed,
)
from .models import StreamError as StreamErrorMessage
from .sequencing import Backoff, SeqTracker

if TYPE_CHECKING:
    from .client import BLPClient

_log = get_logger("blp_client.stream")

_EVENT_CLASSES: frozenset[type] = frozenset(EVENT_CLASSES)
_EVENT_TYPES = frozenset(cls.model_fields["type"].default for cls in EVENT_CLASSES)


class _ConnState:
    """Per-connection flags shared by the receive loop and its heartbeat task."""

    __slots__ = ("silent", "waiting_since")

    def __init__(self) -> None:
        self.waiting_since: float | None = None  # loop time a pending receive() started
        self.silent = False


class _Reconnect(Exception):
    """Internal: drop this connection and resubscribe from the last delivered seq."""

    def __init__(self, reason: str, **info: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.info = info


class EventStream:
    """The stream side of one `BLPClient` (its session, credentials, history and stats)."""

    def __init__(self, client: BLPClient, log_id: str | None = None) -> None:
        self.client = client
        self.log_id = log_id  # the log the caller's seqs belong to (None: take the first seen)

    async def run(
        self, from_seq: int, *, assignments_only: bool
    ) -> AsyncGenerator[Event | Assignment, None]:
        """The resumable stream: one async generator (no nested layers: this is the hot path),
        yielding `Event`s, or only the assignments' data when `assignments_only`."""
        tracker: SeqTracker[Event | None] = SeqTracker(from_seq)
        backoff = Backoff(self.client._reconnect_base, self.client._reconnect_max, self.client._rng)
        log = _log.bind(key=self.client._key)
        validate = SERVER_MESSAGE.validate_json
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        loop = asyncio.get_running_loop()
        first = True
        while True:
            if not first:
                delay = backoff.next_delay()
                self.client.stats["reconnects"] += 1
                log.info("stream.reconnect_wait", delay_s=round(delay, 3), attempt=backoff.attempt)
                await asyncio.sleep(delay)
            first = False
            ws: aiohttp.ClientWebSocketResponse | None = None
            watchdog: asyncio.Task[None] | None = None
            state = _ConnState()
            try:
                ws, sub = await self._open(tracker.last)
                if sub.log_id is not None:
                    if self.log_id is not None and sub.log_id != self.log_id:
                        # another log (a wiped data dir, an engine restarted without one):
                        # its seqs are not ours, resuming would skip or repeat events
                        raise StreamError(
                            f"the server's event log is {sub.log_id}, not {self.log_id} where "
                            f"seq {tracker.last} came from: refusing to resume",
                            "log_changed",
                        )
                    self.log_id = self.client.log_id = sub.log_id
                if sub.last_seq < tracker.last:
                    # the server's log ends before what we have (a wiped data directory, or a
                    # from_seq from another engine): its new seqs would be dropped as duplicates
                    raise StreamError(
                        f"the server's last seq is {sub.last_seq} but the stream is at "
                        f"{tracker.last}: refusing to skip or repeat events",
                        "server_behind",
                    )
                self.client.stats["connects"] += 1
                log.info(
                    "stream.connected" if tracker.last == from_seq else "stream.resumed",
                    from_seq=tracker.last,
                    server_last_seq=sub.last_seq,
                )
                watchdog = asyncio.create_task(self._heartbeat(ws, state))
                while True:
                    state.waiting_since = loop.time()
                    msg = await ws.receive()
                    state.waiting_since = None
                    if msg.type is not text and msg.type is not binary:
                        if state.silent:
                            self.client.stats["silent"] += 1
                            raise _Reconnect(
                                "heartbeat_timeout", silent_s=self.client.heartbeat_timeout
                            )
                        _check_close(ws, msg)
                        continue
                    try:
                        parsed: Any = validate(msg.data)
                    except pydantic.ValidationError:
                        seq = _opaque_event_seq(msg.data)
                        if seq is None:
                            raise _Reconnect(
                                "malformed_message", data=str(msg.data)[:200]
                            ) from None
                        parsed = (seq, None)  # an event type this SDK does not know: skip its seq
                    kind = type(parsed)
                    if kind in _EVENT_CLASSES:
                        seq = parsed.seq
                        if tracker.is_next(seq):  # the hot path
                            tracker.last = seq
                            if backoff.attempt:
                                backoff.reset()
                            if not assignments_only:
                                yield parsed
                            elif kind is AssignmentEvent:
                                yield parsed.data
                            continue
                        ready = tracker.push(seq, parsed)
                    elif kind is tuple:
                        ready = tracker.push(parsed[0], None)
                    elif kind is Ping:
                        await ws.send_str(_pong(parsed.ts))
                        continue
                    elif kind is StreamErrorMessage:
                        log.warning("stream.server_error", code=parsed.code, detail=parsed.message)
                        continue
                    else:
                        continue  # pong, late control messages
                    if tracker.pending:
                        ready += await self._fill_gap(tracker, log)
                    for event in ready:
                        if event is None:
                            continue
                        backoff.reset()
                        if not assignments_only:
                            yield event
                        elif type(event) is AssignmentEvent:
                            yield event.data
            except _Reconnect as why:
                log.info(
                    "stream.disconnected", reason=why.reason, last_seq=tracker.last, **why.info
                )
            except aiohttp.WSServerHandshakeError as exc:
                if 400 <= exc.status < 500 and exc.status not in (408, 429):
                    raise StreamError(
                        f"the server refused the WebSocket upgrade: HTTP {exc.status}",
                        "handshake_refused",
                    ) from exc
                log.info("stream.disconnected", reason="handshake", status=exc.status)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.info(
                    "stream.disconnected",
                    reason=type(exc).__name__,
                    detail=str(exc)[:200],
                    last_seq=tracker.last,
                )
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                if ws is not None and not ws.closed:
                    await _quiet_close(ws)
                self.client.stats["duplicates"] += tracker.duplicates
                tracker.duplicates = 0
                tracker.clear_pending()

    async def _open(self, from_seq: int) -> tuple[aiohttp.ClientWebSocketResponse, Subscribed]:
        url = self.client._base.with_scheme("wss" if self.client._base.scheme == "https" else "ws")
        url = url.with_path(self.client._prefix + STREAM_PATH)
        ws = await self.client.session.ws_connect(
            url,
            timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
            autoping=True,
            max_msg_size=16 * 1024 * 1024,
        )
        try:
            async with asyncio.timeout(self.client._timeout):
                ts = self.client._ts.next()  # strictly increasing: no replay across streams
                auth = AuthRequest(
                    key=self.client._key,
                    timestamp=ts,
                    signature=sign_stream(self.client._secret, ts),
                )
                await ws.send_str(auth.model_dump_json())
                msg = await self._control(ws)
                if isinstance(msg, AuthResult) and msg.ok:
                    pass
                elif isinstance(msg, (AuthResult, StreamErrorMessage)):
                    detail = getattr(msg, "message", "auth refused")
                    raise AuthError(detail, getattr(msg, "code", None))
                else:
                    raise _Reconnect("unexpected_message", op=msg.op)
                await ws.send_str(Subscribe(from_seq=from_seq).model_dump_json())
                msg = await self._control(ws)
                if isinstance(msg, StreamErrorMessage):
                    raise StreamError(msg.message, msg.code)
                if not isinstance(msg, Subscribed):
                    raise _Reconnect("unexpected_message", op=msg.op)
                return ws, msg
        except BaseException:
            await _quiet_close(ws)
            raise

    async def _control(self, ws: aiohttp.ClientWebSocketResponse) -> Any:
        """The next non-heartbeat message during the handshake."""
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                try:
                    parsed = SERVER_MESSAGE.validate_json(msg.data)
                except pydantic.ValidationError:
                    raise _Reconnect("malformed_message", data=str(msg.data)[:200]) from None
                if isinstance(parsed, Ping):
                    await ws.send_str(_pong(parsed.ts))
                    continue
                if isinstance(parsed, Pong):
                    continue
                return parsed
            _check_close(ws, msg)

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse, state: _ConnState) -> None:
        """Send a `ping` every `heartbeat_interval`; when a `receive()` has waited longer than
        `heartbeat_timeout` (the server answers pings, so a live link is never that quiet),
        mark the connection silent and close it, which ends the pending `receive()`.
        Time the consumer spends outside `receive()` never counts as silence."""
        loop = asyncio.get_running_loop()
        tick = min(self.client.heartbeat_interval, self.client.heartbeat_timeout) / 4
        next_ping = loop.time() + self.client.heartbeat_interval
        try:
            while not ws.closed:
                await asyncio.sleep(tick)
                now = loop.time()
                since = state.waiting_since
                if since is not None and now - since > self.client.heartbeat_timeout:
                    state.silent = True
                    await ws.close()
                    return
                if now >= next_ping:
                    next_ping = now + self.client.heartbeat_interval
                    ping = f'{{"op":"ping","ts":{int(time.time() * 1000)}}}'
                    await asyncio.wait_for(ws.send_str(ping), self.client.heartbeat_timeout)
        except TimeoutError:  # a ping that could not be sent in time: the link is stuck
            state.silent = True
            with contextlib.suppress(Exception):
                await ws.close()
        except Exception:  # the connection is closing: the receive side reports why
            return

    async def _fill_gap(self, tracker: SeqTracker[Event | None], log: Any) -> list[Event | None]:
        """Fetch the first hole from `GET /api/v1/events` (protocol v1's way to fill a gap);
        what cannot be fetched ends this connection and resubscribes from the last seq."""
        gap = tracker.gap()
        assert gap is not None
        first, last = gap
        self.client.stats["gaps"] += 1
        log.warning("stream.gap", first_missing=first, last_missing=last)
        try:
            out = await self._fill_from_events(tracker, first, last)
        except (BLPError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _Reconnect("gap_fill_failed", error=str(exc)[:200]) from None
        if tracker.last < last:  # the history ended short of the hole: resubscribe
            raise _Reconnect("gap_unfilled", first_missing=tracker.last + 1)
        self.client.stats["gap_events_filled"] += last - first + 1
        log.info("stream.gap_filled", first=first, last=last)
        return out

    async def _fill_from_events(
        self, tracker: SeqTracker[Event | None], first: int, last: int
    ) -> list[Event | None]:
        out: list[Event | None] = []
        cursor = first - 1
        while cursor < last:
            page = await self.client.event_history(
                cursor, min(self.client._history_page, last - cursor)
            )
            for ev in page.events:
                if ev.seq <= last:
                    out += tracker.push(ev.seq, ev)
            if page.next_from_seq is None or not page.events:
                break
            cursor = page.next_from_seq
        return out


def _opaque_event_seq(raw: str | bytes) -> int | None:
    """The seq of an `event` whose type this SDK version does not know (forward compatible)."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if (
        isinstance(obj, dict)
        and obj.get("op") == "event"
        and obj.get("type") not in _EVENT_TYPES
        and isinstance(obj.get("seq"), int)
    ):
        return int(obj["seq"])
    return None


def _check_close(ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage) -> None:
    """Raise for a close/error frame: `AuthError` for 4001, `StreamError` for 4002, else
    `_Reconnect` (going away, slow consumer, idle, transport error)."""
    kind = msg.type
    if kind is aiohttp.WSMsgType.CLOSE:
        code = msg.data if isinstance(msg.data, int) else ws.close_code
    elif kind in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
        code = ws.close_code
    elif kind is aiohttp.WSMsgType.ERROR:
        raise _Reconnect("transport_error", error=str(msg.data)[:200])
    else:
        return  # ping/pong frames are answered by aiohttp
    reason = msg.extra if isinstance(msg.extra, str) else ""
    if code == CLOSE_AUTH_FAILED:
        raise AuthError(reason or "the stream refused the credentials", "stream_auth_failed")
    if code == CLOSE_BAD_REQUEST:
        raise StreamError(reason or "the server refused a stream message", "bad_stream_request")
    raise _Reconnect("closed", code=code, detail=reason)


def _pong(ts: int) -> str:
    """The pong answering a server ping (written by hand: it is sent on the hot path)."""
    return f'{{"op":"pong","ts":{ts}}}'


async def _quiet_close(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):  # best effort on a dead socket
        await asyncio.wait_for(ws.close(), 1.0)
