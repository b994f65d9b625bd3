"""The server end of the event stream (protocol v1), sans I/O, in the style of h11 and
websockets' protocol objects.

`ServerStreamProtocol` is one connection's state machine: auth → subscribe → replay → live,
heartbeats both ways, flow control and errors. It is told what happened — a text or binary
frame arrived, a frame was refused by the WebSocket layer, the auth was verified, the feed
started, an event was written, a timer ticked, the live buffer overflowed — and answers with
actions:

- `Send(text)`: write this frame;
- `Authenticate(key, timestamp, signature)`: verify these credentials, then call
  `auth_accepted(key)` or `auth_refused(code, message)`;
- `StartFeed(from_seq)`: register the live subscriber, then call `feed_started(...)` and send
  the backlog from the log, then live events, calling `event_sent(n)` after each;
- `Pause()` / `Resume()`: stop / resume writing events (the send window, below);
- `Close(code, reason)`: close the connection with this code.

Flow control. What the server has written may sit in kernel buffers (the server's and the
client's: megabytes on a default socket) without the client having read it, so the socket
cannot tell a slow reader from a fast one. The protocol counts instead what the client has
*confirmed*: the server sends a `ping` after every `send_window_bytes / 4` of events (and with
each heartbeat), remembers where in the stream each one went, and a `pong` with the same `ts`
confirms everything before it (a client reads in order). Once `send_window_bytes` are written
but not confirmed the feed pauses; live events wait in the connection's bounded buffer
(`send_buffer` events, `send_buffer_bytes`), and when that overflows the connection is closed
with 4008 — so what a stalled client holds up is bounded, whatever the kernel buffers.

Malformed messages (not JSON, nested deeper than `MAX_JSON_DEPTH` — checked before parsing,
so a 10,000-deep array is refused, not a `RecursionError` — not an object, an unknown op, an
invalid `subscribe` or `auth`, a binary frame) get an `error` and close 4002; a frame larger
than the WebSocket layer's limit closes 1009; both are logged.
"""

from __future__ import annotations

import enum
import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import ValidationError as PydanticValidationError

from .. import models as m
from ..errors import (
    CLOSE_AUTH_FAILED,
    CLOSE_BAD_REQUEST,
    CLOSE_GOING_AWAY,
    CLOSE_IDLE,
    CLOSE_SLOW_CONSUMER,
    CLOSE_TOO_BIG,
)

__all__ = [
    "CLOSE_REASONS",
    "MAX_JSON_DEPTH",
    "Authenticate",
    "Close",
    "Pause",
    "Resume",
    "Send",
    "ServerAction",
    "ServerState",
    "ServerStreamProtocol",
    "StartFeed",
    "json_depth_exceeds",
]

MAX_JSON_DEPTH = 32  # no client message nests at all; this only has to stop abuse early
MAX_UNCONFIRMED_PINGS = 64  # pings remembered while waiting for their pongs

CLOSE_REASONS = {
    CLOSE_GOING_AWAY: "engine shutting down",
    CLOSE_TOO_BIG: "message too big",
    CLOSE_AUTH_FAILED: "authentication failed",
    CLOSE_BAD_REQUEST: "bad message",
    CLOSE_SLOW_CONSUMER: "slow consumer, resume from your last seq",
    CLOSE_IDLE: "idle: nothing heard from the client",
}


# ---- actions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    text: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    key: str
    timestamp: int
    signature: str


@dataclass(frozen=True, slots=True)
class StartFeed:
    from_seq: int


@dataclass(frozen=True, slots=True)
class Pause:
    pass


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


ServerAction = Send | Authenticate | StartFeed | Pause | Resume | Close


class ServerState(enum.Enum):
    AWAITING_AUTH = "awaiting_auth"
    VERIFYING = "verifying"  # Authenticate asked for
    AUTHENTICATED = "authenticated"
    SUBSCRIBED = "subscribed"
    CLOSED = "closed"


_NOTHING: tuple[ServerAction, ...] = ()
_CONTROL_OPS = frozenset({"subscribe", "ping", "pong"})


def _error(code: str, message: str) -> str:
    return m.StreamError(code=code, message=message).model_dump_json()


