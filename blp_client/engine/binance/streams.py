"""Binance USDⓈ-M WebSocket market streams over the engine's books, in Binance's wire format,
so the unmodified `ccxt.pro.binanceusdm` watches them (`watch_order_book`, `watch_bids_asks`,
`watch_ticker`).

Paths, as on `fstream.binance.com` (routed and unrouted):

- `/public/ws[/<stream>/...]`, `/public/stream?streams=<a>/<b>`: depth and bookTicker streams;
- `/market/ws[/<stream>/...]`, `/market/stream?streams=...`: ticker and miniTicker streams;
- `/ws[/...]`, `/stream?streams=...`: unrouted, public streams only.

A stream of the other category is accepted and pushes nothing, as on Binance. `/ws` payloads
are the event itself, `/stream` ones `{"stream": <name>, "data": <event>}` (the `combined`
property). Path segments that are not stream names are ignored: ccxt appends a connection
index (`/public/ws/0`).

Live control (Binance's "Live Subscribing/Unsubscribing"): `{"method": "SUBSCRIBE", "params":
["btcusdt@depth@100ms"], "id": 1}` → `{"result": null, "id": 1}`; `UNSUBSCRIBE` the same;
`LIST_SUBSCRIPTIONS` → `{"result": [...], "id": n}`; `SET_PROPERTY` / `GET_PROPERTY`
`["combined", true]`. Bad requests get `{"error": {"code": 0|1|2|3, "msg": ...}, "id": n}` with
Binance's codes (an unknown stream name or symbol is code 2, the 201st stream too).

Streams (`<symbol>` lowercase, e.g. `btcusdt`):

- `<symbol>@depth` (250 ms), `@depth@100ms`, `@depth@250ms`, `@depth@500ms`: diff depth, event
  `depthUpdate` `{e, E, T, s, U, u, pu, b, a}`: every price level whose quantity changed since
  the stream's last push, absolute quantities, `"0"` for a level gone;
- `<symbol>@depth<5|10|20>[@100ms|@250ms|@500ms]`: the top levels, the same event shape;
- `<symbol>@bookTicker`: `{e: "bookTicker", u, E, T, s, b, B, a, A}` when the top changes;
- `<symbol>@ticker` / `@miniTicker`: 24 h rolling statistics (`24hrTicker` /
  `24hrMiniTicker`, the `/fapi/v1/ticker/24hr` numbers) once a second when they changed.

Every stream but the diff depth also pushes once right after it is subscribed (Binance's
real-time streams would be pushing anyway on a live market; a quiet engine book would
otherwise leave a new subscriber with nothing).

Update ids. Each symbol has a `BookFeed`: the book as last published, whose `update_id` is the
engine book's `version` (`core.book.OrderBook.version`) at that publication. A 100 ms sampler
per connection publishes changes; `GET /fapi/v1/depth` publishes first as well and answers
`lastUpdateId = update_id`, so a REST snapshot always sits on an event boundary. Each event's
`U` is the previous publication's `u` + 1 and `pu` = `U` − 1, so ccxt's futures sync recipe
(drop `u` < lastUpdateId; the first event has `U` ≤ lastUpdateId ≤ `u` or `pu` = lastUpdateId;
then every `pu` is the previous `u`) holds exactly, also for a 250/500 ms stream that merges
several publications into one event. `E` is engine time at the push, `T` engine time of the
last publication.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from ...errors import InvalidRequest
from ..core.book import OrderBook, Side
from ..core.instruments import Instrument
from ..http import check_depth
from .shapes import fmt
from .state import VenueState

_log = structlog.get_logger("blp_client.engine.binance.streams")

TICK_S = 0.1  # the sampler's period; the fastest stream speed
MAX_STREAMS = 200  # per connection, as on Binance USDⓈ-M
MAX_MESSAGE = 1 << 16
DEFAULT_DEPTH_MS = 250
TICKER_MS = 1000
_ALL = sys.maxsize

Kind = Literal["diff", "partial", "bookTicker", "ticker", "miniTicker"]
Category = Literal["public", "market"]

_STREAM_RE = re.compile(
    r"^(?P<sym>[A-Za-z0-9]{1,20})@(?:"
    r"(?P<depth>depth(?P<levels>5|10|20)?(?:@(?P<ms>100|250|500)ms)?)"
    r"|(?P<other>bookTicker|ticker|miniTicker))$"
)

_OTHER: dict[str, Kind] = {
    "bookTicker": "bookTicker",
    "ticker": "ticker",
    "miniTicker": "miniTicker",
}

# category of each path prefix; unrouted paths only carry public streams (Binance)
PATHS: dict[str, Category] = {"": "public", "/public": "public", "/market": "market"}


@dataclass(frozen=True)
class StreamSpec:
    """A parsed stream name."""

    name: str  # as the client spelled it
    venue_symbol: str  # upper case, e.g. BTCUSDT
    kind: Kind
    levels: int = 0  # partial depth
    rate_ms: int = 0  # depth streams

    @property
    def category(self) -> Category:
        return "market" if self.kind in ("ticker", "miniTicker") else "public"


def parse_stream(name: str) -> StreamSpec | None:
    """`btcusdt@depth@100ms` → its spec; None for anything else."""
    m = _STREAM_RE.match(name)
    if m is None:
        return None
    sym = m["sym"].upper()
    if m["depth"] is not None:
        rate = int(m["ms"] or DEFAULT_DEPTH_MS)
        if m["levels"] is not None:
            return StreamSpec(name, sym, "partial", int(m["levels"]), rate)
        return StreamSpec(name, sym, "diff", 0, rate)
    return StreamSpec(name, sym, _OTHER[m["other"]])


# ---- book publication (sans-I/O) --------------------------------------------------------


def _changes(old: dict[Decimal, Decimal], new: dict[Decimal, Decimal]) -> dict[Decimal, Decimal]:
    """Levels of `new` that differ from `old`, and `old`'s levels gone from `new` at zero."""
    out = {p: q for p, q in new.items() if old.get(p) != q}
    for p in old:
        if p not in new:
            out[p] = Decimal(0)
    return out


