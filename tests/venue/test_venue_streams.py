"""The venue's Binance USDⓈ-M websocket market streams: real websockets on 127.0.0.1 against the
engine's facade, each stream's wire format checked by hand, the update ids against REST
`/fapi/v1/depth`, and the unmodified `ccxt.pro.binanceusdm` watching the engine's book.

Nothing sleeps to "wait enough": every test awaits the next message (or ccxt's next book) with
a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blp_client.bot.venues import local_binance
from blp_client.engine.binance.streams import BookFeeds, StreamSpec, Subscription, parse_stream
from blp_client.engine.core import AccountKind, Exchange, ExchangeError
from blp_client.engine.core.book import Order, OrderBook, Side, TimeInForce

from .conftest import BTC, BTC_ASKS, BTC_BIDS, ETH, VenueEnv

D = Decimal
TIMEOUT = 5.0
CCXT_BTC = "BTC/USDT:USDT"


def ws_url(env: VenueEnv, path: str) -> str:
    return "ws" + env.url.removeprefix("http") + path


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def recv(ws: aiohttp.ClientWebSocketResponse) -> Any:
    return json.loads(await asyncio.wait_for(ws.receive_str(), TIMEOUT))


async def call(ws: aiohttp.ClientWebSocketResponse, msg: Any) -> Any:
    await ws.send_str(msg if isinstance(msg, str) else json.dumps(msg))
    return await recv(ws)


async def rest_depth(session: aiohttp.ClientSession, env: VenueEnv, limit: int = 5) -> Any:
    async with session.get(f"{env.url}/fapi/v1/depth?symbol=BTCUSDT&limit={limit}") as r:
        assert r.status == 200
        return await r.json()


def version(env: VenueEnv, symbol: str = BTC) -> int:
    return env.exchange.books[symbol].version


# ---- names and the core's update counter ---------------------------------------------------


def test_stream_names() -> None:
    assert parse_stream("btcusdt@depth") == StreamSpec("btcusdt@depth", "BTCUSDT", "diff", 0, 250)
    assert parse_stream("btcusdt@depth@100ms") == StreamSpec(
        "btcusdt@depth@100ms", "BTCUSDT", "diff", 0, 100
    )
    assert parse_stream("ethusdt@depth@500ms") == StreamSpec(
        "ethusdt@depth@500ms", "ETHUSDT", "diff", 0, 500
    )
    assert parse_stream("btcusdt@depth10") == StreamSpec(
        "btcusdt@depth10", "BTCUSDT", "partial", 10, 250
    )
    assert parse_stream("btcusdt@depth20@100ms") == StreamSpec(
        "btcusdt@depth20@100ms", "BTCUSDT", "partial", 20, 100
    )
    spec = parse_stream("btcusdt@bookTicker")
    assert spec is not None and (spec.kind, spec.category) == ("bookTicker", "public")
    spec = parse_stream("btcusdt@ticker")
    assert spec is not None and (spec.kind, spec.category) == ("ticker", "market")
    for bad in ("0", "btcusdt", "btcusdt@depth7", "btcusdt@depth@1000ms", "btcusdt@trade", ""):
        assert parse_stream(bad) is None, bad


def test_book_version_counts_every_change() -> None:
    book = OrderBook(BTC)
    assert book.version == 0
    maker = Order(1, 1, BTC, Side.SELL, D(1), D(100), TimeInForce.GTC, False, None, 0)
    book.rest(maker)
    assert book.version == 1
    book.depth(Side.SELL, 5)  # reading changes nothing
    assert book.version == 1
    taker = Order(2, 2, BTC, Side.BUY, D("0.4"), None, TimeInForce.IOC, False, None, 0)
    book.match(taker, lambda o: D(0))
    assert book.version == 2
    miss = Order(3, 2, BTC, Side.BUY, D(1), D(99), TimeInForce.IOC, False, None, 0)
    assert book.match(miss, lambda o: D(0)) == []  # nothing crossed: unchanged
    assert book.version == 2
    book.remove(maker)
    assert book.version == 3


# ---- the control protocol ----------------------------------------------------------------


async def test_subscribe_protocol_and_errors(env: VenueEnv, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(ws_url(env, "/ws")) as ws:
        sub = {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}
        assert await call(ws, sub) == {"result": None, "id": 1}
        assert await call(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 3}) == {
            "result": ["btcusdt@depth@100ms"],
            "id": 3,
        }
        # all or nothing: one bad name refuses the whole request
        bad = {"method": "SUBSCRIBE", "params": ["ethusdt@depth", "btcusdt@trades"], "id": 4}
        assert await call(ws, bad) == {
            "error": {"code": 2, "msg": "Invalid request: invalid stream name 'btcusdt@trades'"},
            "id": 4,
        }
        unknown = {"method": "SUBSCRIBE", "params": ["dogeusdt@depth"], "id": 5}
        assert (await call(ws, unknown))["error"]["code"] == 2
        assert (await call(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 6}))["result"] == [
            "btcusdt@depth@100ms"
        ]
        get = {"method": "GET_PROPERTY", "params": ["combined"], "id": 7}
        assert await call(ws, get) == {"result": False, "id": 7}
        assert await call(ws, {"method": "SET_PROPERTY", "params": ["combined", 1], "id": 8}) == {
            "error": {"code": 1, "msg": "Invalid value type: expected Boolean"},
            "id": 8,
        }
        assert await call(ws, {"method": "GET_PROPERTY", "params": ["speed"], "id": 9}) == {
            "error": {"code": 0, "msg": "Unknown property"},
            "id": 9,
        }
        assert await call(ws, {"method": "SUBSCRIBE", "params": [], "id": "x"}) == {
            "error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"},
            "id": None,
        }
        assert (await call(ws, {"method": "PING", "id": 10}))["error"] == {
            "code": 2,
            "msg": "Invalid request: unknown variant PING, expected one of SUBSCRIBE, "
            "UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY",
        }
        assert (await call(ws, "{not json"))["error"]["code"] == 3
        unsub = {"method": "UNSUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 312}
        assert await call(ws, unsub) == {"result": None, "id": 312}
        assert await call(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 11}) == {
            "result": [],
            "id": 11,
        }


# ---- diff depth: wire format and update ids ----------------------------------------------


async def test_diff_depth_events_continue_the_rest_snapshot(
    env: VenueEnv, session: aiohttp.ClientSession, binance: Any
) -> None:
    async with session.ws_connect(ws_url(env, "/public/ws")) as ws:
        sub = {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}
        assert await call(ws, sub) == {"result": None, "id": 1}
        snap = await rest_depth(session, env)
        last = snap["lastUpdateId"]
        assert last == version(env)  # the ladder was the last change
        assert snap["bids"] == [["49995", "0.5"], ["49990", "0.5"], ["49985", "0.5"]]
        assert snap["asks"] == [["50005", "0.5"], ["50010", "0.5"], ["50015", "0.5"]]

        # a requote: the best bid keeps its size, 49990 grows, 49985 and two asks go
        env.quote([(D("49995.0"), D("0.5")), (D("49990.0"), D("0.7"))], [(D("50005.0"), D("0.5"))])
        ev = await recv(ws)
        assert ev == {
            "e": "depthUpdate",
            "E": ev["E"],
            "T": ev["T"],
            "s": "BTCUSDT",
            "U": last + 1,
            "u": version(env),
            "pu": last,
            "b": [["49990", "0.7"], ["49985", "0"]],
            "a": [["50010", "0"], ["50015", "0"]],
        }
        assert isinstance(ev["E"], int) and ev["T"] <= ev["E"]
        snap = await rest_depth(session, env)
        assert snap["lastUpdateId"] == ev["u"]
        assert snap["bids"] == [["49995", "0.5"], ["49990", "0.7"]]
        assert snap["asks"] == [["50005", "0.5"]]

        # a trade through the facade (ccxt REST) takes 0.2 of the only ask
        await binance.create_order(CCXT_BTC, "market", "buy", 0.2)
        ev2 = await recv(ws)
        assert (ev2["U"], ev2["pu"], ev2["u"]) == (ev["u"] + 1, ev["u"], version(env))
        assert (ev2["b"], ev2["a"]) == ([], [["50005", "0.3"]])
        assert (await rest_depth(session, env))["lastUpdateId"] == ev2["u"]


async def test_a_snapshot_inside_a_merged_event(
    env: VenueEnv, session: aiohttp.ClientSession
) -> None:
    """Two requotes with a REST read between them, one event: the read (what GET /fapi/v1/depth
    does, `feeds.synced`, here without an await so no push can fall between) published the
    first change, so its lastUpdateId lies inside the event (`U <= lastUpdateId <= u`), and
    the event carries every level either requote touched."""
    async with session.ws_connect(ws_url(env, "/public/ws/btcusdt@depth@500ms")) as ws:
        start = version(env)
        env.quote([(D("49994.0"), D("1"))], [(D("50006.0"), D("1"))])
        mid = env.facade.feeds.synced("BTCUSDT").update_id
        assert mid == version(env)
        env.quote([(D("49993.0"), D("1"))], [(D("50006.0"), D("2"))])
        ev = await recv(ws)
        assert (ev["U"], ev["u"], ev["pu"]) == (start + 1, version(env), start)
        assert ev["U"] <= mid <= ev["u"]
        assert ev["b"] == [
            ["49995", "0"],
            ["49994", "0"],
            ["49993", "1"],
            ["49990", "0"],
            ["49985", "0"],
        ]
        assert ev["a"] == [["50005", "0"], ["50006", "2"], ["50010", "0"], ["50015", "0"]]
        snap = await rest_depth(session, env)
        assert snap["lastUpdateId"] == ev["u"]
        assert (snap["bids"], snap["asks"]) == ([["49993", "1"]], [["50006", "2"]])


# ---- partial depth, bookTicker, combined streams -----------------------------------------


async def test_partial_depth_and_book_ticker_on_a_combined_stream(
    env: VenueEnv, session: aiohttp.ClientSession
) -> None:
    url = ws_url(env, "/stream?streams=btcusdt@depth5@100ms/btcusdt@bookTicker")
    async with session.ws_connect(url) as ws:
        first = [await recv(ws), await recv(ws)]  # one push each, right after subscribing
        by_stream = {m["stream"]: m["data"] for m in first}
        depth, top = by_stream["btcusdt@depth5@100ms"], by_stream["btcusdt@bookTicker"]
        assert depth == {
            "e": "depthUpdate",
            "E": depth["E"],
            "T": depth["T"],
            "s": "BTCUSDT",
            "U": version(env),
            "u": version(env),
            "pu": version(env) - 1,
            "b": [[fmt(p), fmt(q)] for p, q in BTC_BIDS],
            "a": [[fmt(p), fmt(q)] for p, q in BTC_ASKS],
        }
        assert top == {
            "e": "bookTicker",
            "u": version(env),
            "E": top["E"],
            "T": top["T"],
            "s": "BTCUSDT",
            "b": "49995",
            "B": "0.5",
            "a": "50005",
            "A": "0.5",
        }
        before = version(env)
        bids = [(D(49_999 - i), D(i + 1)) for i in range(7)]
        env.quote(bids, [(D("50001.0"), D("2"))])
        pushed = {m["stream"]: m["data"] for m in [await recv(ws), await recv(ws)]}
        depth, top = pushed["btcusdt@depth5@100ms"], pushed["btcusdt@bookTicker"]
        assert (depth["U"], depth["u"], depth["pu"]) == (before + 1, version(env), before)
        assert depth["b"] == [[str(49_999 - i), str(i + 1)] for i in range(5)]  # the top 5
        assert depth["a"] == [["50001", "2"]]
        assert (top["u"], top["b"], top["B"], top["a"], top["A"]) == (
            version(env),
            "49999",
            "1",
            "50001",
            "2",
        )


def fmt(x: Decimal) -> str:
    return format(x.normalize(), "f")


async def test_market_streams_carry_the_24h_ticker(
    env: VenueEnv, session: aiohttp.ClientSession, binance: Any
) -> None:
    await binance.create_order(CCXT_BTC, "market", "buy", 0.6)  # 0.5 @ 50005, 0.1 @ 50010
    async with session.get(f"{env.url}/fapi/v1/ticker/24hr?symbol=BTCUSDT") as r:
        rest = await r.json()
    async with session.ws_connect(ws_url(env, "/market/ws/btcusdt@ticker")) as ws:
        t = await recv(ws)
    assert t == {
        "e": "24hrTicker",
        "E": t["E"],
        "s": "BTCUSDT",
        "p": "5",
        "P": "0.01",
        "w": rest["weightedAvgPrice"],
        "c": "50010",
        "Q": "0.1",
        "o": "50005",
        "h": "50010",
        "l": "50005",
        "v": "0.6",
        "q": rest["quoteVolume"],
        "O": rest["openTime"],
        "C": t["C"],
        "F": rest["firstId"],
        "L": rest["lastId"],
        "n": 2,
    }
    # a market stream on a public connection is accepted and pushes nothing (as on Binance):
    # subscribed before the bookTicker, it would come first in the same sampler round
    async with session.ws_connect(ws_url(env, "/public/ws")) as ws:
        sub = {"method": "SUBSCRIBE", "params": ["btcusdt@ticker", "btcusdt@bookTicker"], "id": 1}
        assert await call(ws, sub) == {"result": None, "id": 1}
        assert (await recv(ws))["e"] == "bookTicker"


async def test_switches_refuse_and_drop_connections(
    env: VenueEnv, session: aiohttp.ClientSession
) -> None:
    streams = env.facade.streams
    async with session.ws_connect(ws_url(env, "/ws/btcusdt@bookTicker")) as ws:
        assert (await recv(ws))["e"] == "bookTicker"
        streams.accepting = False
        await streams.disconnect_all()
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await session.ws_connect(ws_url(env, "/ws"))
    assert e.value.status == 503
    streams.accepting = True
    async with session.ws_connect(ws_url(env, "/ws/btcusdt@bookTicker")) as ws:
        assert (await recv(ws))["e"] == "bookTicker"


# ---- ccxt's sync recipe over the sans-I/O feed, on random books --------------------------


def _replay(
    rng: random.Random, steps: int, rate_ms: int
) -> tuple[list[dict[Decimal, Decimal]], list[dict[Decimal, Decimal]]]:
    """Random requotes and trades; a REST snapshot at a random step; ccxt's futures recipe
    applied to the events from there on. Returns (local bids, feed bids) after every push."""
    x = Exchange(seed=1, now_ms=0)
    mm = x.open_account(AccountKind.MARKET_MAKER, D(10**9))
    trader = x.open_account(AccountKind.TRADER, D(10**7))
    x.set_index(BTC, D(50_000))
    x.set_index(ETH, D(3_000))

    state = SimpleNamespace(exchange=x, to_engine={"BTCUSDT": BTC}, now_ms=lambda: x.now_ms)
    feeds = BookFeeds(state)  # type: ignore[arg-type]  # the two fields a feed reads
    feed = feeds.feed("BTCUSDT")
    spec = StreamSpec("btcusdt@depth", "BTCUSDT", "diff", 0, rate_ms)
    sub = Subscription(spec, feed, x.instruments[BTC])
    feed.listeners.add(sub)
    snap_at = rng.randrange(steps)
    snapshot: tuple[int, dict[Decimal, Decimal], dict[Decimal, Decimal]] | None = None
    cache: list[dict[str, Any]] = []
    local: tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]] | None = None
    nonce = -1
    got, want = [], []
    mono = 0.0
    for step in range(steps):
        if rng.random() < 0.7:
            n = rng.randrange(0, 4)
            bids = [(D(49_990 - 5 * rng.randrange(4)), D(rng.randrange(1, 4))) for _ in range(n)]
            asks = [(D(50_010 + 5 * rng.randrange(4)), D(rng.randrange(1, 4))) for _ in range(n)]
            x.replace_quotes(mm, BTC, sorted(set(bids), reverse=True), sorted(set(asks)))
        else:
            side = rng.choice([Side.BUY, Side.SELL])
            with_price = D(50_100) if side is Side.BUY else D(49_900)
            with contextlib.suppress(ExchangeError):  # e.g. margin, as positions grow
                x.place_order(trader, BTC, side, D(rng.randrange(1, 3)), with_price, "IOC")
        if step == snap_at:  # REST: publish, then read (lastUpdateId, levels)
            f = feeds.synced("BTCUSDT")
            snapshot = (f.update_id, dict(f.bids), dict(f.asks))
        mono += 0.1
        feed.sync(x.now_ms)
        ev = sub.poll(mono, x.now_ms, lambda inst: {})
        if ev is None:
            continue
        if snapshot is None:
            cache.append(ev)
            continue
        if local is None:  # the snapshot arrives: unroll the cache like ccxt does
            nonce, b, a = snapshot
            local = (b, a)
            events, cache = [*cache, ev], []
        else:
            events = [ev]
        for e in events:
            if e["u"] < nonce:
                continue
            assert e["U"] <= nonce or e["pu"] == nonce, (e, nonce)
            for p, q in e["b"]:
                if D(q) == 0:
                    local[0].pop(D(p), None)
                else:
                    local[0][D(p)] = D(q)
            for p, q in e["a"]:
                if D(q) == 0:
                    local[1].pop(D(p), None)
                else:
                    local[1][D(p)] = D(q)
            nonce = e["u"]
        assert nonce == feed.update_id  # the live event applied: the book as of now
        got.append(dict(local[0]))
        want.append(dict(feed.bids))
        assert local[1] == feed.asks
    return got, want


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), rate=st.sampled_from([100, 250, 500]))
def test_ccxt_sync_recipe_rebuilds_the_book(seed: int, rate: int) -> None:
    got, want = _replay(random.Random(seed), 40, rate)
    assert got == want


# ---- the real ccxt.pro client ------------------------------------------------------------


@pytest.fixture
async def pro(env: VenueEnv) -> AsyncIterator[Any]:
    ex = local_binance(env.url, rate_limit_ms=1, timeout_ms=3000, pro=True)
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()


def levels(side: list[list[float]]) -> list[tuple[Decimal, Decimal]]:
    return [(D(str(p)), D(str(q))) for p, q in side]


async def next_book(pro: Any, until: Callable[[Any], bool], symbol: str = CCXT_BTC) -> Any:
    async def wait() -> Any:
        while True:
            book = await pro.watch_order_book(symbol, 20)
            if until(book):
                return book

    return await asyncio.wait_for(wait(), TIMEOUT)


async def test_ccxt_pro_watch_order_book_follows_the_engine_book(
    env: VenueEnv, pro: Any, binance: Any
) -> None:
    assert pro.urls["api"]["ws"]["linear"] == ws_url(env, "/ws")
    book = await asyncio.wait_for(pro.watch_order_book(CCXT_BTC, 20), TIMEOUT)
    assert levels(book["bids"]) == BTC_BIDS and levels(book["asks"]) == BTC_ASKS
    assert book["nonce"] == version(env)

    new_bids = [(D("49996.0"), D("0.4")), (D("49990.0"), D("0.5"))]
    new_asks = [(D("50004.0"), D("0.9"))]
    env.quote(new_bids, new_asks)
    book = await next_book(pro, lambda b: levels(b["bids"]) == new_bids)
    assert levels(book["asks"]) == new_asks and book["nonce"] == version(env)

    await binance.create_order(CCXT_BTC, "market", "buy", 0.5)  # leaves 0.4 @ 50004
    book = await next_book(pro, lambda b: levels(b["asks"]) == [(D("50004.0"), D("0.4"))])
    assert levels(book["bids"]) == new_bids

    top = await asyncio.wait_for(pro.watch_bids_asks([CCXT_BTC]), TIMEOUT)
    t = top[CCXT_BTC]
    assert (t["bid"], t["bidVolume"], t["ask"], t["askVolume"]) == (49996.0, 0.4, 50004.0, 0.4)
    ticker = await asyncio.wait_for(pro.watch_ticker(CCXT_BTC), TIMEOUT)
    assert ticker["last"] == 50004.0 and ticker["symbol"] == CCXT_BTC


async def test_ccxt_pro_two_symbols_and_a_second_client(env: VenueEnv, pro: Any) -> None:
    eth = await asyncio.wait_for(pro.watch_order_book("ETH/USDT:USDT", 20), TIMEOUT)
    assert levels(eth["bids"]) == [(D("2999.00"), D("5")), (D("2998.00"), D("5"))]
    other = local_binance(env.url, rate_limit_ms=1, pro=True)
    try:
        btc = await asyncio.wait_for(other.watch_order_book(CCXT_BTC, 20), TIMEOUT)
        assert levels(btc["bids"]) == BTC_BIDS
        env.quote([(D("49000.0"), D("1"))], [(D("51000.0"), D("1"))])
        btc = await next_book(other, lambda b: levels(b["bids"]) == [(D("49000.0"), D("1"))])
        assert levels(btc["asks"]) == [(D("51000.0"), D("1"))]
    finally:
        await other.close()
