"""Order endpoints: place (with Binance's filters, FOK/GTX semantics and leverage cap), query,
cancel, open/all orders and own trades.

Orders go to the engine's real book in one-way position mode: FOK runs as IOC after a
fillability check, GTX as GTC after a would-cross check; `newClientOrderId` stays unique per
account among its open and latest `CLOSED_ORDERS_KEPT` closed orders. The partial-fill fault
cuts marketable orders here, before the engine sees them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import structlog

from ..core.book import Order, Side, TimeInForce
from ..core.exchange import ExchangeError
from ..core.instruments import Instrument
from ..core.num import ZERO
from ..faults import FaultInjector
from .errors import BinanceApiError, filter_failure, leverage_cap, map_engine_error, missing
from .params import Call
from .shapes import JSON, fmt, order_json, user_trade_json
from .state import VenueState, max_notional

_log = structlog.get_logger("blp_client.engine.binance")

_CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_UNSUPPORTED = ("stopPrice", "activationPrice", "callbackRate", "priceMatch")
_Row = TypeVar("_Row")


def _not_required(name: str) -> BinanceApiError:
    return BinanceApiError(-1106, f"Parameter '{name}' sent when not required.")


@dataclass(frozen=True)
class NewOrder:
    """A `POST /fapi/v1/order` that passed the parameter checks."""

    inst: Instrument
    side: Side
    otype: str  # LIMIT | MARKET
    qty: Decimal
    price: Decimal | None
    tif: str  # as asked: GTC | IOC | FOK | GTX ("" for MARKET)
    reduce_only: bool


def parse_new_order(call: Call, state: VenueState) -> NewOrder:
    """Parameter checks of a new order, in Binance's order (and with its error codes)."""
    inst = state.inst(call.get("symbol"))
    side_s = call.need("side").upper()
    if side_s not in ("BUY", "SELL"):
        raise BinanceApiError(-1117, "Invalid side.")
    otype = call.need("type").upper()
    if otype not in ("LIMIT", "MARKET"):
        raise BinanceApiError(-1116, "Invalid orderType.")
    if (call.get("positionSide") or "BOTH").upper() != "BOTH":
        raise BinanceApiError(-4061, "Order's position side does not match user's setting.")
    if call.boolean("closePosition"):
        raise _not_required("closePosition")
    for unsupported in _UNSUPPORTED:
        if call.get(unsupported) is not None:
            raise _not_required(unsupported)
    reduce_only = call.boolean("reduceOnly")
    qty = call.decimal("quantity")
    if qty is None:
        raise missing("quantity")
    price = call.decimal("price")
    tif = (call.get("timeInForce") or "").upper()
    if otype == "LIMIT":
        if price is None:
            raise missing("price")
        if not tif:
            raise missing("timeInForce")
        if tif not in ("GTC", "IOC", "FOK", "GTX"):
            raise BinanceApiError(-1115, "Invalid timeInForce.")
    elif price is not None:
        raise _not_required("price")
    if qty <= 0:
        raise BinanceApiError(-4003, "Quantity less than or equal to zero.")
    if not inst.is_lot_multiple(qty):
        raise filter_failure(f"LOT_SIZE stepSize {fmt(inst.lot)}")
    if price is not None:
        if price <= 0:
            raise BinanceApiError(-4001, "Price less than 0.")
        if not inst.is_tick_multiple(price):
            raise filter_failure(f"PRICE_FILTER tickSize {fmt(inst.tick)}")
    side = Side.BUY if side_s == "BUY" else Side.SELL
    return NewOrder(inst, side, otype, qty, price, tif, reduce_only)


