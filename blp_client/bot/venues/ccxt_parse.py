"""ccxt's unified structures (markets, orders, trades, positions) → this package's types.

ccxt hands numbers as floats or strings; they become exact `Decimal`s here (floats via their
shortest repr), so nothing past this module sees a float.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .base import (
    ZERO,
    Fill,
    FundingFee,
    MarketInfo,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    VenueFunding,
    VenueOrder,
    VenuePosition,
)

# ccxt's precision modes (ccxt.base.decimal_to_precision)
_DECIMAL_PLACES = 2
_SIGNIFICANT_DIGITS = 3
_TICK_SIZE = 4


def to_dec(x: Any) -> Decimal | None:
    """ccxt's numbers (floats, or strings) as exact Decimals (floats via their shortest repr)."""
    if x is None or x == "":
        return None
    if isinstance(x, Decimal):
        return x
    if isinstance(x, bool):
        raise TypeError(f"not a number: {x!r}")
    return Decimal(str(x))


def dec0(x: Any) -> Decimal:
    """`to_dec`, with 0 for a missing number."""
    d = to_dec(x)
    return d if d is not None else ZERO


def default_venue_symbol(engine_symbol: str, quote: str = "USDT") -> str:
    base = engine_symbol.split("-")[0]
    return f"{base}/{quote}:{quote}"


def step(p: Any, mode: int) -> Decimal | None:
    """A tick/lot step from ccxt's precision value in the exchange's precision mode."""
    d = to_dec(p)
    if d is None:
        return None
    if mode in (_DECIMAL_PLACES, _SIGNIFICANT_DIGITS):
        return Decimal(1).scaleb(-int(d))
    return d


def parse_markets(
    raw: Mapping[str, Any],
    *,
    quote: str,
    explicit: Mapping[str, str],
    precision_mode: int,
    taker_fee: Decimal | None,
    maker_fee: Decimal | None,
) -> dict[str, MarketInfo]:
    """Our symbols' markets: every linear swap settled in `quote` as `<BASE>-PERP`, plus the
    `explicit` engine → venue symbol mapping; fee overrides replace the venue's fees."""
    wanted: dict[str, str] = {}
    for vs, m in raw.items():
        if m.get("swap") and m.get("linear") and m.get("settle") == quote:
            wanted[f"{m['base']}-PERP"] = vs
    wanted.update(explicit)
    out: dict[str, MarketInfo] = {}
    for symbol, vs in wanted.items():
        m = raw.get(vs)
        if m is None:
            continue
        lot = step(m["precision"].get("amount"), precision_mode) or Decimal(1)
        tick = step(m["precision"].get("price"), precision_mode) or Decimal("0.00000001")
        limits = m.get("limits") or {}
        amount = limits.get("amount") or {}
        cost = limits.get("cost") or {}
        out[symbol] = MarketInfo(
            symbol=symbol,
            venue_symbol=vs,
            base=str(m["base"]),
            quote=str(m["quote"]),
            tick=tick,
            lot=lot,
            min_qty=to_dec(amount.get("min")) or lot,
            min_notional=to_dec(cost.get("min")) or ZERO,
            max_qty=to_dec(amount.get("max")),
            taker_fee=taker_fee if taker_fee is not None else dec0(m.get("taker")),
            maker_fee=maker_fee if maker_fee is not None else dec0(m.get("maker")),
            contract_size=to_dec(m.get("contractSize")) or Decimal(1),
        )
    return out


def ccxt_status(status: str | None, filled: Decimal, qty: Decimal) -> OrderStatus:
    match status:
        case "open" | None:
            return OrderStatus.OPEN
        case "closed":
            return OrderStatus.FILLED if filled >= qty else OrderStatus.EXPIRED
        case "canceled" | "cancelled":
            return OrderStatus.CANCELLED
        case "expired":
            return OrderStatus.EXPIRED
        case "rejected":
            return OrderStatus.REJECTED
        case _:
            return OrderStatus.OPEN


def order_params(req: OrderRequest) -> dict[str, Any]:
    """ccxt `create_order` params: client order id, reduce-only, time in force / post-only."""
    params: dict[str, Any] = {"clientOrderId": req.client_order_id}
    if req.reduce_only:
        params["reduceOnly"] = True
    if req.type is OrderType.LIMIT:
        if req.time_in_force is TimeInForce.POST_ONLY:
            params["postOnly"] = True
        else:
            params["timeInForce"] = req.time_in_force.value
    return params


