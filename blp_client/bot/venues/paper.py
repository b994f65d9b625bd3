"""`PaperVenue`: simulated fills against the real order books of a wrapped venue.

Read-only towards the wrapped venue: it only ever calls `markets()`, `order_book()` and
`watch_order_book()` there (for `CcxtVenue` those are ccxt's public endpoints and streams; no
key is needed). Everything else — orders, fills, positions, balance, margin — is simulated
here, in `Decimal`:

- a market order walks the opposite side of a freshly fetched book (VWAP), paying the taker
  fee; what the book cannot fill expires;
- a limit order takes what crosses it at placement (taker), and the rest rests (GTC) or
  expires (IOC; FOK refuses unless all fills, post-only refuses if it would take);
- a resting order fills at its limit price (maker fee) when a later book trades through it:
  a buy at P by the asks at or below P, a sell by the bids at or above P — partially when that
  crossing volume is smaller than the order. Books are fetched for symbols with resting orders
  by `poll()`, which `get_order`/`open_orders`/`order_book` run first;
- liquidity a paper order took from a book snapshot is not offered again while the venue shows
  the same snapshot (same nonce/timestamp); the real book never sees paper orders;
- a latency model delays each order by `latency_ms` ± jitter (seeded) before it sees the book
  (it trades on the book as it is then, and its fills and its venue timestamp are stamped then);
- a partial-fill model: with probability `partial_fill_probability` (seeded) an order that takes
  liquidity gets only `partial_fill_ratio` of what it would have taken (rounded down to the lot,
  at least one lot), as if others reached the book first; the rest expires (IOC, market) or
  rests (GTC). Fill-or-kill orders are all or nothing and never drawn;
- minimum size / notional and lot checks refuse orders with `InvalidOrder` naming the limit;
  margin: initial margin `initial_margin_rate`·notional of positions and open orders must fit
  in equity, else `InsufficientFunds` (cash, positions and margin: `paper_account.PaperAccount`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

import structlog

from .base import (
    ZERO,
    Balance,
    Fill,
    InvalidOrder,
    MarginSummary,
    MarketInfo,
    OrderBook,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Venue,
    VenueOrder,
    VenuePosition,
    check_limits,
)
from .paper_account import MONEY, PaperAccount

_log = structlog.get_logger("blp_client.bot.venues.paper")


@dataclass(frozen=True)
class PaperConfig:
    initial_balance: Decimal = Decimal(100_000)
    currency: str = "USDT"
    taker_fee: Decimal | None = None  # default: the wrapped venue's
    maker_fee: Decimal | None = None
    initial_margin_rate: Decimal = Decimal("0.1")
    maintenance_margin_rate: Decimal = Decimal("0.005")
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    partial_fill_probability: Decimal = ZERO
    partial_fill_ratio: Decimal = Decimal("0.5")
    seed: int = 0
    book_depth: int = 100
    ignore_reduce_only: bool = False
    """Trade reduce-only orders as plain ones, for a venue whose real position this account
    does not hold (the exchange in paper mode: assignments land on the real account), where
    reduce-only would refuse every order that reduces that position."""

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latency_ms and latency_jitter_ms must be >= 0")
        if not 0 <= self.partial_fill_probability <= 1:
            raise ValueError("partial_fill_probability must be within [0, 1]")
        if not 0 < self.partial_fill_ratio <= 1:
            raise ValueError("partial_fill_ratio must be within (0, 1]")


@dataclass
class _PaperOrder:
    order: VenueOrder
    seq: int
    notional: Decimal = ZERO  # Σ fill qty·price


def _snapshot_key(book: OrderBook) -> object:
    if book.nonce is not None:
        return ("nonce", book.nonce)
    if book.timestamp_ms is not None:
        return ("ts", book.timestamp_ms)
    return ("levels", book.bids, book.asks)


class PaperVenue:
    """Simulated trading on `source`'s real books (see the module docstring)."""

    def __init__(
        self,
        source: Venue,
        config: PaperConfig | None = None,
        *,
        name: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.source = source
        self.config = config or PaperConfig()
        self.name = name or f"paper:{source.name}"
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random(self.config.seed)
        self.account = PaperAccount(
            self.name,
            self.config.initial_balance,
            self.config.initial_margin_rate,
            self.config.maintenance_margin_rate,
        )
        self._orders: dict[str, _PaperOrder] = {}
        self._fills: list[Fill] = []
        self._consumed: dict[str, tuple[object, dict[tuple[Side, Decimal], Decimal]]] = {}
        self._seq = 0
        self._trade_seq = 0

    @property
    def cash(self) -> Decimal:
        return self.account.cash

    @property
    def fees_paid(self) -> Decimal:
        return self.account.fees_paid

    def _open(self) -> list[VenueOrder]:
        return [p.order for p in self._orders.values() if p.order.is_open]

    async def close(self) -> None:
        await self.source.close()

    # ---- market data --------------------------------------------------------------------

    async def markets(self) -> Mapping[str, MarketInfo]:
        return await self.source.markets()

    async def _market(self, symbol: str) -> MarketInfo:
        m = (await self.markets()).get(symbol)
        if m is None:
            raise InvalidOrder(f"{self.name} does not list {symbol}", "symbol")
        return m

    def _fees(self, m: MarketInfo) -> tuple[Decimal, Decimal]:
        c = self.config
        return (
            c.taker_fee if c.taker_fee is not None else m.taker_fee,
            c.maker_fee if c.maker_fee is not None else m.maker_fee,
        )

    async def _fetch(self, symbol: str) -> OrderBook:
        return self._seen(symbol, await self.source.order_book(symbol, self.config.book_depth))

    def _seen(self, symbol: str, book: OrderBook) -> OrderBook:
        """Take in a fresh book of the source: marks, and a new snapshot for paper takers."""
        mid = book.mid
        if mid is not None:
            self.account.marks[symbol] = mid
        key = _snapshot_key(book)
        held = self._consumed.get(symbol)
        if held is None or held[0] != key:
            self._consumed[symbol] = (key, {})
        return book

    def _available(self, symbol: str, side: Side, price: Decimal, qty: Decimal) -> Decimal:
        """What is left of a level for paper takers on the current snapshot."""
        used = self._consumed[symbol][1].get((side, price), ZERO)
        return max(ZERO, qty - used)

    def _consume(self, symbol: str, side: Side, price: Decimal, qty: Decimal) -> None:
        used = self._consumed[symbol][1]
        used[(side, price)] = used.get((side, price), ZERO) + qty

    async def order_book(self, symbol: str, depth: int = 50) -> OrderBook:
        book = await self._fetch(symbol)
        await self._match_resting(symbol, book)
        return replace(book, bids=book.bids[:depth], asks=book.asks[:depth])

    async def watch_order_book(self, symbol: str, depth: int = 50) -> OrderBook | None:
        """The source's next streamed book (None: it has none), taken in like a fetched one:
        resting paper orders it trades through fill."""
        book = await self.source.watch_order_book(symbol, max(depth, self.config.book_depth))
        if book is None:
            return None
        book = self._seen(symbol, book)
        await self._match_resting(symbol, book)
        return replace(book, bids=book.bids[:depth], asks=book.asks[:depth])

    async def poll(self, symbol: str | None = None) -> None:
        """Fetch books for symbols with resting orders and fill what they trade through."""
        symbols = {p.order.symbol for p in self._orders.values() if p.order.is_open}
        if symbol is not None:
            symbols &= {symbol}
        for s in sorted(symbols):
            book = await self._fetch(s)
            await self._match_resting(s, book)

    # ---- fills --------------------------------------------------------------------------

    def _take(
        self, symbol: str, book: OrderBook, side: Side, qty: Decimal, limit: Decimal | None
    ) -> list[tuple[Decimal, Decimal]]:
        """Walk the opposite side (best first) for up to `qty`; (price, qty) per level."""
        levels = book.asks if side is Side.BUY else book.bids
        book_side = Side.SELL if side is Side.BUY else Side.BUY
        out: list[tuple[Decimal, Decimal]] = []
        left = qty
        for price, size in levels:
            if left <= 0:
                break
            if limit is not None and (price > limit if side is Side.BUY else price < limit):
                break
            avail = self._available(symbol, book_side, price, size)
            take = min(left, avail)
            if take > 0:
                out.append((price, take))
                self._consume(symbol, book_side, price, take)
                left -= take
        return out

    def _book_fill(
        self, po: _PaperOrder, qty: Decimal, price: Decimal, fee_rate: Decimal, maker: bool
    ) -> None:
        o = po.order
        fee = (qty * price * fee_rate).quantize(MONEY)
        self.account.trade(o.symbol, o.side.sign * qty, price)
        self.account.pay_fee(fee)
        po.notional += qty * price
        filled = o.filled + qty
        self._trade_seq += 1
        now = self._clock()
        self._fills.append(
            Fill(
                trade_id=f"paper-{self._trade_seq}",
                venue_order_id=o.venue_order_id,
                symbol=o.symbol,
                side=o.side,
                qty=qty,
                price=price,
                fee=fee,
                fee_currency=self.config.currency,
                maker=maker,
                timestamp_ms=now,
                client_order_id=o.client_order_id,
            )
        )
        po.order = replace(
            o,
            filled=filled,
            avg_price=po.notional / filled,
            fee=o.fee + fee,
            status=OrderStatus.FILLED if filled >= o.qty else o.status,
        )

    async def _match_resting(self, symbol: str, book: OrderBook) -> None:
        resting = [p for p in self._orders.values() if p.order.symbol == symbol and p.order.is_open]
        if not resting:
            return
        m = await self._market(symbol)
        _, maker_fee = self._fees(m)
        # price priority (best bid / best ask first), then time
        resting.sort(
            key=lambda p: (
                -(p.order.price or ZERO) if p.order.side is Side.BUY else (p.order.price or ZERO),
                p.seq,
            )
        )
        for po in resting:
            o = po.order
            assert o.price is not None
            if o.reduce_only:
                reducible = max(ZERO, -o.side.sign * self.account.qty(symbol))
                if reducible == 0:
                    po.order = replace(o, status=OrderStatus.EXPIRED)
                    continue
                want = min(o.remaining, reducible)
            else:
                want = o.remaining
            takes = self._take(symbol, book, o.side, want, o.price)
            crossed = sum((q for _, q in takes), ZERO)
            if crossed > 0:
                self._book_fill(po, crossed, o.price, maker_fee, maker=True)
                _log.info(
                    "paper_resting_fill",
                    venue=self.name,
                    symbol=symbol,
                    client_order_id=o.client_order_id,
                    qty=str(crossed),
                    price=str(o.price),
                )

    # ---- orders -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def order_slot(self) -> AsyncIterator[None]:
        """No rate budget: a paper order is simulated at once."""
        yield

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        if request.reduce_only and self.config.ignore_reduce_only:
            request = replace(request, reduce_only=False)
        if request.client_order_id in self._orders:
            raise InvalidOrder(
                f"client order id {request.client_order_id!r} was already used", "client_order_id"
            )
        m = await self._market(request.symbol)
        if request.type is OrderType.LIMIT and request.price is None:
            raise InvalidOrder(f"{request.symbol}: a limit order needs a price", "price")
        if request.price is not None and request.price % m.tick != 0:
            raise InvalidOrder(
                f"{request.symbol}: price {request.price} is not a multiple of the tick "
                f"{m.tick} (tick)",
                "tick",
            )
        delay = self._latency_s()
        if delay:
            await self._sleep(delay)
        book = await self._fetch(request.symbol)
        await self._match_resting(request.symbol, book)
        side = request.side
        ref = (
            request.price
            if request.type is OrderType.LIMIT
            else (book.best_ask if side is Side.BUY else book.best_bid) or book.mid
        )
        qty = request.qty
        check_limits(m, qty, ref, request.reduce_only)
        if request.reduce_only:
            reducible = max(ZERO, -side.sign * self.account.qty(request.symbol))
            if reducible == 0:
                raise InvalidOrder(
                    f"{request.symbol}: reduce-only order would not reduce the position",
                    "reduce_only",
                )
            qty = min(qty, reducible)
        taker_fee, _ = self._fees(m)
        if not request.reduce_only:
            self.account.check_margin(self._open(), request.symbol, side, qty, ref, taker_fee)
        self._seq += 1
        po = _PaperOrder(
            VenueOrder(
                client_order_id=request.client_order_id,
                venue_order_id=f"paper-{self._seq}",
                symbol=request.symbol,
                side=side,
                type=request.type,
                qty=qty,
                price=request.price if request.type is OrderType.LIMIT else None,
                filled=ZERO,
                avg_price=None,
                status=OrderStatus.OPEN,
                reduce_only=request.reduce_only,
                timestamp_ms=self._clock(),
            ),
            self._seq,
        )
        limit = request.price if request.type is OrderType.LIMIT else None
        tif = request.time_in_force if request.type is OrderType.LIMIT else TimeInForce.IOC
        if tif is TimeInForce.POST_ONLY:
            best = book.best_ask if side is Side.BUY else book.best_bid
            assert limit is not None
            if best is not None and (limit >= best if side is Side.BUY else limit <= best):
                raise InvalidOrder(
                    f"{request.symbol}: post-only order at {limit} would take liquidity",
                    "post_only",
                )
        if tif is TimeInForce.FOK:
            levels = book.asks if side is Side.BUY else book.bids
            book_side = Side.SELL if side is Side.BUY else Side.BUY
            assert limit is not None
            avail = sum(
                (
                    self._available(request.symbol, book_side, p, q)
                    for p, q in levels
                    if (p <= limit if side is Side.BUY else p >= limit)
                ),
                ZERO,
            )
            if avail < qty:
                raise InvalidOrder(
                    f"{request.symbol}: fill-or-kill order cannot fill {qty} (book has {avail})",
                    "fill_or_kill",
                )
        self._orders[request.client_order_id] = po
        taking = qty if tif is TimeInForce.FOK else self._partial(qty, m.lot)
        for price, take in self._take(request.symbol, book, side, taking, limit):
            self._book_fill(po, take, price, taker_fee, maker=False)
        if po.order.is_open and tif is not TimeInForce.GTC and tif is not TimeInForce.POST_ONLY:
            po.order = replace(po.order, status=OrderStatus.EXPIRED)
        _log.info(
            "paper_order",
            venue=self.name,
            symbol=request.symbol,
            client_order_id=request.client_order_id,
            side=side.value,
            qty=str(qty),
            filled=str(po.order.filled),
            avg=str(po.order.avg_price),
            status=po.order.status.value,
        )
        return po.order

    def _partial(self, qty: Decimal, lot: Decimal) -> Decimal:
        """How much of `qty` this order may take: all of it, or (drawn with the configured
        probability) the ratio of it, down to the lot and at least one lot."""
        c = self.config
        p = float(c.partial_fill_probability)
        if p <= 0 or self._rng.random() >= p:
            return qty
        part = qty * c.partial_fill_ratio
        if lot > 0:
            part = max(lot, (part / lot).to_integral_value(rounding="ROUND_FLOOR") * lot)
        return min(qty, part)

    def _latency_s(self) -> float:
        c = self.config
        if not c.latency_ms and not c.latency_jitter_ms:
            return 0.0
        jitter = self._rng.uniform(-c.latency_jitter_ms, c.latency_jitter_ms)
        return max(0.0, c.latency_ms + jitter) / 1000.0

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        await self.poll(symbol)
        po = self._orders.get(client_order_id)
        if po is None or po.order.symbol != symbol:
            raise OrderNotFound(f"{self.name}: no order {client_order_id}")
        if po.order.is_open:
            po.order = replace(po.order, status=OrderStatus.CANCELLED)
        return po.order

    async def get_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        await self.poll(symbol)
        po = self._orders.get(client_order_id)
        return po.order if po is not None and po.order.symbol == symbol else None

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        await self.poll(symbol)
        return [
            p.order
            for p in sorted(self._orders.values(), key=lambda p: p.seq)
            if p.order.is_open and (symbol is None or p.order.symbol == symbol)
        ]

    # ---- account ------------------------------------------------------------------------

    async def positions(self) -> list[VenuePosition]:
        return self.account.venue_positions()

    async def balance(self) -> Balance:
        return self.account.balance(self.config.currency, self._open())

    async def margin(self) -> MarginSummary:
        return MarginSummary.of(await self.balance(), await self.positions())

    async def trades_since(self, symbol: str, since_ms: int) -> list[Fill]:
        return [f for f in self._fills if f.symbol == symbol and f.timestamp_ms >= since_ms]
