"""Every answer of the local Binance USDⓈ-M venue carries every field Binance documents for its
endpoint, with Binance's types: strict clients of other frameworks decode all of them.

`DOCUMENTED` holds, per served route, the documented field list taken from Binance's USDⓈ-M
documentation (the URL above each entry; the response examples as mirrored in
github.com/rosssaunders/coincise, docs/binance/usdm/endpoints/). Fields Binance documents for
features the venue does not have are left out and named in a comment (`activatePrice` and
`priceRate` "only return with TRAILING_STOP_MARKET order"). Extra fields are allowed: clients
must ignore unknown ones, and Binance itself adds fields over time.

The test walks the venue's own route table (`BinanceFacade.rest_routes`) and stream kinds
(`streams.Kind`), so a new endpoint or stream without a field list here fails. Each answer is a
real one, read over a real socket from a venue on 127.0.0.1. To add an endpoint: an entry in
`DOCUMENTED` (and, if it needs parameters, in `CALLS`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args
from urllib.parse import urlencode

import aiohttp
import pytest

from blp_client.engine.binance import API_KEY_HEADER, BinanceFacade
from blp_client.engine.binance.auth import sign
from blp_client.engine.binance.streams import Kind
from blp_client.engine.core import Exchange

from .conftest import BTC, VenueEnv

D = Decimal
TIMEOUT = 5.0
DOCS = "https://developers.binance.com/docs/derivatives/usds-margined-futures/"

# ---- Binance's types ----------------------------------------------------------------------

Spec = Any  # a type token, a nested object {field: Spec}, [Spec] (a list of), or a checker
Checker = Callable[[Any, str], list[str]]
_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


def _token(name: str, ok: Callable[[Any], bool]) -> Checker:
    def check(value: Any, where: str) -> list[str]:
        return [] if ok(value) else [f"{where}: {value!r} is not {name}"]

    check.__name__ = name
    return check


DEC = _token("a decimal string", lambda v: isinstance(v, str) and bool(_DECIMAL_RE.fullmatch(v)))
DEC_OR_NULL = _token(
    "a decimal string or null",
    lambda v: v is None or (isinstance(v, str) and bool(_DECIMAL_RE.fullmatch(v))),
)
STR = _token("a string", lambda v: isinstance(v, str))
BOOL = _token("a boolean", lambda v: isinstance(v, bool))
INT = _token("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
NUM = _token("a JSON number", lambda v: isinstance(v, int | float) and not isinstance(v, bool))
LEVELS = [[DEC, DEC]]  # [[price, qty], ...]


def mismatches(value: Any, spec: Spec, where: str = "$") -> list[str]:
    """Every way `value` falls short of `spec` (missing fields, wrong types), by JSON path."""
    if callable(spec):
        return spec(value, where)  # type: ignore[no-any-return]
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} is not an object"]
        out: list[str] = []
        for name, sub in spec.items():
            if name not in value:
                out.append(f"{where}.{name}: missing")
            else:
                out += mismatches(value[name], sub, f"{where}.{name}")
        return out
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__} is not a list"]
        if len(spec) == 1:  # a list of
            return [e for i, v in enumerate(value) for e in mismatches(v, spec[0], f"{where}[{i}]")]
        if len(value) != len(spec):  # a tuple, e.g. [price, qty]
            return [f"{where}: {len(value)} items, documented {len(spec)}"]
        pairs = enumerate(zip(value, spec, strict=True))
        return [e for i, (v, s) in pairs for e in mismatches(v, s, f"{where}[{i}]")]
    raise AssertionError(f"bad spec {spec!r}")


# ---- the documented field lists ------------------------------------------------------------

# exchangeInfo filters, by filterType (the ones the venue serves; Binance also lists
# MAX_NUM_ALGO_ORDERS and PERCENT_PRICE, filters the engine does not enforce, so not served)
FILTERS: dict[str, Spec] = {
    "PRICE_FILTER": {"minPrice": DEC, "maxPrice": DEC, "tickSize": DEC},
    "LOT_SIZE": {"minQty": DEC, "maxQty": DEC, "stepSize": DEC},
    "MARKET_LOT_SIZE": {"minQty": DEC, "maxQty": DEC, "stepSize": DEC},
    "MAX_NUM_ORDERS": {"limit": INT},
    "MIN_NOTIONAL": {"notional": DEC},
}


def _filter(value: Any, where: str) -> list[str]:
    kind = value.get("filterType") if isinstance(value, dict) else None
    if kind not in FILTERS:
        return [f"{where}: unknown filterType {kind!r}"]
    return mismatches(value, FILTERS[kind], where)


# the order object; activatePrice/priceRate: TRAILING_STOP_MARKET only (not served)
ORDER: dict[str, Spec] = {
    "clientOrderId": STR,
    "cumQuote": DEC,
    "executedQty": DEC,
    "orderId": INT,
    "origQty": DEC,
    "origType": STR,
    "price": DEC,
    "reduceOnly": BOOL,
    "side": STR,
    "positionSide": STR,
    "status": STR,
    "stopPrice": DEC,
    "closePosition": BOOL,
    "symbol": STR,
    "timeInForce": STR,
    "type": STR,
    "updateTime": INT,
    "workingType": STR,
    "priceProtect": BOOL,
    "priceMatch": STR,
    "selfTradePreventionMode": STR,
    "goodTillDate": INT,
}
QUERIED_ORDER = {**ORDER, "avgPrice": DEC, "time": INT}  # GET order, openOrders, allOrders

BALANCE = {
    "accountAlias": STR,
    "asset": STR,
    "balance": DEC,
    "crossWalletBalance": DEC,
    "crossUnPnl": DEC,
    "availableBalance": DEC,
    "maxWithdrawAmount": DEC,
    "marginAvailable": BOOL,
    "updateTime": INT,
}
ACCOUNT_TOTALS = {
    "totalInitialMargin": DEC,
    "totalMaintMargin": DEC,
    "totalWalletBalance": DEC,
    "totalUnrealizedProfit": DEC,
    "totalMarginBalance": DEC,
    "totalPositionInitialMargin": DEC,
    "totalOpenOrderInitialMargin": DEC,
    "totalCrossWalletBalance": DEC,
    "totalCrossUnPnl": DEC,
    "availableBalance": DEC,
    "maxWithdrawAmount": DEC,
}
ACCOUNT_ASSET_V3 = {
    "asset": STR,
    "walletBalance": DEC,
    "unrealizedProfit": DEC,
    "marginBalance": DEC,
    "maintMargin": DEC,
    "initialMargin": DEC,
    "positionInitialMargin": DEC,
    "openOrderInitialMargin": DEC,
    "crossWalletBalance": DEC,
    "crossUnPnl": DEC,
    "availableBalance": DEC,
    "maxWithdrawAmount": DEC,
    "updateTime": INT,
}
TICKER_PRICE = {"symbol": STR, "price": DEC, "time": INT}


@dataclass(frozen=True)
class Documented:
    """One endpoint's documented answer: `fields` of the object (or of each list entry);
    `shape` "object", "list", or "either" (one object with `symbol`, a list without)."""

    url: str
    fields: Spec
    shape: str = "object"


DOCUMENTED: dict[tuple[str, str], Documented] = {
    ("GET", "/fapi/v1/ping"): Documented(DOCS + "market-data/rest-api", {}),  # Test Connectivity
    ("GET", "/fapi/v1/time"): Documented(
        DOCS + "market-data/rest-api/Check-Server-Time", {"serverTime": INT}
    ),
    ("GET", "/fapi/v1/exchangeInfo"): Documented(
        DOCS + "market-data/rest-api/Exchange-Information",
        {
            "exchangeFilters": [],
            "rateLimits": [
                {"interval": STR, "intervalNum": INT, "limit": INT, "rateLimitType": STR}
            ],
            "serverTime": INT,
            "assets": [{"asset": STR, "marginAvailable": BOOL, "autoAssetExchange": DEC_OR_NULL}],
            "symbols": [
                {
                    "symbol": STR,
                    "pair": STR,
                    "contractType": STR,
                    "deliveryDate": INT,
                    "onboardDate": INT,
                    "status": STR,
                    "maintMarginPercent": DEC,
                    "requiredMarginPercent": DEC,
                    "baseAsset": STR,
                    "quoteAsset": STR,
                    "marginAsset": STR,
                    "pricePrecision": INT,
                    "quantityPrecision": INT,
                    "baseAssetPrecision": INT,
                    "quotePrecision": INT,
                    "underlyingType": STR,
                    "underlyingSubType": [STR],
                    "settlePlan": INT,
                    "triggerProtect": DEC,
                    "filters": [_filter],
                    "orderTypes": [STR],  # the example's "OrderType" is a typo of the live key
                    "timeInForce": [STR],
                    "liquidationFee": DEC,
                    "marketTakeBound": DEC,
                }
            ],
            "timezone": STR,
        },
    ),
    ("GET", "/fapi/v1/depth"): Documented(
        DOCS + "market-data/rest-api/Order-Book",
        {"lastUpdateId": INT, "E": INT, "T": INT, "bids": LEVELS, "asks": LEVELS},
    ),
    ("GET", "/fapi/v1/ticker/bookTicker"): Documented(
        DOCS + "market-data/rest-api/Symbol-Order-Book-Ticker",
        {
            "symbol": STR,
            "bidPrice": DEC,
            "bidQty": DEC,
            "askPrice": DEC,
            "askQty": DEC,
            "time": INT,
        },
        "either",
    ),
    ("GET", "/fapi/v1/ticker/24hr"): Documented(
        DOCS + "market-data/rest-api/24hr-Ticker-Price-Change-Statistics",
        {
            "symbol": STR,
            "priceChange": DEC,
            "priceChangePercent": DEC,
            "weightedAvgPrice": DEC,
            "lastPrice": DEC,
            "lastQty": DEC,
            "openPrice": DEC,
            "highPrice": DEC,
            "lowPrice": DEC,
            "volume": DEC,
            "quoteVolume": DEC,
            "openTime": INT,
            "closeTime": INT,
            "firstId": INT,
            "lastId": INT,
            "count": INT,
        },
        "either",
    ),
    ("GET", "/fapi/v1/ticker/price"): Documented(
        DOCS + "market-data/rest-api/Symbol-Price-Ticker", TICKER_PRICE, "either"
    ),
    ("GET", "/fapi/v2/ticker/price"): Documented(
        DOCS + "market-data/rest-api/Symbol-Price-Ticker-v2", TICKER_PRICE, "either"
    ),
    ("GET", "/fapi/v1/premiumIndex"): Documented(
        DOCS + "market-data/rest-api/Mark-Price",
        {
            "symbol": STR,
            "markPrice": DEC,
            "indexPrice": DEC,
            "estimatedSettlePrice": DEC,
            "lastFundingRate": DEC,
            "interestRate": DEC,
            "nextFundingTime": INT,
            "time": INT,
        },
        "either",
    ),
    ("GET", "/fapi/v1/fundingRate"): Documented(
        DOCS + "market-data/rest-api/Get-Funding-Rate-History",
        {"symbol": STR, "fundingRate": DEC, "fundingTime": INT, "markPrice": DEC},
        "list",
    ),
    ("GET", "/fapi/v1/fundingInfo"): Documented(
        DOCS + "market-data/rest-api/Get-Funding-Rate-Info",
        {
            "symbol": STR,
            "adjustedFundingRateCap": DEC,
            "adjustedFundingRateFloor": DEC,
            "fundingIntervalHours": INT,
            "disclaimer": BOOL,
        },
        "list",
    ),
    ("GET", "/fapi/v1/income"): Documented(
        DOCS + "account/rest-api/Get-Income-History",
        {
            "symbol": STR,
            "incomeType": STR,
            "income": DEC,
            "asset": STR,
            "info": STR,
            "time": INT,
            "tranId": INT,
            "tradeId": STR,
        },
        "list",
    ),
    ("POST", "/fapi/v1/order"): Documented(
        DOCS + "trade/rest-api",
        {**ORDER, "cumQty": DEC, "avgPrice": DEC},  # New Order
    ),
    ("GET", "/fapi/v1/order"): Documented(DOCS + "trade/rest-api/Query-Order", QUERIED_ORDER),
    ("DELETE", "/fapi/v1/order"): Documented(
        DOCS + "trade/rest-api/Cancel-Order", {**ORDER, "cumQty": DEC}
    ),
    ("GET", "/fapi/v1/openOrders"): Documented(
        DOCS + "trade/rest-api/Current-All-Open-Orders", QUERIED_ORDER, "list"
    ),
    ("DELETE", "/fapi/v1/allOpenOrders"): Documented(
        DOCS + "trade/rest-api/Cancel-All-Open-Orders", {"code": INT, "msg": STR}
    ),
    ("GET", "/fapi/v1/allOrders"): Documented(
        DOCS + "trade/rest-api/All-Orders", QUERIED_ORDER, "list"
    ),
    ("GET", "/fapi/v1/userTrades"): Documented(
        DOCS + "trade/rest-api/Account-Trade-List",
        {
            "buyer": BOOL,
            "commission": DEC,
            "commissionAsset": STR,
            "id": INT,
            "maker": BOOL,
            "orderId": INT,
            "price": DEC,
            "qty": DEC,
            "quoteQty": DEC,
            "realizedPnl": DEC,
            "side": STR,
            "positionSide": STR,
            "symbol": STR,
            "time": INT,
        },
        "list",
    ),
    ("GET", "/fapi/v2/positionRisk"): Documented(
        DOCS + "trade/rest-api/Position-Information-V2",
        {
            "entryPrice": DEC,
            "breakEvenPrice": DEC,
            "marginType": STR,
            "isAutoAddMargin": STR,  # "false": a string, as documented
            "isolatedMargin": DEC,
            "leverage": DEC,  # "10": a string
            "liquidationPrice": DEC,
            "markPrice": DEC,
            "maxNotionalValue": DEC,
            "positionAmt": DEC,
            "notional": DEC,
            "isolatedWallet": DEC,
            "symbol": STR,
            "unRealizedProfit": DEC,
            "positionSide": STR,
            "updateTime": INT,
        },
        "list",
    ),
    ("GET", "/fapi/v3/positionRisk"): Documented(
        DOCS + "trade/rest-api/Position-Information-V3",
        {
            "symbol": STR,
            "positionSide": STR,
            "positionAmt": DEC,
            "entryPrice": DEC,
            "breakEvenPrice": DEC,
            "markPrice": DEC,
            "unRealizedProfit": DEC,
            "liquidationPrice": DEC,
            "isolatedMargin": DEC,
            "notional": DEC,
            "marginAsset": STR,
            "isolatedWallet": DEC,
            "initialMargin": DEC,
            "maintMargin": DEC,
            "positionInitialMargin": DEC,
            "openOrderInitialMargin": DEC,
            "adl": INT,
            "bidNotional": DEC,
            "askNotional": DEC,
            "updateTime": INT,
        },
        "list",
    ),
    ("GET", "/fapi/v2/balance"): Documented(
        DOCS + "account/rest-api/Futures-Account-Balance-V2", BALANCE, "list"
    ),
    ("GET", "/fapi/v3/balance"): Documented(
        DOCS + "account/rest-api/Futures-Account-Balance-V3", BALANCE, "list"
    ),
    ("GET", "/fapi/v2/account"): Documented(
        DOCS + "account/rest-api/Account-Information-V2",
        {
            "feeTier": INT,
            "feeBurn": BOOL,
            "canTrade": BOOL,
            "canDeposit": BOOL,
            "canWithdraw": BOOL,
            "updateTime": INT,
            "multiAssetsMargin": BOOL,
            "tradeGroupId": INT,
            **ACCOUNT_TOTALS,
            "assets": [{**ACCOUNT_ASSET_V3, "marginAvailable": BOOL}],
            "positions": [
                {
                    "symbol": STR,
                    "initialMargin": DEC,
                    "maintMargin": DEC,
                    "unrealizedProfit": DEC,
                    "positionInitialMargin": DEC,
                    "openOrderInitialMargin": DEC,
                    "leverage": DEC,
                    "isolated": BOOL,
                    "entryPrice": DEC,
                    "maxNotional": DEC,
                    "bidNotional": DEC,
                    "askNotional": DEC,
                    "positionSide": STR,
                    "positionAmt": DEC,
                    "updateTime": INT,
                }
            ],
        },
    ),
    ("GET", "/fapi/v3/account"): Documented(
        DOCS + "account/rest-api/Account-Information-V3",
        {
            **ACCOUNT_TOTALS,
            "assets": [ACCOUNT_ASSET_V3],
            "positions": [
                {
                    "symbol": STR,
                    "positionSide": STR,
                    "positionAmt": DEC,
                    "unrealizedProfit": DEC,
                    "isolatedMargin": DEC,
                    "notional": DEC,
                    "isolatedWallet": DEC,
                    "initialMargin": DEC,
                    "maintMargin": DEC,
                    "updateTime": INT,
                }
            ],
        },
    ),
    ("POST", "/fapi/v1/leverage"): Documented(
        DOCS + "trade/rest-api/Change-Initial-Leverage",
        {"leverage": INT, "maxNotionalValue": DEC, "symbol": STR},
    ),
    ("GET", "/fapi/v1/leverageBracket"): Documented(
        DOCS + "account/rest-api/Notional-and-Leverage-Brackets",
        {
            "symbol": STR,
            "notionalCoef": NUM,
            "brackets": [
                {
                    "bracket": INT,
                    "initialLeverage": INT,
                    "notionalCap": NUM,
                    "notionalFloor": NUM,
                    "maintMarginRatio": NUM,
                    "cum": NUM,
                }
            ],
        },
        "either",
    ),
    ("GET", "/fapi/v1/commissionRate"): Documented(
        DOCS + "account/rest-api/User-Commission-Rate",
        {"symbol": STR, "makerCommissionRate": DEC, "takerCommissionRate": DEC},
    ),
}

DEPTH_EVENT = {
    "e": STR,
    "E": INT,
    "T": INT,
    "s": STR,
    "U": INT,
    "u": INT,
    "pu": INT,
    "b": LEVELS,
    "a": LEVELS,
}
STREAMS_DOCS = DOCS + "websocket-market-streams/"
# per stream kind: (the stream it is read from, documented payload, source)
DOCUMENTED_STREAMS: dict[str, tuple[str, Spec, str]] = {
    "diff": ("/public/ws/btcusdt@depth@100ms", DEPTH_EVENT, "Diff-Book-Depth-Streams"),
    "partial": ("/public/ws/btcusdt@depth5@100ms", DEPTH_EVENT, "Partial-Book-Depth-Streams"),
    "bookTicker": (
        "/public/ws/btcusdt@bookTicker",
        {"e": STR, "u": INT, "E": INT, "T": INT, "s": STR, "b": DEC, "B": DEC, "a": DEC, "A": DEC},
        "Individual-Symbol-Book-Ticker-Streams",
    ),
    "ticker": (
        "/market/ws/btcusdt@ticker",
        {
            "e": STR,
            "E": INT,
            "s": STR,
            "p": DEC,
            "P": DEC,
            "w": DEC,
            "c": DEC,
            "Q": DEC,
            "o": DEC,
            "h": DEC,
            "l": DEC,
            "v": DEC,
            "q": DEC,
            "O": INT,
            "C": INT,
            "F": INT,
            "L": INT,
            "n": INT,
        },
        "Individual-Symbol-Ticker-Streams",
    ),
    "miniTicker": (
        "/market/ws/btcusdt@miniTicker",
        {"e": STR, "E": INT, "s": STR, "c": DEC, "o": DEC, "h": DEC, "l": DEC, "v": DEC, "q": DEC},
        "Individual-Symbol-Mini-Ticker-Stream",
    ),
}

# parameters of each call (symbol-taking "either" endpoints are called with and without it)
CALLS: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/fapi/v1/depth"): {"symbol": "BTCUSDT", "limit": "5"},
    ("POST", "/fapi/v1/order"): {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": "49000.0",
        "newClientOrderId": "doc-new",
    },
    ("GET", "/fapi/v1/order"): {"symbol": "BTCUSDT", "origClientOrderId": "doc-rest"},
    ("DELETE", "/fapi/v1/order"): {"symbol": "BTCUSDT", "origClientOrderId": "doc-rest"},
    ("DELETE", "/fapi/v1/allOpenOrders"): {"symbol": "BTCUSDT"},
    ("GET", "/fapi/v1/allOrders"): {"symbol": "BTCUSDT"},
    ("GET", "/fapi/v1/userTrades"): {"symbol": "BTCUSDT"},
    ("POST", "/fapi/v1/leverage"): {"symbol": "BTCUSDT", "leverage": "10"},
    ("GET", "/fapi/v1/commissionRate"): {"symbol": "BTCUSDT"},
}


def _served_routes() -> list[tuple[str, str]]:
    """The venue's route table, read from a facade over an empty exchange."""
    facade = BinanceFacade(Exchange(seed=1, now_ms=0), lambda: 0, lambda: None)
    return [(r.method, r.path) for r in facade.rest_routes()]