class Orders:
    """Handlers of the signed order endpoints."""

    def __init__(self, state: VenueState, faults: FaultInjector) -> None:
        self.state = state
        self.faults = faults
        self._generated_ids = 0

    async def new_order(self, call: Call) -> JSON:
        st, x = self.state, self.state.exchange
        req = parse_new_order(call, st)
        inst, side, qty, price = req.inst, req.side, req.qty, req.price
        book = x.books[inst.symbol]
        if not req.reduce_only:
            ref = (
                price
                if price is not None
                else (
                    st.reference_price(inst.symbol)
                    or (book.best_ask() if side is Side.BUY else book.best_bid())
                )
            )
            if ref is not None and qty * ref < inst.min_notional:
                raise BinanceApiError(
                    -4164,
                    f"Order's notional must be no smaller than {fmt(inst.min_notional)} "
                    "(unless you choose reduce only).",
                )
        cid = self._client_id(call)
        tif = self._engine_tif(call, req)
        self._check_leverage_cap(call.account, inst, side, qty, req.reduce_only)
        send_qty = qty
        if req.otype == "MARKET" or tif is TimeInForce.IOC:  # marketable: partial-fill fault
            part = self.faults.partial_qty(qty, inst.lot)
            if part is not None:
                send_qty = part
                call.fault = "partial_fill"
        try:
            order = x.place_order(
                call.account, inst.symbol, side, send_qty, price, tif, req.reduce_only, cid
            )
        except ExchangeError as e:
            raise map_engine_error(e) from None
        if send_qty != qty and order.qty == send_qty:
            st.orig_qty[order.id] = qty
        if req.otype == "LIMIT" and req.tif != order.tif.value:
            st.tif_label[order.id] = req.tif
        st.order_updated.setdefault(order.id, order.created_ms)
        _log.debug(
            "venue_order",
            account_id=call.account,
            symbol=inst.symbol,
            side=side.value,
            qty=str(qty),
            price=str(price),
            status=order.status.value,
        )
        return order_json(order, st)

    def _client_id(self, call: Call) -> str:
        cid = call.get("newClientOrderId")
        if cid is None:
            self._generated_ids += 1
            cid = f"blpvenue{self._generated_ids:06d}{secrets.token_hex(6)}"
        elif not _CLIENT_ID_RE.match(cid):
            raise BinanceApiError(-4015, "Client order id is not valid.")
        if cid in self.state.exchange.client_ids.get(call.account, {}):
            raise BinanceApiError(-4116, "ClientOrderId is duplicated.")
        return cid

    def _engine_tif(self, call: Call, req: NewOrder) -> TimeInForce:
        """The engine's time in force; refuses a crossing GTX and an unfillable FOK."""
        if req.otype != "LIMIT" or req.price is None:
            return TimeInForce.GTC
        side, price = req.side, req.price
        book = self.state.exchange.books[req.inst.symbol]
        best_opp = book.best_ask() if side is Side.BUY else book.best_bid()
        crosses = best_opp is not None and (
            price >= best_opp if side is Side.BUY else price <= best_opp
        )
        if req.tif == "GTX" and crosses:
            raise BinanceApiError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will "
                "be rejected.",
            )
        if req.tif == "FOK":
            if self._fillable(call.account, req.inst.symbol, side, price) < req.qty:
                raise BinanceApiError(
                    -5021,
                    "Due to the order could not be filled immediately, the FOK order has "
                    "been rejected.",
                )
            return TimeInForce.IOC
        return TimeInForce.IOC if req.tif == "IOC" else TimeInForce.GTC

    def _fillable(self, account_id: int, symbol: str, side: Side, limit: Decimal) -> Decimal:
        """Quantity available to a taker at `limit` or better, other accounts' orders only."""
        book = self.state.exchange.books[symbol]
        opp = book.asks if side is Side.BUY else book.bids
        total = ZERO
        for p in opp.prices():
            if (p > limit) if side is Side.BUY else (p < limit):
                break
            total += sum((o.remaining for o in opp.levels[p] if o.account_id != account_id), ZERO)
        return total

    def _check_leverage_cap(
        self, account_id: int, inst: Instrument, side: Side, qty: Decimal, reduce_only: bool
    ) -> None:
        if reduce_only:
            return
        st = self.state
        acct = st.exchange.account(account_id)
        new_qty = acct.qty(inst.symbol) + side.sign * qty
        if abs(new_qty) <= abs(acct.qty(inst.symbol)):
            return
        mark = st.reference_price(inst.symbol)
        if mark is None:
            return
        if abs(new_qty) * mark > max_notional(inst, st.leverage_of(account_id, inst.symbol)):
            raise leverage_cap()

    def _find_order(self, call: Call, inst: Instrument, unknown: BinanceApiError) -> Order:
        x = self.state.exchange
        order_id = call.integer("orderId")
        cid = call.get("origClientOrderId")
        if order_id is None and cid is None:
            raise BinanceApiError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order_id is not None:
            o = x.orders.get(order_id)
        else:
            assert cid is not None
            try:
                o = x.order_by_client_id(call.account, cid)
            except ExchangeError:
                o = None
        if o is None or o.account_id != call.account or o.symbol != inst.symbol:
            raise unknown
        if cid is not None and o.client_order_id != cid:
            raise unknown
        return o

    async def get_order(self, call: Call) -> JSON:
        inst = self.state.inst(call.get("symbol"))
        o = self._find_order(call, inst, BinanceApiError(-2013, "Order does not exist."))
        return order_json(o, self.state)

    async def cancel_order(self, call: Call) -> JSON:
        st = self.state
        inst = st.inst(call.get("symbol"))
        unknown = BinanceApiError(-2011, "Unknown order sent.")
        o = self._find_order(call, inst, unknown)
        if not o.is_open:
            raise unknown
        st.user_cancelled.add(o.id)
        try:
            st.exchange.cancel_order(call.account, o.id, "cancelled")
        except ExchangeError:
            st.user_cancelled.discard(o.id)
            raise unknown from None
        return order_json(o, st)

    async def cancel_all(self, call: Call) -> JSON:
        st = self.state
        inst = st.inst(call.get("symbol"))
        for oid in sorted(st.exchange.open_orders.get(call.account, ())):
            if st.exchange.orders[oid].symbol == inst.symbol:
                st.user_cancelled.add(oid)
                st.exchange.cancel_order(call.account, oid, "cancelled")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def open_orders(self, call: Call) -> JSON:
        st = self.state
        sym = call.get("symbol")
        inst = st.inst(sym) if sym is not None else None
        out = []
        for oid in sorted(st.exchange.open_orders.get(call.account, ())):
            o = st.exchange.orders[oid]
            if inst is None or o.symbol == inst.symbol:
                out.append(order_json(o, st))
        return out

    async def all_orders(self, call: Call) -> JSON:
        st = self.state
        inst = st.inst(call.get("symbol"))
        orders = _window(
            call,
            "orderId",
            (
                o
                for o in sorted(st.exchange.orders.values(), key=lambda o: o.id)
                if o.account_id == call.account and o.symbol == inst.symbol
            ),
            lambda o: o.id,
            lambda o: o.created_ms,
        )
        return [order_json(o, st) for o in orders]

    async def user_trades(self, call: Call) -> JSON:
        st = self.state
        inst = st.inst(call.get("symbol"))
        trades = _window(
            call,
            "fromId",
            (t for t in st.user_trades.get(call.account, ()) if t.symbol == inst.symbol),
            lambda t: t.id,
            lambda t: t.time,
        )
        return [user_trade_json(t, st.to_venue[t.symbol]) for t in trades]


def _window(
    call: Call,
    id_param: str,
    rows: Iterable[_Row],
    id_of: Callable[[_Row], int],
    time_of: Callable[[_Row], int],
) -> list[_Row]:
    """`rows` (oldest first) from the `id_param` id and within `startTime`/`endTime`, cut to
    `limit`: the first ones when an id or a start is given, else the latest."""
    from_id = call.integer(id_param)
    start, end = call.integer("startTime"), call.integer("endTime")
    kept = [
        r
        for r in rows
        if (from_id is None or id_of(r) >= from_id)
        and (start is None or time_of(r) >= start)
        and (end is None or time_of(r) <= end)
    ]
    limit = call.limit(500, 1000)
    return kept[:limit] if from_id is not None or start is not None else kept[-limit:]
