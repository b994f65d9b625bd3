"""What each served `/fapi` endpoint costs on Binance USDⓈ-M's limits: its request weight (IP
limit, `X-MBX-USED-WEIGHT-1M`) and the new orders it counts (account limits,
`X-MBX-ORDER-COUNT-10S` / `-1M`).

Source: each endpoint's "Request Weight" in Binance's USDⓈ-M futures REST docs,
https://developers.binance.com/docs/derivatives/usds-margined-futures (market-data, trade and
account sections; read 2025). ccxt's cost table (`binance.py`, `fapiPublic`/`fapiPrivate`)
has the same numbers for most of them at 50 ms per unit, i.e. it paces itself to 1,200 weight a
minute, half the limit; its `order` cost 4 paces order placement, which costs no IP weight.

| endpoint                           | weight                                    | orders |
|------------------------------------|-------------------------------------------|--------|
| GET ping, time, exchangeInfo       | 1                                         |        |
| GET depth                          | limit 5/10/20/50: 2, 100: 5, 500: 10,     |        |
|                                    | 1000: 20 (default limit 500)              |        |
| GET ticker/bookTicker              | 2 with symbol, 5 without                  |        |
| GET ticker/24hr                    | 1 with symbol, 40 without                 |        |
| GET v1, v2 ticker/price            | 1 with symbol, 2 without                  |        |
| GET premiumIndex                   | 1 with symbol, 10 without                 |        |
| POST order                         | 0                                         | 1      |
| GET order, DELETE order            | 1                                         |        |
| GET openOrders                     | 1 with symbol, 40 without                 |        |
| DELETE allOpenOrders               | 1                                         |        |
| GET allOrders, userTrades          | 5                                         |        |
| GET v2, v3 positionRisk / balance / account | 5                                |        |
| POST leverage, GET leverageBracket | 1                                         |        |
| GET commissionRate                 | 20                                        |        |
| GET fundingRate, fundingInfo       | 0; share 500 per 5 min per IP             |        |
| GET income                         | 30                                        |        |

The facade takes any depth `limit` in [1, 1000]; one between Binance's valid values costs what
the next valid one does (7 → 2, 101 → 10).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEPTH_WEIGHTS = ((50, 2), (100, 5), (500, 10), (1000, 20))
DEPTH_DEFAULT_LIMIT = 500


@dataclass(frozen=True)
class Cost:
    weight: int
    no_symbol: int | None = None  # the weight when `symbol` is omitted (all symbols)
    orders: int = 0  # new orders counted on the ORDERS limits


COSTS: dict[tuple[str, str], Cost] = {
    ("GET", "/fapi/v1/ping"): Cost(1),
    ("GET", "/fapi/v1/time"): Cost(1),
    ("GET", "/fapi/v1/exchangeInfo"): Cost(1),
    ("GET", "/fapi/v1/depth"): Cost(10),  # by limit: depth_weight
    ("GET", "/fapi/v1/ticker/bookTicker"): Cost(2, no_symbol=5),
    ("GET", "/fapi/v1/ticker/24hr"): Cost(1, no_symbol=40),
    ("GET", "/fapi/v1/ticker/price"): Cost(1, no_symbol=2),
    ("GET", "/fapi/v2/ticker/price"): Cost(1, no_symbol=2),
    ("GET", "/fapi/v1/premiumIndex"): Cost(1, no_symbol=10),
    ("POST", "/fapi/v1/order"): Cost(0, orders=1),
    ("GET", "/fapi/v1/order"): Cost(1),
    ("DELETE", "/fapi/v1/order"): Cost(1),
    ("GET", "/fapi/v1/openOrders"): Cost(1, no_symbol=40),
    ("DELETE", "/fapi/v1/allOpenOrders"): Cost(1),
    ("GET", "/fapi/v1/allOrders"): Cost(5),
    ("GET", "/fapi/v1/userTrades"): Cost(5),
    ("GET", "/fapi/v2/positionRisk"): Cost(5),
    ("GET", "/fapi/v3/positionRisk"): Cost(5),
    ("GET", "/fapi/v2/balance"): Cost(5),
    ("GET", "/fapi/v3/balance"): Cost(5),
    ("GET", "/fapi/v2/account"): Cost(5),
    ("GET", "/fapi/v3/account"): Cost(5),
    ("POST", "/fapi/v1/leverage"): Cost(1),
    ("GET", "/fapi/v1/leverageBracket"): Cost(1),
    ("GET", "/fapi/v1/commissionRate"): Cost(20),
    ("GET", "/fapi/v1/fundingRate"): Cost(0),  # counted on FUNDING_5M instead
    ("GET", "/fapi/v1/fundingInfo"): Cost(0),
    ("GET", "/fapi/v1/income"): Cost(30),
}
FUNDING_5M = frozenset({("GET", "/fapi/v1/fundingRate"), ("GET", "/fapi/v1/fundingInfo")})
"""Binance: these two "share 500/5min/IP rate limit", outside the request weight."""
UNLISTED = Cost(1)


def depth_weight(limit: int) -> int:
    for top, weight in DEPTH_WEIGHTS:
        if limit <= top:
            return weight
    return DEPTH_WEIGHTS[-1][1]


def funding_cost(method: str, path: str) -> int:
    """1 for a request counted on the shared funding limit (500 per 5 min per IP), else 0."""
    return 1 if (method, path) in FUNDING_5M else 0


def request_cost(method: str, path: str, params: Mapping[str, str]) -> tuple[int, int]:
    """(weight, new orders) of one request, from its parameters as sent."""
    cost = COSTS.get((method, path), UNLISTED)
    if path == "/fapi/v1/depth":
        raw = params.get("limit", "")
        limit = int(raw) if raw.isdigit() and int(raw) > 0 else DEPTH_DEFAULT_LIMIT
        return depth_weight(limit), 0
    if cost.no_symbol is not None and not params.get("symbol"):
        return cost.no_symbol, cost.orders
    return cost.weight, cost.orders
