"""The client end of the event stream (protocol v1), sans I/O, in the style of h11 and
websockets' protocol objects.

`ClientStreamProtocol` is a small synchronous state machine. It is told what happened — a
connection was made, a message arrived, the connection was lost, a timer ticked, a page of
the REST history came back — and answers with what to do next, as a list of actions:

- `Send(text)`: write this frame;
- `Deliver(event)`: hand this event to the consumer (exactly once, in seq order);
- `Connected(...)`: the subscription is live (for the caller's bookkeeping, e.g. the log id);
- `FetchPage(from_seq, limit)`: get `GET /api/v1/events?from_seq=&limit=` to fill a gap, then
  report it with `page_received` (or `page_failed`);
- `Close(reason)`: close this connection now; report the end with `connection_lost`;
- `Reconnect(reason, delay)`: this connection is over (close it if still open): wait `delay`
  seconds, connect again and call `connection_made`;
- `Fail(error)`: stop and raise `error` (`AuthError`: the key or signature was refused;
  `StreamError`: the server broke the protocol or its log is not ours).

Inside are the seq rules (`SeqTracker`: duplicates dropped, holes held and filled) and the
reconnect backoff (`Backoff`: exponential, full jitter, reset once an event is delivered).
There are no sockets, tasks or clocks here: time comes in as arguments. `stream.py` is the
asyncio glue that feeds it; the unit tests drive it with hand-made message sequences.

Reconnect rules: every transport failure, close code other than 4001/4002/1009, heartbeat
silence, handshake timeout, malformed message, unfillable gap — and every auth refusal other
than a refused key or signature (`auth_timeout`, `stale_timestamp`, `replayed_request`, …:
they pass with a fresh timestamp) — reconnects with backoff and resubscribes from the last
delivered seq. A refused key or signature is `AuthError`; an `error` in answer to the
subscribe, a `bad_request` error, a 4002 or 1009 close, a refused WebSocket upgrade (HTTP 4xx
other than 408/429), a server log other than the caller's (`log_changed`) or one that ends
before our seq (`server_behind`) is `StreamError`.
"""

from __future__ import annotations

import enum
import json
import random
from dataclasses import dataclass, field
from typing import Any

import pydantic

from ._log import SDKLogger, get_logger
from .auth import sign_stream
from .errors import (
    CLOSE_AUTH_FAILED,
    CLOSE_BAD_REQUEST,
    CLOSE_TOO_BIG,
    AuthError,
    BLPError,
    StreamError,
)
from .models import (
    EVENT_CLASSES,
    SERVER_MESSAGE,
    AuthRequest,
    AuthResult,
    Event,
    EventPage,
    Ping,
    Subscribe,
    Subscribed,
)
from .models import StreamError as ErrorMessage
from .sequencing import Backoff, SeqTracker

__all__ = [
    "AUTH_REFUSED_CODES",
    "ClientAction",
    "ClientStreamProtocol",
    "Close",
    "Connected",
    "Deliver",
    "Fail",
    "FetchPage",
    "Reconnect",
    "Send",
    "StreamSettings",
]

