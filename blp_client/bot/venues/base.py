"""The venue protocol the executor trades through, its result types and its errors.

Symbols are always the engine's contract names (`BTC-PERP`); each venue maps them to its own.
Every price, quantity and amount is a `Decimal`. Errors are this module's classes, never a
library's, so the executor does not depend on ccxt.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from blp_client.bot.books import ZERO as ZERO  # re-exported: the venues use it
from blp_client.bot.books import ceil_to_step, floor_to_step
from blp_client.vocabulary import Side as Side  # re-exported: the one Side, the venues' too


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "PO"


class OrderStatus(StrEnum):
    OPEN = "open"  # resting, possibly partly filled (see `filled`)
    FILLED = "filled"
    CANCELLED = "cancelled"  # the wire's spelling (ccxt's "canceled" is parsed to it)
    EXPIRED = "expired"  # IOC/market remainder (possibly partly filled)
    REJECTED = "rejected"


@dataclass(frozen=True)
class MarketInfo:
    """A contract on a venue and the limits an order must meet there."""

    symbol: str  # engine contract, e.g. BTC-PERP
    venue_symbol: str  # e.g. BTC/USDT:USDT
    base: str
    quote: str
    tick: Decimal  # price step
    lot: Decimal  # quantity step
    min_qty: Decimal
    min_notional: Decimal
    max_qty: Decimal | None
    taker_fee: Decimal
    maker_fee: Decimal
    contract_size: Decimal = Decimal(1)


@dataclass(frozen=True)
class OrderBook:
    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]  # (price, qty), best first
    asks: tuple[tuple[Decimal, Decimal], ...]
    timestamp_ms: int | None = None
    nonce: int | None = None  # the venue's update id, when it has one

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if self.bids and self.asks:
            return (self.bids[0][0] + self.asks[0][0]) / 2
        return self.best_bid or self.best_ask


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: Side
    qty: Decimal
    client_order_id: str
    type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    reduce_only: bool = False
    time_in_force: TimeInForce = TimeInForce.GTC


@dataclass(frozen=True)
class VenueOrder:
    client_order_id: str
    venue_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    filled: Decimal
    avg_price: Decimal | None
    status: OrderStatus
    reduce_only: bool = False
    fee: Decimal = ZERO
    timestamp_ms: int | None = None

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled

    @property
    def is_open(self) -> bool:
        return self.status is OrderStatus.OPEN


@dataclass(frozen=True)
class Fill:
    trade_id: str
    venue_order_id: str | None
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str | None
    maker: bool | None
    timestamp_ms: int
    client_order_id: str | None = None


@dataclass(frozen=True)
class VenuePosition:
    symbol: str
    qty: Decimal  # signed: long > 0
    entry_price: Decimal | None
    mark_price: Decimal | None
    unrealized_pnl: Decimal
    notional: Decimal  # |qty|·mark
    liquidation_price: Decimal | None = None
    maintenance_margin: Decimal | None = None


@dataclass(frozen=True)
class Balance:
    currency: str
    total: Decimal  # equity: collateral + unrealised PnL
    free: Decimal  # available for new margin
    used: Decimal  # initial margin of positions and open orders


@dataclass(frozen=True)
class MarginSummary:
    """A venue account at one moment, in quote currency: what the risk monitor needs."""

    equity: Decimal
    notional: Decimal  # Σ |position| · mark
    maintenance_margin: Decimal

    @classmethod
    def of(cls, balance: Balance, positions: list[VenuePosition]) -> MarginSummary:
        return cls(
            balance.total,
            sum((p.notional for p in positions), ZERO),
            sum((p.maintenance_margin or ZERO for p in positions), ZERO),
        )


# ---- errors ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueFunding:
    """A contract's funding as the venue states it: the last settled rate and its estimate
    for the next funding time (`next_ms`); None where it does not say."""

    symbol: str
    last_rate: Decimal | None
    next_rate: Decimal | None
    next_ms: int | None
    interval_ms: int | None = None


@dataclass(frozen=True, slots=True)
class FundingFee:
    """One funding payment on the venue account: `amount` > 0 received, < 0 paid; `id` is the
    venue's (Binance: `tranId`)."""

    symbol: str
    id: str
    amount: Decimal
    timestamp_ms: int