SERVED = _served_routes()


# ---- real calls ----------------------------------------------------------------------------


class Client:
    """Raw signed Binance calls over a real socket (every parameter in the query string)."""

    def __init__(self, env: VenueEnv, session: aiohttp.ClientSession) -> None:
        self.env = env
        self.session = session

    async def call(
        self, method: str, path: str, params: dict[str, str], *, signed: bool
    ) -> tuple[int, Any]:
        headers: dict[str, str] = {}
        query = dict(params)
        if signed:
            query["timestamp"] = str(int(time.time() * 1000))
            text = urlencode(query)
            query_string = text + "&signature=" + sign(self.env.api_secret, text)
            headers[API_KEY_HEADER] = self.env.api_key
        else:
            query_string = urlencode(query)
        url = f"{self.env.url}{path}?{query_string}" if query_string else self.env.url + path
        async with self.session.request(method, url, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def ok(self, method: str, path: str, params: dict[str, str], *, signed: bool) -> Any:
        status, body = await self.call(method, path, params, signed=signed)
        assert status == 200, (method, path, status, body)
        return body


@pytest.fixture
async def client(env: VenueEnv) -> AsyncIterator[Client]:
    """A trader with a position (a market buy: a user trade too) that has paid funding once,
    and a resting order `doc-rest`, placed through the venue itself."""
    async with aiohttp.ClientSession() as session:
        c = Client(env, session)
        order = "/fapi/v1/order"
        market = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
        await c.ok("POST", order, market, signed=True)
        x = env.exchange  # past the next funding time: funding history and income rows
        interval = x.config.funding.interval_ms
        x.advance((x.now_ms // interval + 1) * interval)
        x.drain_events()
        rest = {**CALLS[("POST", order)], "newClientOrderId": "doc-rest", "price": "48000.0"}
        await c.ok("POST", order, rest, signed=True)
        yield c


def test_every_served_route_has_a_documented_field_list() -> None:
    missing = [r for r in SERVED if r not in DOCUMENTED]
    assert not missing, f"routes without a documented field list: {missing}"
    stale = [r for r in DOCUMENTED if r not in SERVED]
    assert not stale, f"field lists of routes the venue does not serve: {stale}"
    kinds = set(get_args(Kind))
    assert kinds == set(DOCUMENTED_STREAMS), "every stream kind needs a documented payload"


def _check(answer: Any, doc: Documented, many: bool, where: str) -> list[str]:
    if many:
        if not isinstance(answer, list) or not answer:
            return [f"{where}: expected a non-empty list, got {answer!r:.200}"]
        return mismatches(answer, [doc.fields], where)
    return mismatches(answer, doc.fields, where)


@pytest.mark.parametrize("route", SERVED, ids=[f"{m} {p}" for m, p in SERVED])
async def test_answer_carries_documented_fields(
    route: tuple[str, str], env: VenueEnv, client: Client
) -> None:
    method, path = route
    doc = DOCUMENTED.get(route)
    assert doc is not None, f"{method} {path} has no documented field list"
    private = next(r.private for r in env.facade.rest_routes() if (r.method, r.path) == route)
    params = CALLS.get(route, {})
    problems: list[str] = []
    if doc.shape == "either":
        one = await client.ok(method, path, {"symbol": "BTCUSDT"}, signed=private)
        problems += _check(one, doc, False, f"{path}?symbol=BTCUSDT")
        problems += _check(await client.ok(method, path, {}, signed=private), doc, True, path)
    else:
        answer = await client.ok(method, path, params, signed=private)
        problems += _check(answer, doc, doc.shape == "list", path)
    assert not problems, f"{method} {path} vs {doc.url}:\n" + "\n".join(problems)


@pytest.mark.parametrize("kind", sorted(DOCUMENTED_STREAMS))
async def test_stream_payload_carries_documented_fields(kind: str, env: VenueEnv) -> None:
    path, fields, page = DOCUMENTED_STREAMS[kind]
    url = "ws" + env.url.removeprefix("http") + path
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        if kind == "diff":  # the diff stream pushes changes only: change the book
            env.quote([(D("49996.0"), D("0.5"))], [(D("50004.0"), D("0.5"))], BTC)
        event = json.loads(await asyncio.wait_for(ws.receive_str(), TIMEOUT))
    problems = mismatches(event, fields, kind)
    assert not problems, f"{kind} vs {STREAMS_DOCS + page}:\n" + "\n".join(problems)


async def test_combined_stream_wraps_the_documented_payload(env: VenueEnv) -> None:
    """`/stream?streams=...` payloads are `{"stream": <name>, "data": <payload>}` (Binance's
    "combined stream events are wrapped"), the payload as documented."""
    _, fields, page = DOCUMENTED_STREAMS["bookTicker"]
    url = "ws" + env.url.removeprefix("http") + "/public/stream?streams=btcusdt@bookTicker"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        event = json.loads(await asyncio.wait_for(ws.receive_str(), TIMEOUT))
    assert mismatches(event, {"stream": STR, "data": fields}) == [], STREAMS_DOCS + page
    assert event["stream"] == "btcusdt@bookTicker"


# ---- the checker itself (it must be able to fail) ------------------------------------------


def test_checker_names_missing_fields_and_wrong_types() -> None:
    spec = {"a": DEC, "b": INT, "c": [{"d": BOOL}], "e": LEVELS}
    good = {"a": "1.5", "b": 3, "c": [{"d": True}], "e": [["1", "2"]], "extra": None}
    assert mismatches(good, spec) == []
    bad = {"a": 1.5, "b": True, "c": [{"d": "true"}], "e": [["1"]]}
    assert mismatches(bad, spec) == [
        "$.a: 1.5 is not a decimal string",
        "$.b: True is not an integer",
        "$.c[0].d: 'true' is not a boolean",
        "$.e[0]: 1 items, documented 2",
    ]
    assert mismatches({}, {"feeTier": INT}) == ["$.feeTier: missing"]
    assert mismatches({"x": "1e5"}, {"x": DEC}) == ["$.x: '1e5' is not a decimal string"]
