"""A price-time priority limit order book for one contract (pure matching, no accounts)."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from ...vocabulary import BUY as BUY  # re-exported: the core names sides from here
from ...vocabulary import SELL as SELL
from ...vocabulary import Side as Side
from .num import ZERO


class TimeInForce(StrEnum):
    GTC = "GTC"  # rests on the book
    IOC = "IOC"  # fills what it can now, the rest is cancelled


class OrderStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})

# Members the matching hot path names, as module constants (like BUY and SELL): in CPython 3.11
# `TimeInForce.IOC` is a descriptor lookup (~80 ns), a module global ~15 ns.
IOC = TimeInForce.IOC
FILLED, PARTIALLY_FILLED, CANCELLED = (
    OrderStatus.FILLED,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.CANCELLED,
)


@dataclass(slots=True, eq=False)
class Order:
    id: int
    account_id: int
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal | None  # None: market order
    tif: TimeInForce
    reduce_only: bool
    client_order_id: str | None
    created_ms: int
    filled: Decimal = ZERO
    status: OrderStatus = OrderStatus.NEW
    notional_filled: Decimal = ZERO  # Σ fill qty·price, for the average price
    fees: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def avg_price(self) -> Decimal | None:
        return self.notional_filled / self.filled if self.filled else None


class Match(NamedTuple):
    """One maker's part of a match (a named tuple: one is made per fill)."""

    maker: Order
    price: Decimal
    qty: Decimal
    expired: bool = False


_new_match = tuple.__new__  # skips the named tuple's Python-level __new__ (one per fill)


@dataclass(slots=True)
class _Side:
    """One side of the book: price levels (FIFO queues) and their sorted keys."""

    descending: bool
    levels: dict[Decimal, deque[Order]] = field(default_factory=dict)
    keys: list[Decimal] = field(default_factory=list)  # ascending sort keys (-price for bids)

    def _key(self, price: Decimal) -> Decimal:
        return -price if self.descending else price

    def add(self, order: Order) -> None:
        assert order.price is not None
        q = self.levels.get(order.price)
        if q is None:
            q = self.levels[order.price] = deque()
            bisect.insort(self.keys, self._key(order.price))
        q.append(order)

    def remove(self, order: Order) -> None:
        assert order.price is not None
        q = self.levels.get(order.price)
        if q is None:
            return
        try:
            q.remove(order)
        except ValueError:
            return
        if not q:
            self._drop_level(order.price)

    def _drop_level(self, price: Decimal) -> None:
        del self.levels[price]
        key = self._key(price)
        i = bisect.bisect_left(self.keys, key)
        del self.keys[i]

    def prices(self) -> Iterator[Decimal]:
        for k in self.keys:
            yield self._key(k)


class OrderBook:
    """Matching for one contract. Accounts, fees and positions are the exchange's business.

    `version` counts the calls that may have changed the book (rest, remove, a match that
    filled or expired a maker): it only ever grows, so an observer can tell "unchanged since"
    with one comparison (the venue facade's update ids are built on it).
    """

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = _Side(descending=True)
        self.asks = _Side(descending=False)
        self.version = 0

    def best_bid(self) -> Decimal | None:
        keys = self.bids.keys  # hot (every liquidation round): no call into _Side
        return -keys[0] if keys else None

    def best_ask(self) -> Decimal | None:
        keys = self.asks.keys
        return keys[0] if keys else None

    def _side(self, side: Side) -> _Side:
        return self.bids if side is BUY else self.asks

    def rest(self, order: Order) -> None:
        self.version += 1
        self._side(order.side).add(order)

    def remove(self, order: Order) -> None:
        self.version += 1
        self._side(order.side).remove(order)

    def match(self, taker: Order, reducible: Callable[[Order], Decimal]) -> list[Match]:
        """Match `taker` against the opposite side in price-time priority, filling both.

        A maker that may fill less than asked expires after that partial fill: one of the
        taker's own account fills nothing (self-trade prevention), and a reduce-only one fills
        at most `reducible(maker)`, what its position still lets it reduce. Expired makers
        leave the book and are reported with `expired=True` so the caller can cancel them.
        """
        buy = taker.side is BUY
        book = self.asks if buy else self.bids
        keys, levels = book.keys, book.levels
        out: list[Match] = []
        limit = taker.price
        left = taker.qty - taker.filled
        while left > ZERO and keys:
            price = keys[0] if buy else -keys[0]
            if limit is not None and (price > limit if buy else price < limit):
                break
            queue = levels[price]
            while left > ZERO and queue:
                maker = queue[0]
                maker_left = maker.qty - maker.filled
                qty = left if left < maker_left else maker_left
                expired = False
                if maker.account_id == taker.account_id:
                    qty, expired = ZERO, True
                elif maker.reduce_only:
                    ok = reducible(maker)
                    if ok < qty:
                        qty, expired = max(ok, ZERO), True
                if expired:
                    queue.popleft()
                if qty > ZERO:
                    notional = qty * price
                    maker.filled += qty
                    maker.notional_filled += notional
                    taker.filled += qty
                    taker.notional_filled += notional
                    left -= qty
                if not expired and qty == maker_left:
                    queue.popleft()
                out.append(_new_match(Match, (maker, price, qty, expired)))
            if not queue:
                book._drop_level(price)
        if out:
            self.version += 1
        return out

    def levels(self, side: Side) -> Iterator[tuple[Decimal, Decimal]]:
        """Aggregated (price, quantity) levels of one side, best first, lazily (the funding
        premium walks only as deep as its impact notional)."""
        book = self._side(side)
        for price in book.prices():
            yield price, sum((o.remaining for o in book.levels[price]), ZERO)

    def depth(self, side: Side, levels: int) -> list[tuple[Decimal, Decimal]]:
        """Aggregated (price, quantity) for the best `levels` price levels of one side."""
        book = self._side(side)
        out: list[tuple[Decimal, Decimal]] = []
        for price in book.prices():
            if len(out) >= levels:
                break
            out.append((price, sum((o.remaining for o in book.levels[price]), ZERO)))
        return out