# the auth errors that mean "these credentials are refused": fatal. Every other auth error
# (auth_timeout, stale_timestamp, replayed_request, ...) is transient and reconnects.
AUTH_REFUSED_CODES = frozenset(
    {"invalid_api_key", "invalid_signature", "missing_api_key", "missing_signature"}
)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What one stream needs to know: where, who, and its timing (from `BLPClient`)."""

    url: str  # ws(s)://host:port[/prefix]/api/v1/stream
    key: str
    secret: str = field(repr=False)
    heartbeat_interval: float = 5.0  # send a ping this often
    heartbeat_timeout: float = 15.0  # nothing heard while listening this long: reconnect
    handshake_timeout: float = 10.0  # connect + auth + subscribe, at most
    reconnect_base: float = 0.25  # backoff: attempt n waits uniform(0, min(max, base·2ⁿ))
    reconnect_max: float = 10.0
    history_page: int = 1000  # events per REST page when filling a gap
    max_message_size: int = 16 * 1024 * 1024


# ---- actions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    text: str


@dataclass(slots=True)  # not frozen: one per event, and a frozen __init__ costs twice as much
class Deliver:
    event: Event


@dataclass(frozen=True, slots=True)
class Connected:
    log_id: str | None
    from_seq: int
    server_last_seq: int


@dataclass(frozen=True, slots=True)
class FetchPage:
    from_seq: int
    limit: int


@dataclass(frozen=True, slots=True)
class Close:
    reason: str


@dataclass(frozen=True, slots=True)
class Reconnect:
    reason: str
    delay: float


@dataclass(frozen=True, slots=True)
class Fail:
    error: BLPError


ClientAction = Send | Deliver | Connected | FetchPage | Close | Reconnect | Fail


class State(enum.Enum):
    IDLE = "idle"  # no connection (before the first, between two)
    AUTHENTICATING = "authenticating"  # auth sent
    SUBSCRIBING = "subscribing"  # subscribe sent
    STREAMING = "streaming"  # subscribed: events flow
    CLOSING = "closing"  # we asked the glue to close; waiting for connection_lost
    FAILED = "failed"


_STREAMING = State.STREAMING
_EVENT_CLASSES: frozenset[type] = frozenset(EVENT_CLASSES)
_EVENT_TYPES = frozenset(cls.model_fields["type"].default for cls in EVENT_CLASSES)
_validate = SERVER_MESSAGE.validate_json


class ClientStreamProtocol:
    """One subscription's state, from `from_seq` on, across every connection it takes."""

    def __init__(
        self,
        settings: StreamSettings,
        from_seq: int = 0,
        *,
        log_id: str | None = None,
        rng: random.Random | None = None,
        stats: dict[str, int] | None = None,
        logger: SDKLogger | None = None,
    ) -> None:
        self.settings = settings
        self.log_id = log_id  # the log our seqs belong to (None: take the first one seen)
        self.state = State.IDLE
        self.stats = stats if stats is not None else {}
        for k in ("connects", "reconnects", "gaps", "gap_events_filled", "duplicates", "silent"):
            self.stats.setdefault(k, 0)
        self._tracker: SeqTracker[Event | None] = SeqTracker(from_seq)
        self._backoff = Backoff(settings.reconnect_base, settings.reconnect_max, rng)
        self._log = (logger or get_logger("blp_client.stream")).bind(key=settings.key)
        self._subscriptions = 0
        self._opened_at = 0.0
        self._next_ping = 0.0
        self._closing: tuple[str, dict[str, Any]] = ("closed", {})
        self._gap: tuple[int, int] | None = None  # the hole being fetched: (first, last)
        self._cursor = 0  # ... fetched up to here

    @property
    def last_seq(self) -> int:
        """The last seq delivered (where a resubscription starts)."""
        return self._tracker.last

    # ---- connection events -------------------------------------------------------------

    def connection_made(self, timestamp: int, now: float) -> list[ClientAction]:
        """A WebSocket is open; `timestamp` is the auth's (ms, strictly increasing across
        every signature of these credentials), `now` the glue's monotonic clock (s)."""
        self.state = State.AUTHENTICATING
        self._opened_at = now
        self._next_ping = now + self.settings.heartbeat_interval
        auth = AuthRequest(
            key=self.settings.key,
            timestamp=timestamp,
            signature=sign_stream(self.settings.secret, timestamp),
        )
        return [Send(auth.model_dump_json())]

    def connect_failed(self, error: str, status: int | None = None) -> list[ClientAction]:
        """No WebSocket: a transport failure, or the upgrade answered with HTTP `status`."""
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            return self._fail(
                StreamError(
                    f"the server refused the WebSocket upgrade: HTTP {status}", "handshake_refused"
                )
            )
        if status is not None:
            return self._reconnect("handshake", status=status)
        return self._reconnect("connect_failed", error=error[:200])

    def connection_lost(self, code: int | None = None, reason: str = "") -> list[ClientAction]:
        """The connection ended: a close frame with `code`, or a transport error (`code`
        None, `reason` says what)."""
        if self.state is State.CLOSING:
            why, info = self._closing
            return self._reconnect(why, **info)
        if self.state in (State.IDLE, State.FAILED):
            return []
        if code == CLOSE_AUTH_FAILED:  # without an `error` before it (ours always sends one)
            return self._fail(
                AuthError(reason or "the stream refused the credentials", "stream_auth_failed")
            )
        if code == CLOSE_BAD_REQUEST:
            return self._fail(
                StreamError(reason or "the server refused a stream message", "bad_stream_request")
            )
        if code == CLOSE_TOO_BIG:
            return self._fail(
                StreamError(reason or "a message was larger than the server's limit", "too_big")
            )
        if code is None:
            return self._reconnect("transport_error", error=reason[:200])
        return self._reconnect("closed", code=code, detail=reason[:200])

    def timer(self, now: float, silent_for: float, wall_ms: int) -> list[ClientAction]:
        """A tick of the glue's watchdog. `silent_for`: how long the glue has been waiting
        for a message without one arriving (0 while it is not waiting: time the consumer
        spends on an event never counts as silence); `wall_ms` stamps a ping."""
        s = self.settings
        if self.state in (State.AUTHENTICATING, State.SUBSCRIBING):
            if now - self._opened_at > s.handshake_timeout:
                return self._close("handshake_timeout", timeout_s=s.handshake_timeout)
            return []
        if self.state is not _STREAMING:
            return []
        if silent_for > s.heartbeat_timeout:
            self.stats["silent"] += 1
            return self._close("heartbeat_timeout", silent_s=round(silent_for, 3))
        if now >= self._next_ping:
            self._next_ping = now + s.heartbeat_interval
            return [Send(f'{{"op":"ping","ts":{wall_ms}}}')]
        return []

    # ---- messages ----------------------------------------------------------------------

    def receive(self, data: str | bytes) -> list[ClientAction]:
        """One text frame from the server."""
        try:
            msg: Any = _validate(data)
        except pydantic.ValidationError:
            return self._unparsed(data)
        kind = type(msg)
        if kind in _EVENT_CLASSES and self.state is _STREAMING:
            if self._tracker.advance(msg.seq):  # the hot path: the next seq, nothing held
                if self._backoff.attempt:
                    self._backoff.reset()
                return [Deliver(msg)]
            return self._push(msg.seq, msg)
        if self.state in (State.CLOSING, State.IDLE, State.FAILED):
            return []  # what was in flight when we gave up on this connection
        if kind is Ping:
            return [Send(f'{{"op":"pong","ts":{msg.ts}}}')]
        if kind is ErrorMessage:
            return self._error(msg)
        if self.state is State.AUTHENTICATING:
            if kind is AuthResult:
                if not msg.ok:
                    return self._fail(AuthError("the server refused the stream's auth"))
                self.state = State.SUBSCRIBING
                return [Send(Subscribe(from_seq=self._tracker.last).model_dump_json())]
            return self._reconnect("unexpected_message", op=getattr(msg, "op", None))
        if self.state is State.SUBSCRIBING:
            if kind is Subscribed:
                return self._subscribed(msg)
            return self._reconnect("unexpected_message", op=getattr(msg, "op", None))
        return []  # streaming: pongs, late control messages

    def _unparsed(self, data: str | bytes) -> list[ClientAction]:
        seq = _opaque_event_seq(data)
        if seq is not None and self.state is _STREAMING:
            return self._push(seq, None)  # an event type this SDK does not know: skip its seq
        if self.state in (State.CLOSING, State.IDLE, State.FAILED):
            return []
        return self._reconnect("malformed_message", data=str(data)[:200])

    def _error(self, msg: ErrorMessage) -> list[ClientAction]:
        if self.state is State.AUTHENTICATING:
            if msg.code in AUTH_REFUSED_CODES:
                return self._fail(AuthError(msg.message, msg.code))
            if msg.code == "bad_request":  # our message was malformed: retrying cannot help
                return self._fail(StreamError(msg.message, "bad_stream_request"))
            # not a verdict on the credentials (too slow, clock, replay): try again
            return self._reconnect("auth_" + msg.code, detail=msg.message[:200])
        if self.state is State.SUBSCRIBING:
            return self._fail(StreamError(msg.message, msg.code))
        self._log.warning("stream.server_error", code=msg.code, detail=msg.message)
        return []

    def _subscribed(self, sub: Subscribed) -> list[ClientAction]:
        last = self._tracker.last
        if sub.log_id is not None:
            if self.log_id is not None and sub.log_id != self.log_id:
                # another log (a wiped data dir, an engine restarted without one): its seqs
                # are not ours, resuming would skip or repeat events
                return self._fail(
                    StreamError(
                        f"the server's event log is {sub.log_id}, not {self.log_id} where "
                        f"seq {last} came from: refusing to resume",
                        "log_changed",
                    )
                )
            self.log_id = sub.log_id
        if sub.last_seq < last:
            # the server's log ends before what we have (a wiped data directory, or a
            # from_seq from another engine): its new seqs would be dropped as duplicates
            return self._fail(
                StreamError(
                    f"the server's last seq is {sub.last_seq} but the stream is at {last}: "
                    "refusing to skip or repeat events",
                    "server_behind",
                )
            )
        self.state = _STREAMING
        self.stats["connects"] += 1
        self._subscriptions += 1
        self._log.info(
            "stream.connected" if self._subscriptions == 1 else "stream.resumed",
            from_seq=last,
            server_last_seq=sub.last_seq,
        )
        return [Connected(self.log_id, last, sub.last_seq)]

    # ---- seqs and gaps -----------------------------------------------------------------

    def _push(self, seq: int, event: Event | None) -> list[ClientAction]:
        tracker = self._tracker
        dups = tracker.duplicates
        try:
            ready = tracker.push(seq, event)
        except StreamError as e:  # too much held behind a hole
            return self._fail(e)
        if tracker.duplicates != dups:
            self.stats["duplicates"] += 1
        out = self._deliver(ready)
        if tracker.pending and self._gap is None:
            out += self._start_gap()
        return out

    def _deliver(self, ready: list[Event | None]) -> list[ClientAction]:
        out: list[ClientAction] = [Deliver(e) for e in ready if e is not None]
        if out:
            self._backoff.reset()
        return out

    def _start_gap(self) -> list[ClientAction]:
        gap = self._tracker.gap()
        assert gap is not None
        first, last = gap
        self.stats["gaps"] += 1
        self._log.warning("stream.gap", first_missing=first, last_missing=last)
        self._gap = gap
        self._cursor = first - 1
        return [self._next_page()]

    def _next_page(self) -> FetchPage:
        assert self._gap is not None
        return FetchPage(self._cursor, min(self.settings.history_page, self._gap[1] - self._cursor))

    def page_received(self, page: EventPage) -> list[ClientAction]:
        """A page asked for by `FetchPage`."""
        if self._gap is None or self.state is not _STREAMING:
            return []
        first, last = self._gap
        tracker = self._tracker
        ready: list[Event | None] = []
        for ev in page.events:
            if ev.seq <= last:
                ready += tracker.push(ev.seq, ev)
        out = self._deliver(ready)
        if tracker.last < last and page.next_from_seq is not None and page.events:
            self._cursor = page.next_from_seq
            return [*out, self._next_page()]
        self._gap = None
        if tracker.last < last:  # the history ended short of the hole: resubscribe
            return out + self._reconnect("gap_unfilled", first_missing=tracker.last + 1)
        self.stats["gap_events_filled"] += last - first + 1
        self._log.info("stream.gap_filled", first=first, last=last)
        if tracker.pending:  # another hole further on
            out += self._start_gap()
        return out

    def page_failed(self, error: str) -> list[ClientAction]:
        """The page could not be fetched: resubscribe from the last seq instead."""
        self._gap = None
        if self.state is not _STREAMING:
            return []
        return self._reconnect("gap_fill_failed", error=error[:200])

    # ---- endings -----------------------------------------------------------------------

    def _close(self, reason: str, **info: Any) -> list[ClientAction]:
        self.state = State.CLOSING
        self._closing = (reason, info)
        return [Close(reason)]

    def _reconnect(self, reason: str, **info: Any) -> list[ClientAction]:
        if self.state is State.FAILED:
            return []
        self._log.info("stream.disconnected", reason=reason, last_seq=self._tracker.last, **info)
        self.state = State.IDLE
        self._gap = None
        self._tracker.clear_pending()  # the resubscription replays them
        delay = self._backoff.next_delay()
        self.stats["reconnects"] += 1
        self._log.info(
            "stream.reconnect_wait", delay_s=round(delay, 3), attempt=self._backoff.attempt
        )
        return [Reconnect(reason, delay)]

    def _fail(self, error: BLPError) -> list[ClientAction]:
        self.state = State.FAILED
        self._gap = None
        return [Fail(error)]


def _opaque_event_seq(raw: str | bytes) -> int | None:
    """The seq of an `event` whose type this SDK version does not know (forward compatible)."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if (
        isinstance(obj, dict)
        and obj.get("op") == "event"
        and obj.get("type") not in _EVENT_TYPES
        and isinstance(obj.get("seq"), int)
    ):
        return int(obj["seq"])
    return None
