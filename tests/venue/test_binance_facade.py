"""The unmodified ccxt `binanceusdm` class against the engine's Binance facade, values checked
against the engine's own state, and each error case against the ccxt class it must raise."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import pytest
from ccxt.base import errors as cx

from blp_client.engine.binance.state import PRUNE_EVERY, USER_TRADES_KEPT
from blp_client.engine.core import OrderStatus, Side
from blp_client.engine.core.exchange import CLOSED_ORDERS_KEPT
from blp_client.engine.core.margin import liquidation_price
from blp_client.engine.faults import FaultConfig

from .conftest import ADMIN_TOKEN, BTC, BTC_ASKS, BTC_BIDS, ETH, VenueEnv

D = Decimal
SYM = "BTC/USDT:USDT"


def dd(x: Any) -> Decimal:
    return Decimal(str(x))


async def test_load_markets_from_exchange_info_only_public(env: VenueEnv, binance: Any) -> None:
    assert isinstance(binance, ccxt_async.binanceusdm)
    m = binance.market(SYM)
    assert m["id"] == "BTCUSDT" and m["swap"] and m["linear"] and m["settle"] == "USDT"
    assert dd(m["precision"]["amount"]) == D("0.001")
    assert dd(m["precision"]["price"]) == D("0.1")
    assert dd(m["limits"]["amount"]["min"]) == D("0.001")
    assert dd(m["limits"]["cost"]["min"]) == D("5")
    assert binance.market("ETH/USDT:USDT")["precision"]["amount"] == 0.01
    # every URL ccxt could use points at the local facade
    for url_set in ("api", "test", "demo"):
        for name, url in binance.urls.get(url_set, {}).items():
            assert isinstance(url, str) and url.startswith(env.url), (url_set, name, url)
    paths = [(r.method, r.path) for r in env.facade.request_log]
    assert ("GET", "/fapi/v1/exchangeInfo") in paths
    assert ("GET", "/fapi/v1/time") in paths  # adjustForTimeDifference
    assert env.facade.private_requests() == []


async def test_order_book_ticker_and_premium_index(env: VenueEnv, binance: Any) -> None:
    book = await binance.fetch_order_book(SYM, 5)
    assert [(dd(p), dd(q)) for p, q in book["bids"]] == BTC_BIDS
    assert [(dd(p), dd(q)) for p, q in book["asks"]] == BTC_ASKS
    assert book["nonce"] is not None
    # a trade by another account shows up in the 24 h ticker
    other = env.exchange.open_account(collateral=D(100_000))
    env.exchange.place_order(other, BTC, "buy", D("0.6"), None)
    ticker = await binance.fetch_ticker(SYM)
    assert dd(ticker["last"]) == D("50010.0")
    assert dd(ticker["baseVolume"]) == D("0.6")
    assert dd(ticker["quoteVolume"]) == D("0.5") * D("50005.0") + D("0.1") * D("50010.0")
    assert dd(ticker["high"]) == D("50010.0") and dd(ticker["low"]) == D("50005.0")
    prem = await binance.fapiPublicGetPremiumIndex({"symbol": "BTCUSDT"})
    assert D(prem["markPrice"]) == env.exchange.marks[BTC]
    assert D(prem["indexPrice"]) == env.exchange.index[BTC]
    bt = await binance.fapiPublicGetTickerBookTicker({"symbol": "BTCUSDT"})
    assert D(bt["bidPrice"]) == D("49995.0")
    assert D(bt["askPrice"]) == D("50010.0") and D(bt["askQty"]) == D("0.4")


async def test_market_order_walks_the_real_book(env: VenueEnv, binance: Any) -> None:
    order = await binance.create_order(SYM, "market", "buy", 0.7, None, {"clientOrderId": "m-1"})
    assert order["clientOrderId"] == "m-1"
    assert order["status"] == "closed"
    assert dd(order["filled"]) == D("0.7")
    vwap = (D("0.5") * D("50005.0") + D("0.2") * D("50010.0")) / D("0.7")
    assert abs(dd(order["average"]) - vwap) < D("0.00000001")
    engine_order = env.exchange.order_by_client_id(env.trader, "m-1")
    assert engine_order.status is OrderStatus.FILLED
    assert str(engine_order.id) == order["id"]
    assert env.changes, "on_change is called after mutating requests"

    fetched = await binance.fetch_order(order["id"], SYM)
    assert fetched["status"] == "closed" and dd(fetched["filled"]) == D("0.7")
    by_cid = await binance.fetch_order(None, SYM, {"clientOrderId": "m-1"})
    assert by_cid["id"] == order["id"]

    trades = await binance.fetch_my_trades(SYM)
    assert [(dd(t["price"]), dd(t["amount"])) for t in trades] == [
        (D("50005.0"), D("0.5")),
        (D("50010.0"), D("0.2")),
    ]
    assert all(t["order"] == order["id"] and t["side"] == "buy" for t in trades)
    assert all(t["takerOrMaker"] == "taker" for t in trades)
    fees = [dd(t["fee"]["cost"]) for t in trades]
    assert fees == [
        D("0.5") * D("50005.0") * D("0.0006"),
        D("0.2") * D("50010.0") * D("0.0006"),
    ]
    assert sum(fees) == env.exchange.account(env.trader).fees_paid

    positions = await binance.fetch_positions([SYM])
    assert len(positions) == 1
    p = positions[0]
    acct = env.exchange.account(env.trader)
    pos = acct.positions[BTC]
    assert p["side"] == "long" and dd(p["contracts"]) == D("0.7")
    assert abs(dd(p["entryPrice"]) - pos.cost / pos.qty) < D("0.00000001")
    assert dd(p["markPrice"]) == env.exchange.marks[BTC]
    assert dd(p["unrealizedPnl"]) == (pos.qty * env.exchange.marks[BTC] - pos.cost).quantize(
        D("0.00000001")
    )
    # 0.7 BTC on 100k collateral: no price liquidates it (Binance reports 0, ccxt None)
    assert liquidation_price(acct.cash, pos, env.exchange.instruments[BTC]) == 0
    assert p["liquidationPrice"] is None

    balance = await binance.fetch_balance()
    snap = env.exchange.margin(env.trader)
    assert dd(balance["USDT"]["total"]) == snap.equity.quantize(D("0.00000001"))
    assert dd(balance["USDT"]["used"]) == snap.im.quantize(D("0.00000001"))
    assert dd(balance["USDT"]["free"]) == (snap.equity - snap.im).quantize(D("0.00000001"))


async def test_limit_order_rests_then_cancel(env: VenueEnv, binance: Any) -> None:
    order = await binance.create_order(
        SYM, "limit", "buy", 0.1, 49000.0, {"clientOrderId": "l-1", "timeInForce": "GTC"}
    )
    assert order["status"] == "open" and dd(order["filled"]) == 0
    assert dd(order["price"]) == D("49000.0")
    engine_order = env.exchange.order_by_client_id(env.trader, "l-1")
    assert engine_order.is_open and engine_order.price == D("49000.0")
    assert env.exchange.books[BTC].depth(Side.BUY, 5)[-1] == (D("49000.0"), D("0.1"))

    open_orders = await binance.fetch_open_orders(SYM)
    assert [o["clientOrderId"] for o in open_orders] == ["l-1"]
    balance = await binance.fetch_balance()
    assert dd(balance["USDT"]["used"]) > 0  # open-order initial margin

    cancelled = await binance.cancel_order(order["id"], SYM)
    assert cancelled["status"] == "canceled"
    assert engine_order.status is OrderStatus.CANCELLED
    assert await binance.fetch_open_orders(SYM) == []
    again = await binance.fetch_order(None, SYM, {"clientOrderId": "l-1"})
    assert again["status"] == "canceled"
    with pytest.raises(cx.OrderNotFound):  # -2011: already cancelled
        await binance.cancel_order(order["id"], SYM)
    orders = await binance.fetch_orders(SYM)
    assert [o["clientOrderId"] for o in orders] == ["l-1"]


async def test_marketable_limit_and_reduce_only(env: VenueEnv, binance: Any) -> None:
    buy = await binance.create_order(
        SYM, "limit", "buy", 0.8, 50010.0, {"clientOrderId": "b-1"}
    )  # takes 0.5@50005 + 0.3@50010
    assert buy["status"] == "closed" and dd(buy["filled"]) == D("0.8")
    # reduce-only larger than the position is clipped to it
    sell = await binance.create_order(
        SYM, "market", "sell", 1.5, None, {"clientOrderId": "r-1", "reduceOnly": True}
    )
    assert dd(sell["filled"]) == D("0.8")
    assert sell["reduceOnly"] is True
    assert env.exchange.account(env.trader).qty(BTC) == 0
    assert await binance.fetch_positions([SYM]) == []
    with pytest.raises(cx.InvalidOrder, match="-2022"):  # nothing left to reduce
        await binance.create_order(
            SYM, "market", "sell", 0.1, None, {"clientOrderId": "r-2", "reduceOnly": True}
        )
    # IOC limit: what crosses fills, the rest expires
    ioc = await binance.create_order(
        SYM, "limit", "buy", 0.5, 50010.0, {"clientOrderId": "i-1", "timeInForce": "IOC"}
    )
    assert ioc["status"] == "expired" and dd(ioc["filled"]) == D("0.2")
    assert ioc["timeInForce"] == "IOC"
    with pytest.raises(cx.OrderNotFillable):  # FOK that cannot fill (-5021)
        await binance.create_order(
            SYM, "limit", "buy", 5, 50015.0, {"clientOrderId": "f-1", "timeInForce": "FOK"}
        )
    with pytest.raises(cx.OrderNotFillable):  # post-only that would take (-5022)
        await binance.create_order(SYM, "limit", "buy", 0.1, 50015.0, {"postOnly": True})


async def test_set_leverage_and_positions(env: VenueEnv, binance: Any) -> None:
    res = await binance.set_leverage(10, SYM)
    assert res["leverage"] == 10 and res["symbol"] == "BTCUSDT"
    await binance.create_order(SYM, "market", "sell", 0.3, None, {"clientOrderId": "s-1"})
    [p] = await binance.fetch_positions([SYM], {"useV2": True})
    assert p["leverage"] == 10 and p["side"] == "short" and dd(p["contracts"]) == D("0.3")
    acct = env.exchange.account(env.trader)
    expected_liq = liquidation_price(acct.cash, acct.positions[BTC], env.exchange.instruments[BTC])
    assert expected_liq > 100_000
    assert abs(dd(p["liquidationPrice"]) - expected_liq) < D("0.00000001")
    with pytest.raises(cx.BadRequest):  # -4028: above the first tier's 100x
        await binance.set_leverage(101, SYM)
    eth = await binance.set_leverage(5, "ETH/USDT:USDT")
    assert eth["leverage"] == 5 and env.facade._leverage[(env.trader, ETH)] == 5


async def test_new_client_order_id_is_unique_per_account(env: VenueEnv, binance: Any) -> None:
    await binance.create_order(SYM, "limit", "buy", 0.1, 49000.0, {"clientOrderId": "dup"})
    with pytest.raises(cx.InvalidOrder, match="-4116"):
        await binance.create_order(SYM, "limit", "buy", 0.1, 49000.0, {"clientOrderId": "dup"})
    assert len(env.orders_with_cid("dup")) == 1
    # another account may use the same id
    other = env.exchange.open_account(collateral=D(10_000))
    key, secret = env.facade.add_api_key(other)
    ex2 = env.ccxt()
    ex2.apiKey, ex2.secret = key, secret
    try:
        o = await ex2.create_order(SYM, "limit", "buy", 0.1, 49000.0, {"clientOrderId": "dup"})
        assert o["clientOrderId"] == "dup"
    finally:
        await ex2.close()


async def test_error_insufficient_funds(env: VenueEnv) -> None:
    poor = env.exchange.open_account(collateral=D(1_000))
    key, secret = env.facade.add_api_key(poor)
    ex = env.ccxt()
    ex.apiKey, ex.secret = key, secret
    try:
        with pytest.raises(cx.InsufficientFunds, match="-2019"):
            await ex.create_order(SYM, "limit", "buy", 2, 50000.0)
    finally:
        await ex.close()


async def test_error_invalid_order_filters(env: VenueEnv, binance: Any) -> None:
    with pytest.raises(cx.InvalidOrder, match="-4164"):  # notional 1 USDT < 5
        await binance.create_order(SYM, "limit", "buy", 0.001, 1000.0)
    with pytest.raises(cx.InvalidOrder, match="LOT_SIZE"):  # -1111, sent raw past ccxt rounding
        await binance.fapiPrivatePostOrder(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0015"}
        )
    with pytest.raises(cx.InvalidOrder, match="PRICE_FILTER"):
        await binance.fapiPrivatePostOrder(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.1",
                "price": "49000.05",
                "timeInForce": "GTC",
            }
        )
    with pytest.raises(cx.BadSymbol):  # -1121
        await binance.fapiPrivatePostOrder(
            {"symbol": "XYZUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}
        )
    assert not [o for o in env.exchange.orders.values() if o.account_id == env.trader]
    assert not env.exchange.open_orders.get(env.trader)


async def test_error_order_not_found(binance: Any) -> None:
    with pytest.raises(cx.OrderNotFound, match="-2013"):
        await binance.fetch_order("987654", SYM)
    with pytest.raises(cx.OrderNotFound, match="-2013"):
        await binance.fetch_order(None, SYM, {"clientOrderId": "nope"})
    with pytest.raises(cx.OrderNotFound, match="-2011"):
        await binance.cancel_order("987654", SYM)


async def test_error_authentication(env: VenueEnv) -> None:
    bad_secret = env.ccxt()
    bad_secret.secret = "not-the-secret"
    unknown_key = env.ccxt()
    unknown_key.apiKey = "unknown"
    try:
        with pytest.raises(cx.AuthenticationError, match="-1022"):
            await bad_secret.fetch_balance()
        with pytest.raises(cx.AuthenticationError, match="-2015"):
            await unknown_key.fetch_balance()
    finally:
        await bad_secret.close()
        await unknown_key.close()


async def test_error_invalid_nonce(binance: Any) -> None:
    await binance.fetch_balance()
    binance.options["timeDifference"] = 120_000  # our clock 2 min behind the server's
    with pytest.raises(cx.InvalidNonce, match="-1021"):
        await binance.fetch_balance()
    binance.options["timeDifference"] = -5_000  # 5 s ahead
    with pytest.raises(cx.InvalidNonce, match="-1021"):
        await binance.fetch_balance()


async def test_error_rate_limited_429_and_418(env: VenueEnv, binance: Any) -> None:
    env.facade.faults.start_burst(2)
    with pytest.raises(cx.DDoSProtection):
        await binance.fetch_order_book(SYM)
    with pytest.raises(cx.DDoSProtection):
        await binance.fetch_balance()
    await binance.fetch_balance()  # burst over
    env.facade.set_faults(FaultConfig(burst_429_rate=1.0, burst_429_length=1, burst_status=418))
    with pytest.raises(cx.DDoSProtection, match="418"):
        await binance.fetch_ticker(SYM)
    faults = [r.fault for r in env.facade.request_log if r.fault]
    assert faults == ["rate_limited"] * 3


async def test_faults_5xx_latency_partial_fill(env: VenueEnv, binance: Any) -> None:
    env.facade.set_faults(FaultConfig(error_5xx_rate=1.0))
    with pytest.raises(cx.ExchangeNotAvailable):
        await binance.create_order(SYM, "market", "buy", 0.1, None, {"clientOrderId": "x-1"})
    assert env.orders_with_cid("x-1") == []  # a 5xx fault answers before doing anything
    env.facade.set_faults(FaultConfig(latency_ms=20))
    await binance.fetch_order_book(SYM)
    assert env.facade.request_log[-1].fault == "latency"
    env.facade.set_faults(FaultConfig(partial_fill_rate=1.0, seed=7))
    order = await binance.create_order(SYM, "market", "buy", 1.0, None, {"clientOrderId": "p-1"})
    filled = dd(order["filled"])
    assert order["status"] == "expired" and dd(order["amount"]) == D("1")
    assert D("0.2") <= filled <= D("0.8")
    [engine_order] = env.orders_with_cid("p-1")
    assert engine_order.filled == filled
    assert env.exchange.account(env.trader).qty(BTC) == filled
    assert env.facade.faults.counts["partial_fill"] == 1


async def test_admin_routes(env: VenueEnv) -> None:
    base = env.url
    async with aiohttp.ClientSession() as s:
        async with s.put(f"{base}/admin/v1/venue/faults", json={"latency_ms": 5}) as r:
            assert r.status == 401
        hdr = {"X-ADMIN-TOKEN": ADMIN_TOKEN}
        async with s.put(
            f"{base}/admin/v1/venue/faults", json={"error_5xx_rate": 0.25, "seed": 3}, headers=hdr
        ) as r:
            assert r.status == 200
            assert (await r.json())["error_5xx_rate"] == 0.25
        assert env.facade.faults.config.error_5xx_rate == 0.25
        async with s.put(
            f"{base}/admin/v1/venue/faults", json={"error_5xx_rate": 2}, headers=hdr
        ) as r:
            assert r.status == 400
        async with s.put(f"{base}/admin/v1/venue/faults", json={"bogus": 1}, headers=hdr) as r:
            assert r.status == 400 and "bogus" in (await r.json())["message"]
        async with s.delete(f"{base}/admin/v1/venue/faults", headers=hdr) as r:
            assert (await r.json())["error_5xx_rate"] == 0
        async with s.post(
            f"{base}/admin/v1/venue/keys", json={"collateral": "2500"}, headers=hdr
        ) as r:
            created = await r.json()
        for bad in ("lots", "NaN", "Infinity", True, 1.5):  # finite str/int only
            async with s.post(
                f"{base}/admin/v1/venue/keys", json={"collateral": bad}, headers=hdr
            ) as r:
                body = await r.json()
                assert r.status == 400 and "collateral must be a decimal" in body["message"], bad
        async with s.post(
            f"{base}/admin/v1/venue/faults/burst", json={"length": 3}, headers=hdr
        ) as r:
            assert (await r.json()) == {"burst_left": 3}
        async with s.post(
            f"{base}/admin/v1/venue/faults/burst", json={"length": 0}, headers=hdr
        ) as r:
            assert (await r.json()) == {"burst_left": 0}
    assert env.exchange.account(created["account_id"]).cash == D(2500)
    ex = env.ccxt()
    ex.apiKey, ex.secret = created["api_key"], created["api_secret"]
    try:
        bal = await ex.fetch_balance()
        assert dd(bal["USDT"]["total"]) == D(2500)
    finally:
        await ex.close()
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{base}/admin/v1/venue/requests", headers=hdr) as r,
    ):
        log_text = await r.text()
    signed = [r for r in json.loads(log_text) if r["account_id"] == created["account_id"]]
    assert signed and all(r["signed"] for r in signed)  # the balance call is in the log
    assert created["api_key"] not in log_text and created["api_secret"] not in log_text


async def test_raw_endpoints_shapes(env: VenueEnv, binance: Any) -> None:
    assert await binance.fapiPublicGetPing() == {}
    t = await binance.fapiPublicGetTime()
    assert abs(t["serverTime"] - env.facade.now_ms()) < 5_000
    await binance.create_order(SYM, "market", "buy", 0.2, None, {"clientOrderId": "raw-1"})
    [bal] = await binance.fapiPrivateV2GetBalance()
    acct = env.exchange.account(env.trader)
    assert bal["asset"] == "USDT" and D(bal["balance"]) == acct.cash
    v2 = await binance.fapiPrivateV2GetAccount()
    assert D(v2["totalWalletBalance"]) == acct.cash
    assert {p["symbol"] for p in v2["positions"]} == {"BTCUSDT", "ETHUSDT"}  # v2: every symbol
    v3 = await binance.fapiPrivateV3GetAccount()
    assert [p["symbol"] for p in v3["positions"]] == ["BTCUSDT"]  # v3: only open ones
    risk = await binance.fapiPrivateV2GetPositionRisk({"symbol": "BTCUSDT"})
    assert D(risk[0]["positionAmt"]) == D("0.2") and risk[0]["leverage"] == "20"
    brackets = await binance.fapiPrivateGetLeverageBracket({"symbol": "BTCUSDT"})  # one object
    tiers = env.exchange.instruments[BTC].tiers
    assert [b["notionalFloor"] for b in brackets["brackets"]] == [int(t.floor) for t in tiers]
    assert brackets["brackets"][0]["initialLeverage"] == 100
    rate = await binance.fapiPrivateGetCommissionRate({"symbol": "BTCUSDT"})
    assert D(rate["takerCommissionRate"]) == D("0.0006")
    all_orders = await binance.fapiPrivateGetAllOrders({"symbol": "BTCUSDT"})
    assert [o["clientOrderId"] for o in all_orders] == ["raw-1"]
    assert all_orders[0]["status"] == "FILLED" and all_orders[0]["type"] == "MARKET"


async def test_all_orders_and_user_trades_windows(env: VenueEnv, binance: Any) -> None:
    for i in range(3):
        await binance.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": f"w-{i}"})
    q = {"symbol": "BTCUSDT"}
    orders = await binance.fapiPrivateGetAllOrders(q)
    assert [o["clientOrderId"] for o in orders] == ["w-0", "w-1", "w-2"]
    first = orders[0]["orderId"]
    latest = await binance.fapiPrivateGetAllOrders({**q, "limit": 2})
    assert [o["clientOrderId"] for o in latest] == ["w-1", "w-2"]  # no start: the latest
    from_id = await binance.fapiPrivateGetAllOrders({**q, "orderId": first, "limit": 2})
    assert [o["clientOrderId"] for o in from_id] == ["w-0", "w-1"]  # from an id: the first
    trades = await binance.fapiPrivateGetUserTrades(q)
    assert len(trades) >= 3
    last_ids = [t["id"] for t in trades[-2:]]
    assert [t["id"] for t in await binance.fapiPrivateGetUserTrades({**q, "limit": 2})] == last_ids
    later = await binance.fapiPrivateGetUserTrades({**q, "fromId": trades[1]["id"]})
    assert [t["id"] for t in later] == [t["id"] for t in trades[1:]]
    none = await binance.fapiPrivateGetUserTrades({**q, "endTime": trades[0]["time"] - 1})
    assert none == []


async def test_orders_past_the_window_answer_order_does_not_exist(
    env: VenueEnv, binance: Any
) -> None:
    """The engine keeps the latest CLOSED_ORDERS_KEPT closed orders per account; the facade's
    per-order details go with them, and an older order answers -2013 like Binance's."""
    first = await binance.create_order(SYM, "limit", "buy", 0.01, 40000.0, {"clientOrderId": "old"})
    await binance.cancel_order(first["id"], SYM)
    x, st = env.exchange, env.facade.state
    for i in range(CLOSED_ORDERS_KEPT + PRUNE_EVERY):  # through the engine: the facade observes
        o = x.place_order(env.trader, BTC, "buy", D("0.01"), D("40000.0"), "GTC", False, f"n{i}")
        x.cancel_order(env.trader, o.id)
    with pytest.raises(cx.OrderNotFound, match="-2013"):
        await binance.fetch_order(first["id"], SYM)
    with pytest.raises(cx.OrderNotFound, match="-2013"):
        await binance.fetch_order(None, SYM, {"clientOrderId": "old"})
    assert (await binance.fetch_order(str(o.id), SYM))["clientOrderId"] == o.client_order_id
    assert len(st.order_updated) <= CLOSED_ORDERS_KEPT + PRUNE_EVERY
    assert int(first["id"]) not in st.user_cancelled and int(first["id"]) not in st.order_updated
    assert len(await binance.fapiPrivateGetAllOrders({"symbol": "BTCUSDT", "limit": 1000})) == 1000


async def test_user_trades_keep_the_latest_window(env: VenueEnv, binance: Any) -> None:
    """Own trades past USER_TRADES_KEPT per account are no longer kept nor served."""
    x = env.exchange
    env.quote([(D("49995.0"), D("1000"))], [(D("50005.0"), D("1000"))])
    for i in range(USER_TRADES_KEPT + 20):  # one fill each, through the engine
        x.place_order(env.trader, BTC, "buy" if i % 2 == 0 else "sell", D("0.001"))
    kept = env.facade.state.user_trades[env.trader]
    assert len(kept) == USER_TRADES_KEPT
    q = {"symbol": "BTCUSDT", "limit": 1000}
    oldest = await binance.fapiPrivateGetUserTrades({**q, "fromId": 0})
    assert int(oldest[0]["id"]) == kept[0].id  # the first 20 are gone
    latest = await binance.fapiPrivateGetUserTrades(q)
    assert int(latest[-1]["id"]) == kept[-1].id
