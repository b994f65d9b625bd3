"""The async SDK: `BLPClient`, typed REST methods and a resumable event stream (protocol v1).

```python
async with BLPClient(url, key, secret) as client:
    print(await client.profile())
    async for a in client.assignments(from_seq=last_seen):
        hedge(a)
```

The stream survives a bad network: it reconnects with exponential backoff and full jitter, sends
`ping`s and treats a connection on which nothing arrives for `heartbeat_timeout` seconds as dead,
resubscribes from the last seq it delivered, fills a gap from the REST history, drops duplicates
and delivers strictly in seq order. The ordering rules live in `SeqTracker` (no I/O) so they are
unit tested on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncGenerator, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlencode

import aiohttp
import pydantic
import structlog
from yarl import URL

from .auth import STREAM_PATH, Timestamps, sign_stream, signed_headers
from .errors import (
    CLOSE_AUTH_FAILED,
    CLOSE_BAD_REQUEST,
    AuthError,
    BLPError,
    StreamError,
    ValidationError,
    error_from_response,
)
from .models import (
    SERVER_MESSAGE,
    Account,
    Assignment,
    AssignmentEvent,
    AssignmentPage,
    AuthRequest,
    AuthResult,
    Book,
    Event,
    EventPage,
    FillEvent,
    MarginEvent,
    Market,
    MarketList,
    Order,
    OrderList,
    OrderRequest,
    Ping,
    Pong,
    Profile,
    ProfileEvent,
    ProfileUpdate,
    Subscribe,
    Subscribed,
)
from .models import StreamError as StreamErrorMessage

__all__ = ["BLPClient", "Backoff", "SeqTracker"]

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
DecLike = Decimal | str | int

_log = structlog.get_logger("blp_client.client")

_RETRY_STATUSES = frozenset({502, 503, 504})
_EVENT_TYPES = frozenset({"assignment", "profile", "margin", "fill"})
_EVENT_CLASSES: frozenset[type] = frozenset({AssignmentEvent, ProfileEvent, MarginEvent, FillEvent})


# ---- sans-I/O pieces -------------------------------------------------------------------


class SeqTracker(Generic[T]):
    """Orders a per-BLP event sequence (1, 2, 3, …) that may arrive duplicated, out of order or
    with holes, and releases it strictly as `last + 1`.

    `push` returns the items that became deliverable (in seq order); a seq at or below `last`,
    or one already held, is a duplicate and is dropped. Items past a hole are held (at most
    `max_pending`) until the hole is filled by `push`es or declared empty by `skip_through`.
    """

    __slots__ = ("_pending", "duplicates", "last", "max_pending")

    def __init__(self, last: int = 0, *, max_pending: int = 100_000) -> None:
        if last < 0:
            raise ValueError("last must be >= 0")
        self.last = last
        self.max_pending = max_pending
        self.duplicates = 0
        self._pending: dict[int, T] = {}

    @property
    def pending(self) -> int:
        """How many items are held behind a hole."""
        return len(self._pending)

    def push(self, seq: int, item: T) -> list[T]:
        if seq <= self.last or seq in self._pending:
            self.duplicates += 1
            return []
        if seq == self.last + 1 and not self._pending:
            self.last = seq
            return [item]
        if len(self._pending) >= self.max_pending and seq > self.last + 1:
            raise StreamError(
                f"more than {self.max_pending} events held behind missing seq {self.last + 1}",
                "gap_too_large",
            )
        self._pending[seq] = item
        return self._release()

    def gap(self) -> tuple[int, int] | None:
        """The first hole as an inclusive `(first_missing, last_missing)` range, if any."""
        if not self._pending:
            return None
        return self.last + 1, min(self._pending) - 1

    def skip_through(self, seq: int) -> list[T]:
        """Declare that every seq up to `seq` not yet seen needs no delivery (e.g. it was not an
        assignment); return what became deliverable."""
        out: list[T] = []
        if seq > self.last:
            for s in sorted(s for s in self._pending if s <= seq):
                out.append(self._pending.pop(s))  # seen ones are still delivered, in order
            self.last = seq
        return out + self._release()

    def clear_pending(self) -> int:
        """Forget items held behind a hole (a resubscription from `last` will replay them)."""
        n = len(self._pending)
        self._pending.clear()
        return n

    def _release(self) -> list[T]:
        out: list[T] = []
        nxt = self.last + 1
        while nxt in self._pending:
            out.append(self._pending.pop(nxt))
            self.last = nxt
            nxt += 1
        return out


class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base·2ⁿ))."""

    def __init__(self, base: float = 0.25, cap: float = 10.0, rng: random.Random | None = None):
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0


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