class VenueError(Exception):
    """A venue refused or failed a request."""


class VenueUnavailable(VenueError):
    """Network errors, 5xx or rate limits persisted through every retry."""


class RateLimited(VenueUnavailable):
    pass


class AuthFailed(VenueError):
    pass


class InsufficientFunds(VenueError):
    pass


class InvalidOrder(VenueError):
    """The order breaks a rule; `limit` names it (min_qty, min_notional, lot, tick, ...)."""

    def __init__(self, message: str, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class OrderNotFound(VenueError):
    pass


class OrderStateUnknown(VenueError):
    """A placement's outcome could not be established (the venue stayed unreachable)."""

    def __init__(self, message: str, client_order_id: str) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id


# ---- the protocol ------------------------------------------------------------------------


@runtime_checkable
class Venue(Protocol):
    name: str

    async def markets(self) -> Mapping[str, MarketInfo]: ...

    async def order_book(self, symbol: str, depth: int = 50) -> OrderBook: ...

    async def watch_order_book(self, symbol: str, depth: int = 50) -> OrderBook | None:
        """The next book from the venue's stream: the first call subscribes and returns the
        current book, each later one waits for the next update. None: the venue has no book
        stream (poll `order_book`). Raises `VenueError` when the stream fails."""
        ...

    async def place_order(self, request: OrderRequest) -> VenueOrder: ...

    def order_slot(self) -> AbstractAsyncContextManager[None]:
        """Entered once an order would be sent at once (the venue's rate budget has a slot),
        held while the caller sends it: the executor builds a lane's next order only then,
        so what queued meanwhile joins it."""
        ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder: ...

    async def get_order(self, symbol: str, client_order_id: str) -> VenueOrder | None: ...

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    async def positions(self) -> list[VenuePosition]: ...

    async def balance(self) -> Balance: ...

    async def margin(self) -> MarginSummary:
        """Equity, position notional and maintenance margin, in as few requests as the venue
        allows (one account read where it reports all three)."""
        ...

    async def trades_since(self, symbol: str, since_ms: int) -> list[Fill]: ...

    async def close(self) -> None: ...


# ---- rounding to a venue's limits (step arithmetic: `blp_client.bot.books`) -------------


def round_qty(market: MarketInfo, qty: Decimal) -> Decimal:
    """Down to whole lots: never trade more than asked."""
    return floor_to_step(qty, market.lot)


def round_price(market: MarketInfo, price: Decimal, side: Side) -> Decimal:
    """To the tick, on the side that never pays more: buys down, sells up."""
    if side is Side.BUY:
        return floor_to_step(price, market.tick)
    return ceil_to_step(price, market.tick)


def check_limits(
    market: MarketInfo, qty: Decimal, ref_price: Decimal | None, reduce_only: bool = False
) -> None:
    """Raise `InvalidOrder` naming the limit an order of `qty` (already rounded) breaks."""
    if qty <= 0 or qty < market.min_qty:
        raise InvalidOrder(
            f"{market.symbol}: quantity {qty} is below the minimum order size "
            f"{market.min_qty} (min_qty)",
            "min_qty",
        )
    if qty % market.lot != 0:
        raise InvalidOrder(
            f"{market.symbol}: quantity {qty} is not a multiple of the lot {market.lot} (lot)",
            "lot",
        )
    if market.max_qty is not None and qty > market.max_qty:
        raise InvalidOrder(
            f"{market.symbol}: quantity {qty} is above the maximum order size "
            f"{market.max_qty} (max_qty)",
            "max_qty",
        )
    if not reduce_only and ref_price is not None and market.min_notional > 0:
        notional = qty * ref_price
        if notional < market.min_notional:
            raise InvalidOrder(
                f"{market.symbol}: notional {notional.normalize():f} is below the minimum "
                f"notional {market.min_notional} (min_notional)",
                "min_notional",
            )