class ServerStreamProtocol:
    """One stream connection. `clock` is monotonic seconds (timeouts), `wall_ms` the ms
    stamped on pings; both are injected, so tests drive time by hand."""

    def __init__(
        self,
        *,
        ping_interval_s: float = 10.0,
        idle_timeout_s: float = 60.0,
        auth_timeout_s: float = 10.0,
        send_window_bytes: int = 1 << 20,
        clock: Callable[[], float],
        wall_ms: Callable[[], int],
        peer: str = "?",
        logger: Any = None,
    ) -> None:
        self.ping_interval_s = ping_interval_s
        self.idle_timeout_s = idle_timeout_s
        self.auth_timeout_s = auth_timeout_s
        self.window = send_window_bytes
        self._probe_every = max(1, send_window_bytes // 4)
        self._clock = clock
        self._wall_ms = wall_ms
        self._log = (logger or structlog.get_logger("blp.stream")).bind(peer=peer)
        self.state = ServerState.AWAITING_AUTH
        self.key: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        now = clock()
        self._opened = now
        self.last_heard = now
        self._next_ping = now + ping_interval_s
        # flow control: bytes of events written, and confirmed by the client's pongs
        self.sent_events = 0
        self.sent_bytes = 0
        self.confirmed_bytes = 0
        self.paused = False
        self._pings: deque[tuple[int, int]] = deque(maxlen=MAX_UNCONFIRMED_PINGS)  # (ts, pos)
        self._last_ts = 0
        self._next_probe = self._probe_every
        self._next_mark = self._probe_every  # the next sent_bytes at which to look again

    # ---- client messages ---------------------------------------------------------------

    def receive(self, text: str) -> list[ServerAction]:
        """One text frame from the client."""
        if self.state is ServerState.CLOSED:
            return []
        self.last_heard = self._clock()
        if json_depth_exceeds(text, MAX_JSON_DEPTH):
            return self._bad(f"message is nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            data: Any = json.loads(text)
        except ValueError:
            return self._bad("message is not JSON")
        if not isinstance(data, dict):
            return self._bad(f"message is a JSON {type(data).__name__}, not an object")
        op = data.get("op")
        if not isinstance(op, str):  # a list or an object is no op (nor hashable)
            return self._bad(f"unknown op {op!r:.60}")
        if self.state is ServerState.AWAITING_AUTH:
            if op == "auth":
                return self._auth(data)
            if op in _CONTROL_OPS:
                return self._refuse("auth_required", "the first message must be the auth op")
            return self._bad(f"unknown op {op!r}")
        if self.state is ServerState.VERIFYING:
            return self._bad("wait for the auth reply")
        if op == "ping":
            ts = data.get("ts")
            return [
                Send(m.Pong(ts=ts if isinstance(ts, int) else self._wall_ms()).model_dump_json())
            ]
        if op == "pong":
            return self._pong(data.get("ts"))
        if op == "subscribe":
            try:
                req = m.Subscribe.model_validate(data)
            except PydanticValidationError as e:
                return self._bad(f"invalid subscribe: {_why(e)}")
            if self.state is ServerState.SUBSCRIBED:
                return [Send(_error("already_subscribed", "one subscription per connection"))]
            self.state = ServerState.SUBSCRIBED
            return [StartFeed(req.from_seq)]
        return self._bad(f"unknown op {op!r}")

    def receive_binary(self) -> list[ServerAction]:
        if self.state is ServerState.CLOSED:
            return []
        return self._bad("binary frames are not part of the protocol")

    def frame_refused(self, code: int, detail: str) -> list[ServerAction]:
        """The WebSocket layer refused a frame (`code` 1009: larger than its limit; 1002: a
        protocol error) and is closing the connection with that code."""
        if self.state is ServerState.CLOSED:
            return []
        reason = CLOSE_REASONS.get(code, "protocol error")
        self._log.warning("stream_bad_message", api_key=self.key, code=code, reason=detail[:200])
        return self._close(code, reason)

    def _auth(self, data: dict[str, Any]) -> list[ServerAction]:
        try:
            req = m.AuthRequest.model_validate(data)
        except PydanticValidationError as e:
            return self._bad(f"invalid auth: {_why(e)}")
        self.state = ServerState.VERIFYING
        return [Authenticate(req.key, req.timestamp, req.signature)]

    def auth_accepted(self, key: str) -> list[ServerAction]:
        if self.state is not ServerState.VERIFYING:
            return []
        self.state = ServerState.AUTHENTICATED
        self.key = key
        self._log.info("stream_auth", api_key=key)
        return [Send(m.AuthResult(ok=True).model_dump_json())]

    def auth_refused(self, code: str, message: str) -> list[ServerAction]:
        if self.state is not ServerState.VERIFYING:
            return []
        return self._refuse(code, message)

    def _pong(self, ts: Any) -> list[ServerAction]:
        if not isinstance(ts, int):
            return []
        pings = self._pings
        confirmed = -1
        while pings and pings[0][0] <= ts:  # this pong confirms its ping and the older ones
            confirmed = pings.popleft()[1]
        if confirmed > self.confirmed_bytes:
            self.confirmed_bytes = confirmed
            self._next_mark = min(self._next_probe, confirmed + self.window)
            if self.paused and self.sent_bytes - confirmed < self.window:
                self.paused = False
                return [Resume()]
        return []

    # ---- the feed ----------------------------------------------------------------------

    def feed_started(self, from_seq: int, last_seq: int, log_id: str) -> list[ServerAction]:
        """The live subscriber is registered; `last_seq` was the BLP's last seq then."""
        if self.state is not ServerState.SUBSCRIBED:
            return []
        self._log.info("stream_subscribe", api_key=self.key, from_seq=from_seq, last_seq=last_seq)
        sub = m.Subscribed(from_seq=from_seq, last_seq=last_seq, log_id=log_id)
        return [Send(sub.model_dump_json())]

    def event_sent(self, nbytes: int) -> Sequence[ServerAction]:
        """An event of `nbytes` was written (the hot path: nothing to do, mostly)."""
        self.sent_events += 1
        sent = self.sent_bytes = self.sent_bytes + nbytes
        if sent < self._next_mark:
            return _NOTHING
        out: list[ServerAction] = []
        if sent >= self._next_probe or sent - self.confirmed_bytes >= self.window:
            out.append(self._ping())  # a probe: its pong confirms everything up to here
            self._next_probe = sent + self._probe_every
        if sent - self.confirmed_bytes >= self.window and not self.paused:
            self.paused = True
            out.append(Pause())
        self._next_mark = min(self._next_probe, self.confirmed_bytes + self.window)
        return out

    def overflow(self) -> list[ServerAction]:
        """The live buffer overflowed (the feed could not keep up with the client)."""
        if self.state is ServerState.CLOSED:
            return []
        self._log.warning(
            "stream_slow_consumer",
            api_key=self.key,
            sent=self.sent_events,
            unconfirmed_bytes=self.sent_bytes - self.confirmed_bytes,
        )
        return self._close(CLOSE_SLOW_CONSUMER)

    def going_away(self) -> list[ServerAction]:
        return self._close(CLOSE_GOING_AWAY)

    # ---- time --------------------------------------------------------------------------

    def timer(self) -> list[ServerAction]:
        """A tick: the auth deadline, the idle timeout and the heartbeat."""
        if self.state is ServerState.CLOSED:
            return []
        now = self._clock()
        if self.state is ServerState.AWAITING_AUTH and now - self._opened >= self.auth_timeout_s:
            return self._refuse(
                "auth_timeout", "send the auth op first", reason="auth not sent in time"
            )
        if now - self.last_heard > self.idle_timeout_s:
            return self._close(CLOSE_IDLE)
        if now >= self._next_ping:
            self._next_ping = now + self.ping_interval_s
            return [self._ping()]
        return []

    # ---- helpers -----------------------------------------------------------------------

    def _ping(self) -> Send:
        ts = max(self._wall_ms(), self._last_ts + 1)  # strictly increasing: a pong names one
        self._last_ts = ts
        self._pings.append((ts, self.sent_bytes))
        return Send(f'{{"op":"ping","ts":{ts}}}')

    def _bad(self, message: str) -> list[ServerAction]:
        self._log.warning("stream_bad_message", api_key=self.key, code=CLOSE_BAD_REQUEST,
                          reason=message)  # fmt: skip
        return [Send(_error("bad_request", message)), *self._close(CLOSE_BAD_REQUEST, message)]

    def _refuse(self, code: str, message: str, *, reason: str | None = None) -> list[ServerAction]:
        self._log.info("stream_auth_refused", code=code, reason=message)
        return [Send(_error(code, message)), *self._close(CLOSE_AUTH_FAILED, reason or message)]

    def _close(self, code: int, reason: str | None = None) -> list[ServerAction]:
        if self.state is ServerState.CLOSED:
            return []
        self.state = ServerState.CLOSED
        self.close_code = code
        self.close_reason = (reason or CLOSE_REASONS.get(code, ""))[:120]
        return [Close(code, self.close_reason)]


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether the JSON `text` nests arrays/objects deeper than `limit` (brackets inside
    strings do not count). Cheap for what a client sends: only a text with more than `limit`
    brackets is scanned. Malformed JSON is left to the parser."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "[" or ch == "{":
            depth += 1
            if depth > limit:
                return True
        elif ch == "]" or ch == "}":
            depth -= 1
    return False


def _why(e: PydanticValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else str(err["msg"])