def parse_order(raw: Mapping[str, Any], m: MarketInfo, fallback_cid: str) -> VenueOrder:
    qty = dec0(raw.get("amount"))
    filled = dec0(raw.get("filled"))
    fee = raw.get("fee") or {}
    otype = OrderType.LIMIT if raw.get("type") == "limit" else OrderType.MARKET
    price = to_dec(raw.get("price")) if otype is OrderType.LIMIT else None
    avg = to_dec(raw.get("average")) if filled else None
    fee_cost = to_dec(fee.get("cost")) if isinstance(fee, dict) else None
    if fee_cost is None and filled and avg is not None:
        # the answer does not carry the commission (Binance's does not): estimated from the
        # venue's fee schedule, taker for market/IOC/FOK orders, maker for resting ones
        taker = otype is OrderType.MARKET or raw.get("timeInForce") in ("IOC", "FOK")
        fee_cost = filled * avg * (m.taker_fee if taker else m.maker_fee)
    return VenueOrder(
        client_order_id=raw.get("clientOrderId") or fallback_cid,
        venue_order_id=str(raw["id"]) if raw.get("id") is not None else None,
        symbol=m.symbol,
        side=Side(raw.get("side") or "buy"),
        type=otype,
        qty=qty,
        price=price,
        filled=filled,
        avg_price=avg,
        status=ccxt_status(raw.get("status"), filled, qty),
        reduce_only=bool(raw.get("reduceOnly")),
        fee=fee_cost if fee_cost is not None else ZERO,
        timestamp_ms=raw.get("timestamp"),
    )


def parse_fill(t: Mapping[str, Any], symbol: str) -> Fill:
    fee = t.get("fee") or {}
    tom = t.get("takerOrMaker")
    return Fill(
        trade_id=str(t.get("id")),
        venue_order_id=str(t["order"]) if t.get("order") is not None else None,
        symbol=symbol,
        side=Side(t.get("side") or "buy"),
        qty=dec0(t.get("amount")),
        price=dec0(t.get("price")),
        fee=dec0(fee.get("cost")),
        fee_currency=fee.get("currency"),
        maker=(tom == "maker") if tom else None,
        timestamp_ms=int(t.get("timestamp") or 0),
    )


def parse_position(p: Mapping[str, Any], m: MarketInfo) -> VenuePosition | None:
    """A ccxt position as signed base quantity (None when flat)."""
    contracts = dec0(p.get("contracts")) * m.contract_size
    qty = -contracts if p.get("side") == "short" else contracts
    if qty == 0:
        return None
    return VenuePosition(
        symbol=m.symbol,
        qty=qty,
        entry_price=to_dec(p.get("entryPrice")),
        mark_price=to_dec(p.get("markPrice")),
        unrealized_pnl=dec0(p.get("unrealizedPnl")),
        notional=abs(dec0(p.get("notional"))),
        liquidation_price=to_dec(p.get("liquidationPrice")),
        maintenance_margin=to_dec(p.get("maintenanceMargin")),
    )


def parse_funding_rate(symbol: str, raw: Mapping[str, Any]) -> VenueFunding:
    """ccxt's funding rate structure: `fundingRate` is the estimate for `fundingTimestamp`
    (Binance's `lastFundingRate` / `nextFundingTime`); `previousFundingRate` the last settled
    one where ccxt knows it; `interval` like "8h"."""
    interval = raw.get("interval")
    interval_ms = None
    if isinstance(interval, str) and interval.endswith("h"):
        hours = to_dec(interval[:-1])
        interval_ms = int(hours * 3_600_000) if hours is not None else None
    next_ms = raw.get("fundingTimestamp")
    return VenueFunding(
        symbol,
        to_dec(raw.get("previousFundingRate")),
        to_dec(raw.get("fundingRate")),
        int(next_ms) if next_ms is not None else None,
        interval_ms,
    )


def parse_funding_fee(symbol: str, raw: Mapping[str, Any]) -> FundingFee:
    """One entry of ccxt's `fetch_funding_history`; the exact amount from the venue's own
    string where ccxt keeps it (`info.income` on Binance), else ccxt's number."""
    info = raw.get("info")
    text = info.get("income") if isinstance(info, Mapping) else None
    amount = to_dec(text) if text is not None else dec0(raw.get("amount"))
    return FundingFee(
        symbol,
        str(raw.get("id")),
        amount if amount is not None else ZERO,
        int(raw.get("timestamp") or 0),
    )