Top = tuple[tuple[Decimal, Decimal] | None, tuple[Decimal, Decimal] | None]


class BookFeed:
    """One symbol's book as last published: levels, `update_id`, and who listens."""

    def __init__(self, book: OrderBook, venue_symbol: str, now_ms: int) -> None:
        self.book = book
        self.venue_symbol = venue_symbol
        self.seen = book.version
        self.update_id = book.version
        self.ts = now_ms
        self.bids = dict(book.depth(Side.BUY, _ALL))
        self.asks = dict(book.depth(Side.SELL, _ALL))
        self.top = self._top()
        self.listeners: set[Subscription] = set()

    def _top(self) -> Top:
        b = max(self.bids) if self.bids else None
        a = min(self.asks) if self.asks else None
        return (
            (b, self.bids[b]) if b is not None else None,
            (a, self.asks[a]) if a is not None else None,
        )

    def sync(self, now_ms: int) -> None:
        """Publish what changed in the book since the last publication (if anything did)."""
        version = self.book.version
        if version == self.seen:
            return
        self.seen = version
        bids = dict(self.book.depth(Side.BUY, _ALL))
        asks = dict(self.book.depth(Side.SELL, _ALL))
        db, da = _changes(self.bids, bids), _changes(self.asks, asks)
        if not db and not da:
            return  # touched, same levels: the last update id still describes it
        first = self.update_id + 1
        self.update_id, self.ts = version, now_ms
        self.bids, self.asks = bids, asks
        self.top = self._top()
        for sub in self.listeners:
            sub.on_update(first, version, db, da)

    def levels(self, side: Side, n: int) -> list[tuple[Decimal, Decimal]]:
        """The best `n` published levels of one side, best first."""
        if side is Side.BUY:
            return [(p, self.bids[p]) for p in heapq.nlargest(n, self.bids)]
        return [(p, self.asks[p]) for p in heapq.nsmallest(n, self.asks)]


class BookFeeds:
    """The feeds of every symbol, made on first use; `GET /fapi/v1/depth` reads through them."""

    def __init__(self, state: VenueState) -> None:
        self.state = state
        self._feeds: dict[str, BookFeed] = {}

    def feed(self, venue_symbol: str) -> BookFeed:
        f = self._feeds.get(venue_symbol)
        if f is None:
            st = self.state
            book = st.exchange.books[st.to_engine[venue_symbol]]
            f = self._feeds[venue_symbol] = BookFeed(book, venue_symbol, st.now_ms())
        return f

    def synced(self, venue_symbol: str) -> BookFeed:
        """The feed, with the book's latest changes published: its levels are the book's."""
        f = self.feed(venue_symbol)
        f.sync(self.state.now_ms())
        return f


