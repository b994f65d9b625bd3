"""Binance's response shapes: number formatting, orders, own trades, symbol filters and the
field sets of the position/account endpoints.

ccxt parses these field by field; keeping every shape in one place keeps them consistent across
the endpoints that repeat them (an order looks the same from POST, GET, DELETE and allOrders).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..core.book import Order, OrderStatus, Side
from ..core.instruments import Instrument
from ..core.num import money, price_q
from .state import BIG, QUOTE, UserTrade, VenueState

JSON = Any


def fmt(x: Decimal) -> str:
    """A plain decimal string without exponent or trailing zeros ('0' for zero)."""
    if x == 0:
        return "0"
    return format(x.normalize(), "f")


def precision(step: Decimal) -> int:
    """Decimal places of a tick/lot step (Binance's pricePrecision/quantityPrecision)."""
    exp = step.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def side_name(side: Side) -> str:
    return "BUY" if side is Side.BUY else "SELL"


def symbol_info(inst: Instrument, venue_symbol: str) -> dict[str, Any]:
    """One `exchangeInfo.symbols` entry: a perpetual with the instrument's tick, lot, tiers."""
    t0 = inst.tiers[0]
    lot_filter = {"minQty": fmt(inst.lot), "maxQty": fmt(BIG), "stepSize": fmt(inst.lot)}
    return {
        "symbol": venue_symbol,
        "pair": venue_symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": fmt(t0.mmr * 100),
        "requiredMarginPercent": fmt(t0.imr * 100),
        "baseAsset": inst.base,
        "quoteAsset": QUOTE,
        "marginAsset": QUOTE,
        "pricePrecision": precision(inst.tick),
        "quantityPrecision": precision(inst.lot),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(inst.tick),
                "maxPrice": fmt(BIG),
                "tickSize": fmt(inst.tick),
            },
            {"filterType": "LOT_SIZE", **lot_filter},
            {"filterType": "MARKET_LOT_SIZE", **lot_filter},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": fmt(inst.min_notional)},
        ],
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def order_status(o: Order, state: VenueState) -> str:
    orig = state.orig_qty.get(o.id, o.qty)
    if o.is_open:
        return "PARTIALLY_FILLED" if o.filled > 0 else "NEW"
    if o.status is OrderStatus.FILLED and orig == o.filled:
        return "FILLED"
    if o.status is OrderStatus.REJECTED:
        return "REJECTED"
    if o.id in state.user_cancelled:
        return "CANCELED"
    return "EXPIRED"  # IOC/FOK/market remainder, self-trade prevention, partial fault


def order_json(o: Order, state: VenueState) -> JSON:
    """An engine order as Binance's order object (FOK/GTX labels, client-asked quantity)."""
    avg = o.avg_price
    if o.price is None:
        otype, tif = "MARKET", "GTC"
    else:
        otype = "LIMIT"
        tif = state.tif_label.get(o.id, o.tif.value)
    return {
        "orderId": o.id,
        "symbol": state.to_venue[o.symbol],
        "status": order_status(o, state),
        "clientOrderId": o.client_order_id or "",
        "price": fmt(o.price) if o.price is not None else "0",
        "avgPrice": fmt(price_q(avg)) if avg is not None else "0",
        "origQty": fmt(state.orig_qty.get(o.id, o.qty)),
        "executedQty": fmt(o.filled),
        "cumQty": fmt(o.filled),
        "cumQuote": fmt(money(o.notional_filled)),
        "timeInForce": tif,
        "type": otype,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": side_name(o.side),
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": otype,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": o.created_ms,
        "updateTime": state.order_updated.get(o.id, o.created_ms),
    }


def user_trade_json(t: UserTrade, venue_symbol: str) -> JSON:
    return {
        "buyer": t.side is Side.BUY,
        "commission": fmt(t.fee),
        "commissionAsset": QUOTE,
        "id": t.id,
        "maker": t.maker,
        "orderId": t.order_id,
        "price": fmt(t.price),
        "qty": fmt(t.qty),
        "quoteQty": fmt(t.price * t.qty),
        "realizedPnl": fmt(t.realised),
        "side": side_name(t.side),
        "positionSide": "BOTH",
        "symbol": venue_symbol,
        "time": t.time,
    }


# positionRisk v2 answers these fields of the full position row; v3 all but POSITION_V3_DROP
POSITION_V2_KEYS = (
    "symbol",
    "positionAmt",
    "entryPrice",
    "breakEvenPrice",
    "markPrice",
    "unRealizedProfit",
    "liquidationPrice",
    "leverage",
    "maxNotionalValue",
    "marginType",
    "isolatedMargin",
    "isAutoAddMargin",
    "positionSide",
    "notional",
    "isolatedWallet",
    "updateTime",
)
POSITION_V3_DROP = ("leverage", "maxNotionalValue", "marginType", "isAutoAddMargin")


def account_position(row: dict[str, Any], v2: bool) -> JSON:
    """An `account.positions` entry from a full position row (v2 carries more fields)."""
    out = {
        "symbol": row["symbol"],
        "positionSide": "BOTH",
        "positionAmt": row["positionAmt"],
        "unrealizedProfit": row["unRealizedProfit"],
        "isolatedMargin": "0",
        "notional": row["notional"],
        "isolatedWallet": "0",
        "initialMargin": row["initialMargin"],
        "maintMargin": row["maintMargin"],
        "updateTime": row["updateTime"],
    }
    if v2:
        out.update(
            {
                "leverage": row["leverage"],
                "entryPrice": row["entryPrice"],
                "breakEvenPrice": row["breakEvenPrice"],
                "maxNotional": row["maxNotionalValue"],
                "isolated": False,
                "positionInitialMargin": row["positionInitialMargin"],
                "openOrderInitialMargin": row["openOrderInitialMargin"],
                "bidNotional": "0",
                "askNotional": "0",
            }
        )
    return out
