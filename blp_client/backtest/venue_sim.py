"""A hedge venue in a backtest: its own order book (an engine-core `Exchange`), its own
market makers quoting the scenario's index, its fees and lot sizes, and the desk's account.

It is not the exchange's book: the crash's liquidations do not trade here, so a hedge meets
the depth a separate venue would show (the same ladder and thinning as the scenario's makers)
and moves that book, not the one the engine liquidates on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from blp_client.bot.journal_schema import OrderRecord
from blp_client.bot.strategy import VenueMargin, VenueMarket
from blp_client.bot.venues.base import OrderStatus, OrderType, VenueOrder
from blp_client.bot.venues.base import Side as VenueSide
from blp_client.engine.core import (
    AccountKind,
    Exchange,
    ExchangeConfig,
    ExchangeError,
    FeeTier,
    Instrument,
    Order,
    Side,
    TimeInForce,
)
from blp_client.engine.core import OrderStatus as CoreStatus
from blp_client.engine.market import MarketMaker, MarketMakerConfig

# the local venue's (standard) fees: what `blp engine --venue-api binance` charges
DEFAULT_TAKER = Decimal("0.0006")
DEFAULT_MAKER = Decimal("0.0002")
BOOK_DEPTH = 20  # levels the bot's market data keeps


class SimVenue:
    """One venue: `step(now, index)` once per engine second, `place(order, now)` for ours."""

    def __init__(
        self,
        name: str,
        instruments: Mapping[str, Instrument],
        *,
        collateral: Decimal,
        makers: Mapping[str, MarketMakerConfig],
        taker_fee: Decimal | None = None,
        maker_fee: Decimal | None = None,
    ) -> None:
        self.name = name
        fees = FeeTier(
            DEFAULT_TAKER if taker_fee is None else taker_fee,
            DEFAULT_MAKER if maker_fee is None else maker_fee,
        )
        self.fees = fees
        self.x = Exchange(
            ExchangeConfig(
                instruments=dict(instruments), standard_fees=fees, insurance_fund=Decimal(0)
            )
        )
        self.symbols = sorted(instruments)
        self.makers = [
            MarketMaker(mm, s, makers.get(s, MarketMakerConfig()))
            for s in self.symbols
            if (mm := self.x.open_account(AccountKind.MARKET_MAKER, Decimal("500000000")))
        ]
        self.collateral = collateral
        self.desk = self.x.open_account(AccountKind.TRADER, collateral)
        self.x.drain_events()

    def step(self, now_ms: int, index: Mapping[str, Decimal]) -> None:
        """The venue at a new engine second: makers requote around the index."""
        x = self.x
        x.set_time(now_ms)
        for mm in self.makers:
            price = index.get(mm.symbol)
            if price is None:
                continue
            mm.requote(x, float(price))
            x.set_index(mm.symbol, price)
        x.advance(now_ms)
        x.events.clear()

    def place(self, order: OrderRecord, now_ms: int) -> VenueOrder | str:
        """Our order reaches the venue at `now_ms`: its answer, or the refusal's message."""
        try:
            return place(self.x, self.desk, order, now_ms)
        finally:
            self.x.events.clear()

    def lookup(self, client_order_id: str, now_ms: int) -> VenueOrder | None:
        """Our order by client id, as a reconciliation reads it (None: not known here)."""
        return find(self.x, self.desk, client_order_id, now_ms)

    def cancel(self, client_order_id: str, now_ms: int) -> VenueOrder | None:
        """Cancel our resting order by client id; its state after (None: not known here)."""
        try:
            return cancel(self.x, self.desk, client_order_id, now_ms)
        finally:
            self.x.events.clear()

    def market(self, symbol: str) -> VenueMarket:
        """The book as the bot's market data would show it now."""
        return book_market(self.name, self.x, symbol, self.fees.taker, self.fees.maker)

    def markets(self) -> Sequence[VenueMarket]:
        return [self.market(s) for s in self.symbols]

    def margin(self) -> VenueMargin:
        snap = self.x.margin(self.desk)
        return VenueMargin(self.name, snap.equity, snap.notional, snap.mm)

    def position(self, symbol: str) -> Decimal:
        return self.x.account(self.desk).qty(symbol)

    def mark(self, symbol: str) -> Decimal | None:
        return self.x.marks.get(symbol)


def find(x: Exchange, account_id: int, client_order_id: str, now_ms: int) -> VenueOrder | None:
    oid = x.client_ids.get(account_id, {}).get(client_order_id)
    return None if oid is None else answer(x.orders[oid], now_ms)


def book_market(
    venue: str, x: Exchange, symbol: str, taker_fee: Decimal, maker_fee: Decimal
) -> VenueMarket:
    """An engine-core book as the bot's market data shows it (`BOOK_DEPTH` levels a side)."""
    inst, book = x.instruments[symbol], x.books[symbol]
    return VenueMarket(
        venue, symbol, tuple(book.depth(Side.BUY, BOOK_DEPTH)),
        tuple(book.depth(Side.SELL, BOOK_DEPTH)), x.marks.get(symbol), inst.tick, inst.lot,
        inst.lot, inst.min_notional, taker_fee, maker_fee, x.now_ms,
    )  # fmt: skip


def place(x: Exchange, account_id: int, order: OrderRecord, now_ms: int) -> VenueOrder | str:
    """A journal order on an engine-core book for `account_id` (a market order is an IOC):
    its answer, or the refusal's message."""
    x.set_time(max(now_ms, x.now_ms))
    side = VenueSide.BUY if order.qty > 0 else VenueSide.SELL
    try:
        o = x.place_order(
            account_id,
            order.symbol,
            side.value,
            abs(order.qty),
            order.limit_price,
            order.tif if order.limit_price is not None else "IOC",
            order.reduce_only,
            order.client_order_id,
        )
    except ExchangeError as e:
        return f"{e.code}: {e.message}"
    return answer(o, now_ms)


def cancel(x: Exchange, account_id: int, client_order_id: str, now_ms: int) -> VenueOrder | None:
    """Cancel an open order by client id (one already closed is left as it is)."""
    oid = x.client_ids.get(account_id, {}).get(client_order_id)
    if oid is None:
        return None
    x.set_time(max(now_ms, x.now_ms))
    if x.orders[oid].is_open:
        x.cancel_order(account_id, oid)
    return answer(x.orders[oid], now_ms)


def answer(o: Order, now_ms: int) -> VenueOrder:
    """An engine-core order as a venue reports it (IOC remainders are "expired")."""
    if o.status is CoreStatus.FILLED:
        status = OrderStatus.FILLED
    elif o.status is CoreStatus.CANCELLED:
        status = OrderStatus.EXPIRED if o.tif is TimeInForce.IOC else OrderStatus.CANCELLED
    else:
        status = OrderStatus.OPEN
    return VenueOrder(
        o.client_order_id or str(o.id),
        str(o.id),
        o.symbol,
        VenueSide.BUY if o.side is Side.BUY else VenueSide.SELL,
        OrderType.LIMIT if o.price is not None else OrderType.MARKET,
        o.qty,
        o.price,
        o.filled,
        o.avg_price,
        status,
        o.reduce_only,
        o.fees,
        now_ms,
    )