def _pairs(levels: Any) -> list[list[str]]:
    return [[fmt(p), fmt(q)] for p, q in levels]


class Subscription:
    """One stream on one connection: collects publications, says what to push when polled."""

    def __init__(self, spec: StreamSpec, feed: BookFeed | None, inst: Instrument) -> None:
        self.spec = spec
        self.feed = feed
        self.inst = inst
        self.sent_any = False
        self.due = 0.0  # monotonic seconds
        self.first: int | None = None  # pending publications: first U ..
        self.last = 0  # .. last u
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_top: Top | None = None
        self.last_ticker: dict[str, Any] | None = None

    def on_update(
        self, first: int, last: int, bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal]
    ) -> None:
        if self.first is None:
            self.first = first
        self.last = last
        if self.spec.kind == "diff":
            self.bids.update(bids)
            self.asks.update(asks)

    def poll(
        self, mono: float, now_ms: int, ticker: Callable[[Instrument], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The event to push now, if any (the feed was synced just before)."""
        spec = self.spec
        kind = spec.kind
        if kind == "bookTicker":
            return self._book_ticker(now_ms)
        if mono < self.due:
            return None
        if kind == "diff":
            event = self._diff(now_ms)
        elif kind == "partial":
            event = self._partial(now_ms)
        else:
            event = self._ticker(now_ms, ticker)
        if event is not None:  # the next push no sooner than one period from now
            period = (TICKER_MS if kind in ("ticker", "miniTicker") else spec.rate_ms) / 1000
            self.due = mono + period - TICK_S / 2  # (within half a sampler tick)
        return event

    def _depth_event(self, now_ms: int, first: int, last: int, b: Any, a: Any) -> dict[str, Any]:
        assert self.feed is not None
        return {
            "e": "depthUpdate",
            "E": now_ms,
            "T": self.feed.ts,
            "s": self.spec.venue_symbol,
            "U": first,
            "u": last,
            "pu": first - 1,
            "b": _pairs(b),
            "a": _pairs(a),
        }

    def _diff(self, now_ms: int) -> dict[str, Any] | None:
        if self.first is None:
            return None
        out = self._depth_event(
            now_ms,
            self.first,
            self.last,
            sorted(self.bids.items(), reverse=True),
            sorted(self.asks.items()),
        )
        self.first = None
        self.bids, self.asks = {}, {}
        return out

    def _partial(self, now_ms: int) -> dict[str, Any] | None:
        feed = self.feed
        assert feed is not None
        if self.sent_any and self.first is None:
            return None
        first = self.first if self.first is not None else feed.update_id
        n = self.spec.levels
        out = self._depth_event(
            now_ms, first, feed.update_id, feed.levels(Side.BUY, n), feed.levels(Side.SELL, n)
        )
        self.first = None
        self.sent_any = True
        return out

    def _book_ticker(self, now_ms: int) -> dict[str, Any] | None:
        feed = self.feed
        assert feed is not None
        if self.sent_any and feed.top == self.last_top:
            return None
        self.sent_any, self.last_top = True, feed.top
        bid, ask = feed.top
        return {
            "e": "bookTicker",
            "u": feed.update_id,
            "E": now_ms,
            "T": feed.ts,
            "s": self.spec.venue_symbol,
            "b": fmt(bid[0]) if bid else "0",
            "B": fmt(bid[1]) if bid else "0",
            "a": fmt(ask[0]) if ask else "0",
            "A": fmt(ask[1]) if ask else "0",
        }

    def _ticker(
        self, now_ms: int, ticker: Callable[[Instrument], dict[str, Any]]
    ) -> dict[str, Any] | None:
        t = ticker(self.inst)
        key = {k: v for k, v in t.items() if k not in ("openTime", "closeTime")}
        if self.sent_any and key == self.last_ticker:
            return None
        self.sent_any, self.last_ticker = True, key
        base = {"E": now_ms, "s": self.spec.venue_symbol}
        if self.spec.kind == "miniTicker":
            return {
                "e": "24hrMiniTicker",
                **base,
                "c": t["lastPrice"],
                "o": t["openPrice"],
                "h": t["highPrice"],
                "l": t["lowPrice"],
                "v": t["volume"],
                "q": t["quoteVolume"],
            }
        return {
            "e": "24hrTicker",
            **base,
            "p": t["priceChange"],
            "P": t["priceChangePercent"],
            "w": t["weightedAvgPrice"],
            "c": t["lastPrice"],
            "Q": t["lastQty"],
            "o": t["openPrice"],
            "h": t["highPrice"],
            "l": t["lowPrice"],
            "v": t["volume"],
            "q": t["quoteVolume"],
            "O": t["openTime"],
            "C": t["closeTime"],
            "F": t["firstId"],
            "L": t["lastId"],
            "n": t["count"],
        }


# ---- the websocket shell ----------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


_METHODS = "SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY"


class StreamConnection:
    """One market-stream websocket: its subscriptions, the control protocol, the sampler."""

    def __init__(
        self, streams: MarketStreams, ws: web.WebSocketResponse, category: Category, combined: bool
    ) -> None:
        self.streams = streams
        self.ws = ws
        self.category = category
        self.combined = combined
        self.subs: dict[str, Subscription] = {}
        self.lock = asyncio.Lock()  # one writer at a time: replies and pushes
        self.sent = 0

    # ---- subscriptions ----

    def _check(self, name: str) -> StreamSpec:
        spec = parse_stream(name)
        if spec is None:
            raise _BadRequest(2, f"Invalid request: invalid stream name {name[:60]!r}")
        if spec.venue_symbol not in self.streams.state.to_engine:
            raise _BadRequest(2, f"Invalid request: unknown symbol in stream {name[:60]!r}")
        return spec

    def subscribe(self, names: list[str]) -> None:
        """Subscribe to every stream in `names`, or to none of them (`_BadRequest`)."""
        specs = [self._check(n) for n in dict.fromkeys(names) if n not in self.subs]
        if len(self.subs) + len(specs) > MAX_STREAMS:
            raise _BadRequest(2, f"Invalid request: at most {MAX_STREAMS} streams per connection")
        st = self.streams.state
        for spec in specs:
            feed = None
            if spec.category == "public":
                feed = self.streams.feeds.feed(spec.venue_symbol)
            inst = st.exchange.instruments[st.to_engine[spec.venue_symbol]]
            sub = Subscription(spec, feed, inst)
            self.subs[spec.name] = sub
            if feed is not None and spec.category == self.category:
                feed.listeners.add(sub)

    def unsubscribe(self, name: str) -> None:
        sub = self.subs.pop(name, None)
        if sub is not None and sub.feed is not None:
            sub.feed.listeners.discard(sub)

    def close(self) -> None:
        for name in list(self.subs):
            self.unsubscribe(name)

    # ---- control messages ----

    def control(self, text: str) -> dict[str, Any]:
        """The answer to one client message (Binance's live subscribe protocol)."""
        try:
            check_depth(text)  # before parsing: a deep nest is a RecursionError in json
            msg = json.loads(text)
        except InvalidRequest as e:
            why = e.message.removeprefix("body: ")
            return {"error": {"code": 3, "msg": f"Invalid JSON: {why}"}, "id": None}
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return {"error": {"code": 3, "msg": f"Invalid JSON: {e}"}, "id": None}
        req_id = msg.get("id") if isinstance(msg, dict) else None
        try:
            return {"result": self._control(msg), "id": req_id}
        except _BadRequest as e:
            ok_id = isinstance(req_id, int) and not isinstance(req_id, bool) and req_id >= 0
            return {"error": {"code": e.code, "msg": e.msg}, "id": req_id if ok_id else None}

    def _control(self, msg: Any) -> Any:
        if not isinstance(msg, dict):
            raise _BadRequest(2, "Invalid request: expected a JSON object")
        req_id = msg.get("id")
        if not isinstance(req_id, int) or isinstance(req_id, bool) or not 0 <= req_id < 2**64:
            raise _BadRequest(2, "Invalid request: request ID must be an unsigned integer")
        method = msg.get("method")
        if method is None:
            raise _BadRequest(2, "Invalid request: missing field `method`")
        params = msg.get("params", [])
        if not isinstance(params, list):
            raise _BadRequest(2, "Invalid request: params must be an array")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(p, str) for p in params):
                raise _BadRequest(2, "Invalid request: stream names must be strings")
            if method == "SUBSCRIBE":
                self.subscribe(params)
            else:
                for name in params:
                    self.unsubscribe(name)
            return None
        if method == "LIST_SUBSCRIPTIONS":
            return list(self.subs)
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            if not params or not isinstance(params[0], str):
                raise _BadRequest(2, "Invalid request: property name must be a string")
            if params[0] != "combined":
                raise _BadRequest(0, "Unknown property")
            if method == "GET_PROPERTY":
                return self.combined
            if len(params) != 2 or not isinstance(params[1], bool):
                raise _BadRequest(1, "Invalid value type: expected Boolean")
            self.combined = params[1]
            return None
        raise _BadRequest(
            2, f"Invalid request: unknown variant {str(method)[:40]}, expected one of {_METHODS}"
        )

    # ---- pushing ----

    def due_events(self, mono: float) -> list[str]:
        """Publish book changes, then the messages every subscription has due now."""
        st = self.streams.state
        now = st.now_ms()
        live = [s for s in self.subs.values() if s.spec.category == self.category]
        for feed in {id(s.feed): s.feed for s in live if s.feed is not None}.values():
            feed.sync(now)
        out = []
        for sub in live:
            event = sub.poll(mono, now, self.streams.ticker)
            if event is None:
                continue
            if self.combined:
                event = {"stream": sub.spec.name, "data": event}
            out.append(json.dumps(event, separators=(",", ":")))
        return out

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)
        self.sent += 1

    async def pump(self) -> None:
        while not self.ws.closed:
            await asyncio.sleep(TICK_S)
            async with self.lock:
                for text in self.due_events(time.monotonic()):
                    await self.send(text)


class MarketStreams:
    """The websocket routes of the market streams over `feeds` (see the module docstring).

    `accepting = False` refuses new connections (HTTP 503) and `disconnect_all()` drops the
    open ones: the switches a test uses to break the stream path of a client."""

    def __init__(
        self,
        state: VenueState,
        feeds: BookFeeds,
        ticker: Callable[[Instrument], dict[str, Any]],
    ) -> None:
        self.state = state
        self.feeds = feeds
        self.ticker = ticker
        self.accepting = True
        self.connections: set[StreamConnection] = set()

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        for prefix, category in PATHS.items():
            for mode in ("ws", "stream"):
                handler = self._handler(category, combined=mode == "stream")
                r.add_get(f"{prefix}/{mode}", handler)
                r.add_get(f"{prefix}/{mode}/{{streams:.*}}", handler)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.disconnect_all(WSCloseCode.GOING_AWAY)

    async def disconnect_all(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=code, message=b"going away")

    def _handler(self, category: Category, *, combined: bool) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, category, combined)

        return handle

    async def _serve(
        self, request: web.Request, category: Category, combined: bool
    ) -> web.StreamResponse:
        if not self.accepting:
            return web.json_response(
                {"code": -1, "msg": "market streams are switched off"}, status=503
            )
        names = [n for n in request.match_info.get("streams", "").split("/") if n]
        if combined:
            names += [n for n in request.query.get("streams", "").split("/") if n]
        ws = web.WebSocketResponse(autoping=True, heartbeat=180.0, max_msg_size=MAX_MESSAGE)
        conn = StreamConnection(self, ws, category, combined)
        for name in names[:MAX_STREAMS]:  # before the handshake: no change goes unseen
            with contextlib.suppress(_BadRequest):  # e.g. ccxt's connection index "0"
                conn.subscribe([name])
        self.connections.add(conn)
        try:
            await ws.prepare(request)
        except BaseException:
            conn.close()
            self.connections.discard(conn)
            raise
        pump = asyncio.create_task(conn.pump())
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    async with conn.lock:
                        await conn.send(json.dumps(conn.control(msg.data), separators=(",", ":")))
                elif msg.type is WSMsgType.BINARY:
                    async with conn.lock:
                        await conn.send(
                            json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
                        )
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
            conn.close()
            self.connections.discard(conn)
            _log.debug("market_stream_closed", streams=len(conn.subs), sent=conn.sent)
        return ws


__all__ = [
    "BookFeed",
    "BookFeeds",
    "MarketStreams",
    "StreamConnection",
    "StreamSpec",
    "Subscription",
    "parse_stream",
]
