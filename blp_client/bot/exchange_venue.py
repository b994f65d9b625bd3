"""The exchange's own book as a `Venue`, over the BLP API (`BLPClient`).

So the executor places, looks up and reconciles `FlipOnExchange` orders the same way as hedges
on other venues, and `--paper` can wrap the exchange in a `PaperVenue` too. Live fills of
these orders arrive on the BLP stream (exactly once, with their seq), so `trades_since` is
empty here; the daemon records them from the stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping
from decimal import Decimal
from typing import Literal, TypeVar

from blp_client.bot.strategy import EXCHANGE
from blp_client.bot.venues import (
    Balance,
    Fill,
    InsufficientFunds,
    InvalidOrder,
    MarginSummary,
    MarketInfo,
    OrderBook,
    OrderNotFound,
    OrderRequest,
    OrderStateUnknown,
    OrderStatus,
    OrderType,
    RateLimited,
    Side,
    VenueError,
    VenueOrder,
    VenuePosition,
    VenueUnavailable,
)
from blp_client.client import BLPClient
from blp_client.errors import BLPError, ConnectionFailed
from blp_client.models import Order
from blp_client.vocabulary import ZERO

T = TypeVar("T")

_STATUS = {
    "new": OrderStatus.OPEN,
    "partially_filled": OrderStatus.OPEN,
    "filled": OrderStatus.FILLED,
    "cancelled": OrderStatus.CANCELLED,
    "canceled": OrderStatus.CANCELLED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


async def _call(aw: Awaitable[T]) -> T:
    """Map SDK and transport errors to the venue protocol's."""
    try:
        return await aw
    except ConnectionFailed as e:
        raise VenueUnavailable(f"exchange: {e}") from e
    except BLPError as e:
        raise _venue_error(e) from e


def _venue_error(e: BLPError) -> VenueError:
    status = e.status or 0
    text = f"{e.code}: {e}"
    if status == 429:
        return RateLimited(text)
    if status >= 500 or status == 0:
        return VenueUnavailable(text)
    if "margin" in str(e.code) or "insufficient" in str(e.code):
        return InsufficientFunds(text)
    if status == 404:
        return OrderNotFound(text)
    return InvalidOrder(text, None)


class ExchangeVenue:
    """`Venue` over the BLP's own account on the exchange (name `exchange`)."""

    def __init__(
        self, client: BLPClient, fee_taker: Decimal = ZERO, fee_maker: Decimal = ZERO
    ) -> None:
        self.client = client
        self.name = EXCHANGE
        self.fee_taker = fee_taker
        self.fee_maker = fee_maker
        self._markets: dict[str, MarketInfo] | None = None

    async def close(self) -> None:
        return None  # the daemon owns the client

    async def markets(self) -> Mapping[str, MarketInfo]:
        if self._markets is None:
            ms = await _call(self.client.markets())
            self._markets = {
                m.symbol: MarketInfo(
                    symbol=m.symbol,
                    venue_symbol=m.symbol,
                    base=m.base,
                    quote="USDT",
                    tick=m.tick,
                    lot=m.lot,
                    min_qty=m.lot,
                    min_notional=m.min_notional,
                    max_qty=None,
                    taker_fee=self.fee_taker,
                    maker_fee=self.fee_maker,
                )
                for m in ms
            }
        return self._markets

    async def order_book(self, symbol: str, depth: int = 50) -> OrderBook:
        b = await _call(self.client.book(symbol, depth))
        return OrderBook(symbol, tuple(b.bids), tuple(b.asks), b.ts, None)

    async def watch_order_book(self, symbol: str, depth: int = 50) -> OrderBook | None:
        """None: the BLP API streams no books (its stream is the BLP's own events); the
        market data polls `order_book`, the engine's BLP REST, on its own cadence."""
        return None

    @staticmethod
    def _order(o: Order) -> VenueOrder:
        return VenueOrder(
            client_order_id=o.client_order_id or "",
            venue_order_id=str(o.id),
            symbol=o.symbol,
            side=Side(o.side),
            type=OrderType(o.type),
            qty=o.qty,
            price=o.price,
            filled=o.filled_qty,
            avg_price=o.avg_price,
            status=_STATUS.get(o.status, OrderStatus.OPEN),
            reduce_only=o.reduce_only,
            fee=o.fees,
            timestamp_ms=o.created_ts,
        )

    @contextlib.asynccontextmanager
    async def order_slot(self) -> AsyncIterator[None]:
        """No slot to wait for: the BLP API's own rate limit is retried by the client."""
        yield

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        tif: Literal["GTC", "IOC"] = (
            "IOC" if request.time_in_force.value in ("IOC", "FOK") else "GTC"
        )
        try:
            o = await self.client.place_order(
                request.symbol,
                request.side.value,
                request.qty,
                request.price if request.type is OrderType.LIMIT else None,
                type=request.type.value,
                tif=tif,
                reduce_only=request.reduce_only,
                client_order_id=request.client_order_id,
            )
        except ConnectionFailed as e:  # sent, answer lost: resolve by client id
            found = await self.get_order(request.symbol, request.client_order_id)
            if found is None:
                raise OrderStateUnknown(f"exchange: {e}", request.client_order_id) from e
            return found
        except BLPError as e:
            if "duplicate" in str(e.code):
                found = await self.get_order(request.symbol, request.client_order_id)
                if found is not None:
                    return found
            raise _venue_error(e) from e
        return self._order(o)

    async def get_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        orders = await _call(self.client.orders("all", client_order_id))
        return self._order(orders[0]) if orders else None

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        found = await self.get_order(symbol, client_order_id)
        if found is None or found.venue_order_id is None:
            raise OrderNotFound(f"exchange: no order {client_order_id}")
        return self._order(await _call(self.client.cancel_order(int(found.venue_order_id))))

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        orders = await _call(self.client.open_orders())
        return [self._order(o) for o in orders if symbol is None or o.symbol == symbol]

    async def positions(self) -> list[VenuePosition]:
        acct = await _call(self.client.account())
        return [
            VenuePosition(p.symbol, p.qty, p.entry_price, p.mark_price, p.upnl, p.notional)
            for p in acct.positions
            if p.qty != 0
        ]

    async def balance(self) -> Balance:
        acct = await _call(self.client.account())
        return Balance("USDT", acct.equity, acct.equity - acct.initial_margin, acct.initial_margin)

    async def margin(self) -> MarginSummary:
        return MarginSummary.of(await self.balance(), await self.positions())

    async def trades_since(self, symbol: str, since_ms: int) -> list[Fill]:
        return []