# ---- the client ------------------------------------------------------------------------


def _dec(value: DecLike) -> str:
    if isinstance(value, float):
        raise ValidationError("decimals must be Decimal, str or int, not float", "invalid_decimal")
    return format(Decimal(value), "f")


class BLPClient:
    """Async client of one BLP's API: `async with BLPClient(url, key, secret) as client: ...`.

    `url` is the engine's base URL (`http://127.0.0.1:8080`). REST calls raise the typed errors
    of `blp_client.errors` for error responses; GETs are retried `retries` times (backoff with
    jitter) on a transport failure or a 502/503/504, other methods never (a resent order could
    be placed twice); transport failures then surface as `aiohttp.ClientError`/`TimeoutError`.
    The stream methods retry transport failures forever and raise only `AuthError` (the key was
    refused) or `StreamError` (the server broke the protocol).
    """

    def __init__(
        self,
        url: str,
        key: str,
        secret: str,
        *,
        timeout: float = 10.0,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 15.0,
        reconnect_base: float = 0.25,
        reconnect_max: float = 10.0,
        history_page: int = 1000,
        retries: int = 2,
        rng: random.Random | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        base = URL(url)
        if base.scheme not in ("http", "https"):
            raise ValueError(f"url must be http(s)://host:port, got {url!r}")
        self._base = base.with_path(base.path.rstrip("/"))
        self._prefix = self._base.path if self._base.path != "/" else ""
        self._key = key
        self._secret = secret
        self._timeout = timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self._reconnect_base = reconnect_base
        self._reconnect_max = reconnect_max
        self._history_page = history_page
        self._retries = max(0, retries)
        self._rng = rng or random.Random()
        self._ts = Timestamps()
        self._session = session
        self._own_session = session is None
        self._history_kind: Literal["events", "assignments"] | None = None
        self.stats: dict[str, int] = {
            "connects": 0,
            "reconnects": 0,
            "gaps": 0,
            "gap_events_filled": 0,
            "duplicates": 0,
            "silent": 0,
        }

    # -- lifecycle

    async def __aenter__(self) -> BLPClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                json_serialize=json.dumps,
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("use BLPClient as `async with BLPClient(...) as client:`")
        return self._session

    # -- signed REST

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: pydantic.BaseModel | Mapping[str, Any] | None = None,
    ) -> Any:
        """One signed request; returns the decoded JSON body or raises a typed `BLPError`."""
        method = method.upper()
        full_path = self._prefix + path
        query = urlencode(list(params.items())) if params else ""
        path_with_query = f"{full_path}?{query}" if query else full_path
        if body is None:
            raw = ""
        elif isinstance(body, pydantic.BaseModel):
            raw = body.model_dump_json(exclude_none=True)
        else:
            raw = json.dumps(body, separators=(",", ":"))
        url = URL(str(self._base.origin()) + path_with_query, encoded=True)
        attempts = 1 + (self._retries if method == "GET" else 0)
        backoff = Backoff(self._reconnect_base, self._reconnect_max, self._rng)
        for attempt in range(1, attempts + 1):
            # a fresh timestamp (and so signature) per attempt: a resend is not a replay
            headers = signed_headers(
                self._key, self._secret, method, path_with_query, raw, self._ts.next()
            )
            if raw:
                headers["Content-Type"] = "application/json"
            try:
                async with self.session.request(
                    method, url, data=raw.encode() if raw else None, headers=headers
                ) as resp:
                    text = await resp.text()
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
                    reason = resp.reason
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
                if attempt == attempts:
                    raise
                _log.info("rest.retry", method=method, path=path, error=type(exc).__name__)
                await asyncio.sleep(backoff.next_delay())
                continue
            if status in _RETRY_STATUSES and attempt < attempts:
                _log.info("rest.retry", method=method, path=path, status=status)
                await asyncio.sleep(backoff.next_delay())
                continue
            if status >= 400:
                try:
                    payload: Any = json.loads(text)
                except ValueError:
                    payload = {"message": text.strip() or reason or ""}
                hdrs = {"Retry-After": retry_after} if retry_after is not None else {}
                raise error_from_response(status, payload, hdrs)
            return json.loads(text) if text else None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get(
        self, model: type[ModelT], path: str, params: Mapping[str, str | int] | None = None
    ) -> ModelT:
        return _parse(model, await self.request("GET", path, params=params))

    async def profile(self) -> Profile:
        """The BLP's profile: rates, their use in the 60 s / 3600 s windows, thresholds."""
        return await self._get(Profile, "/api/v1/blp/profile")

    async def update_profile(
        self,
        *,
        max_position_notional: Mapping[str, DecLike] | None = None,
        opted_in: bool | None = None,
    ) -> Profile:
        """Change the Max Position Notional Threshold per contract and/or opt in or out."""
        update = _build(
            ProfileUpdate,
            max_position_notional=(
                None
                if max_position_notional is None
                else {k: _dec(v) for k, v in max_position_notional.items()}
            ),
            opted_in=opted_in,
        )
        return _parse(Profile, await self.request("PATCH", "/api/v1/blp/profile", body=update))

    async def account(self) -> Account:
        """Collateral, equity, positions, margin fractions, leverage, liquidation state."""
        return await self._get(Account, "/api/v1/account")

    async def assignment_history(self, from_seq: int = 0, limit: int = 1000) -> AssignmentPage:
        """One page of past assignments with `seq > from_seq` (REST; see `assignments()` for the
        live stream)."""
        return await self._get(
            AssignmentPage, "/api/v1/assignments", {"from_seq": from_seq, "limit": limit}
        )

    async def event_history(self, from_seq: int = 0, limit: int = 1000) -> EventPage:
        """One page of past events of every type with `seq > from_seq`, if the server keeps an
        events history endpoint (`GET /api/v1/events`); `NotFound` otherwise."""
        return await self._get(EventPage, "/api/v1/events", {"from_seq": from_seq, "limit": limit})

    async def markets(self) -> list[Market]:
        return (await self._get(MarketList, "/api/v1/markets")).markets

    async def market(self, symbol: str) -> Market:
        """Index, mark, best bid and ask of one contract."""
        return await self._get(Market, f"/api/v1/markets/{_seg(symbol)}")

    async def book(self, symbol: str, depth: int | None = None) -> Book:
        params = {"depth": depth} if depth is not None else None
        return await self._get(Book, f"/api/v1/markets/{_seg(symbol)}/book", params)

    async def place_order(
        self,
        symbol: str,
        side: Literal["buy", "sell"],
        qty: DecLike,
        price: DecLike | None = None,
        *,
        type: Literal["limit", "market"] | None = None,
        tif: Literal["GTC", "IOC"] = "GTC",
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> Order:
        """Place an order on the engine's book (a limit order when a price is given)."""
        req = _build(
            OrderRequest,
            symbol=symbol,
            side=side,
            type=type or ("limit" if price is not None else "market"),
            qty=_dec(qty),
            price=None if price is None else _dec(price),
            tif=tif,
            reduce_only=reduce_only,
            client_order_id=client_order_id,
        )
        return _parse(Order, await self.request("POST", "/api/v1/orders", body=req))

    async def order(self, order_id: int) -> Order:
        return await self._get(Order, f"/api/v1/orders/{int(order_id)}")

    async def cancel_order(self, order_id: int) -> Order:
        return _parse(Order, await self.request("DELETE", f"/api/v1/orders/{int(order_id)}"))

    async def open_orders(self) -> list[Order]:
        """This BLP's orders resting on the engine's book."""
        return await self.orders("open")

    async def orders(
        self, status: Literal["open", "all"] = "open", client_order_id: str | None = None
    ) -> list[Order]:
        """This BLP's orders, open or all, optionally only the one with `client_order_id`
        (the way to find out whether an order whose answer was lost was placed)."""
        params: dict[str, str | int] = {"status": status}
        if client_order_id is not None:
            params["client_order_id"] = client_order_id
        return (await self._get(OrderList, "/api/v1/orders", params)).orders

    # -- the stream

    def assignments(self, from_seq: int = 0) -> AsyncGenerator[Assignment, None]:
        """Every assignment with `seq > from_seq`, then live ones, exactly once and in order.

        Runs until the consumer stops iterating; survives disconnects (see the module doc).
        Close it when you stop early: `async with contextlib.aclosing(client.assignments()) as s`.
        """
        return self._stream(from_seq, assignments_only=True)  # type: ignore[return-value]

    def events(self, from_seq: int = 0) -> AsyncGenerator[Event, None]:
        """Every event of this BLP with `seq > from_seq` (assignment, profile, margin, fill),
        then live ones, exactly once and strictly in seq order (each seq is the last + 1)."""
        return self._stream(from_seq, assignments_only=False)  # type: ignore[return-value]

    async def _stream(
        self, from_seq: int, *, assignments_only: bool
    ) -> AsyncGenerator[Event | Assignment, None]:
        """The resumable stream: one async generator (no nested layers: this is the hot path),
        yielding `Event`s, or only the assignments' data when `assignments_only`."""
        tracker: SeqTracker[Event | None] = SeqTracker(from_seq)
        backoff = Backoff(self._reconnect_base, self._reconnect_max, self._rng)
        log = _log.bind(key=self._key)
        validate = SERVER_MESSAGE.validate_json
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        first = True
        while True:
            if not first:
                delay = backoff.next_delay()
                self.stats["reconnects"] += 1
                log.info("stream.reconnect_wait", delay_s=round(delay, 3), attempt=backoff.attempt)
                await asyncio.sleep(delay)
            first = False
            ws: aiohttp.ClientWebSocketResponse | None = None
            watchdog: asyncio.Task[None] | None = None
            state = _ConnState()
            loop = asyncio.get_running_loop()
            try:
                ws, sub = await self._open(tracker.last)
                if sub.last_seq < tracker.last:
                    # the server's log ends before what we have (a wiped data directory, or a
                    # from_seq from another engine): its new seqs would be dropped as duplicates
                    raise StreamError(
                        f"the server's last seq is {sub.last_seq} but the stream is at "
                        f"{tracker.last}: refusing to skip or repeat events",
                        "server_behind",
                    )
                self.stats["connects"] += 1
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
                            self.stats["silent"] += 1
                            raise _Reconnect("heartbeat_timeout", silent_s=self.heartbeat_timeout)
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
                        if seq == tracker.last + 1 and not tracker._pending:  # the hot path
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
                        await ws.send_str(f'{{"op":"pong","ts":{parsed.ts}}}')
                        continue
                    elif kind is StreamErrorMessage:
                        log.warning("stream.server_error", code=parsed.code, message=parsed.message)
                        continue
                    else:
                        continue  # pong, late control messages
                    if tracker.pending:
                        ready += await self._fill_gap(tracker, assignments_only, log)
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
                self.stats["duplicates"] += tracker.duplicates
                tracker.duplicates = 0
                tracker.clear_pending()

    async def _open(self, from_seq: int) -> tuple[aiohttp.ClientWebSocketResponse, Subscribed]:
        url = self._base.with_scheme("wss" if self._base.scheme == "https" else "ws")
        url = url.with_path(self._prefix + STREAM_PATH)
        ws = await self.session.ws_connect(
            url,
            timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
            autoping=True,
            max_msg_size=16 * 1024 * 1024,
        )
        try:
            async with asyncio.timeout(self._timeout):
                ts = int(time.time() * 1000)
                auth = AuthRequest(
                    key=self._key, timestamp=ts, signature=sign_stream(self._secret, ts)
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
                parsed = SERVER_MESSAGE.validate_json(msg.data)
                if isinstance(parsed, Ping):
                    await ws.send_str(Pong(ts=parsed.ts).model_dump_json())
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
        tick = min(self.heartbeat_interval, self.heartbeat_timeout) / 4
        next_ping = loop.time() + self.heartbeat_interval
        try:
            while not ws.closed:
                await asyncio.sleep(tick)
                now = loop.time()
                since = state.waiting_since
                if since is not None and now - since > self.heartbeat_timeout:
                    state.silent = True
                    await ws.close()
                    return
                if now >= next_ping:
                    next_ping = now + self.heartbeat_interval
                    ping = f'{{"op":"ping","ts":{int(time.time() * 1000)}}}'
                    await asyncio.wait_for(ws.send_str(ping), self.heartbeat_timeout)
        except TimeoutError:  # a ping that could not be sent in time: the link is stuck
            state.silent = True
            with contextlib.suppress(Exception):
                await ws.close()
        except Exception:  # the connection is closing: the receive side reports why
            return

    async def _fill_gap(
        self, tracker: SeqTracker[Event | None], assignments_only: bool, log: Any
    ) -> list[Event | None]:
        gap = tracker.gap()
        assert gap is not None
        first, last = gap
        self.stats["gaps"] += 1
        log.warning("stream.gap", first_missing=first, last_missing=last)
        out: list[Event | None] = []
        try:
            if self._history_kind != "assignments":
                try:
                    out += await self._fill_from_events(tracker, first, last)
                    self._history_kind = "events"
                except BLPError as exc:
                    if self._history_kind == "events" or exc.status != 404:
                        raise
                    self._history_kind = "assignments"
            if self._history_kind == "assignments" and assignments_only:
                out += await self._fill_from_assignments(tracker, first, last)
        except (BLPError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _Reconnect("gap_fill_failed", error=str(exc)[:200]) from None
        if tracker.last < last:
            # not filled (e.g. non-assignment events without an events history): resubscribe
            raise _Reconnect("gap_unfilled", first_missing=tracker.last + 1)
        self.stats["gap_events_filled"] += last - first + 1
        log.info("stream.gap_filled", first=first, last=last)
        return out

    async def _fill_from_events(
        self, tracker: SeqTracker[Event | None], first: int, last: int
    ) -> list[Event | None]:
        out: list[Event | None] = []
        cursor = first - 1
        while cursor < last:
            page = await self.event_history(cursor, min(self._history_page, last - cursor))
            for ev in page.events:
                if ev.seq <= last:
                    out += tracker.push(ev.seq, ev)
            if page.next_from_seq is None or not page.events:
                break
            cursor = page.next_from_seq
        return out

    async def _fill_from_assignments(
        self, tracker: SeqTracker[Event | None], first: int, last: int
    ) -> list[Event | None]:
        out: list[Event | None] = []
        cursor = first - 1
        while cursor < last:
            page = await self.assignment_history(cursor, self._history_page)
            for a in page.assignments:
                if a.seq > last:
                    break
                # seqs between assignments belong to other event types: not needed here
                out += tracker.skip_through(a.seq - 1)
                out += tracker.push(a.seq, AssignmentEvent(seq=a.seq, id=a.id, ts=a.ts, data=a))
            if (
                page.next_from_seq is None
                or not page.assignments
                or page.assignments[-1].seq >= last
            ):
                break
            cursor = page.next_from_seq
        if page.last_seq >= last:
            out += tracker.skip_through(last)
        return out


# ---- helpers ---------------------------------------------------------------------------


def _seg(symbol: str) -> str:
    from urllib.parse import quote

    return quote(symbol, safe="")


def _build(model: type[ModelT], **fields: Any) -> ModelT:
    """Validate a request locally; a bad field is a `ValidationError` naming it, before sending."""
    try:
        return model.model_validate({k: v for k, v in fields.items() if v is not None})
    except pydantic.ValidationError as exc:
        raise _validation_error(exc) from None


def _parse(model: type[ModelT], payload: Any) -> ModelT:
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise StreamError(
            f"the server's {model.__name__} does not match protocol v1: {exc}", "bad_response"
        ) from None


def _validation_error(exc: pydantic.ValidationError) -> ValidationError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return ValidationError(f"{field}: {err.get('msg', 'invalid')}", "invalid_request")


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


async def _quiet_close(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):  # best effort on a dead socket
        await asyncio.wait_for(ws.close(), 1.0)
