"""What the facade knows beyond the engine: symbol names, Binance-only order details, the
own-trade and funding-fee history and 24 h stats of venue accounts, and per-symbol leverage.

The engine does not keep a per-account trade list or Binance's order labels (FOK, GTX, CANCELED
vs EXPIRED), so `VenueState` watches the engine's events as they are emitted and keeps them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ..core import events as ev
from ..core.book import Side
from ..core.exchange import Exchange
from ..core.instruments import Instrument
from ..core.num import ZERO
from .errors import BinanceApiError, missing

QUOTE = "USDT"
FUNDING_INCOME_KEPT = 10_000  # FUNDING_FEE rows per venue account
USER_TRADES_KEPT = 2_000
"""Own trades kept per venue account, the latest (two full `userTrades` pages; older ones are
no longer served)."""
PRUNE_EVERY = 256
"""Closed orders observed between two sweeps of the per-order details below: those of orders
the engine forgot (past its `CLOSED_ORDERS_KEPT` window) are dropped with them."""
DEFAULT_LEVERAGE = 20
DAY_MS = 86_400_000
BIG = Decimal("1000000000")  # "no limit" in filters and brackets


@dataclass
class UserTrade:
    id: int
    symbol: str
    order_id: int
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    realised: Decimal
    maker: bool
    time: int


class TickerStats:
    """Rolling 24 h of trades of one symbol (engine time)."""

    def __init__(self) -> None:
        self.trades: deque[tuple[int, int, Decimal, Decimal]] = deque()  # ts, id, price, qty

    def add(self, ts: int, trade_id: int, price: Decimal, qty: Decimal) -> None:
        self.trades.append((ts, trade_id, price, qty))

    def trim(self, now: int) -> None:
        while self.trades and self.trades[0][0] < now - DAY_MS:
            self.trades.popleft()


def max_notional(inst: Instrument, leverage: int) -> Decimal:
    """The largest position notional Binance-style brackets allow at `leverage`."""
    tiers = inst.tiers
    cap = tiers[1].floor if len(tiers) > 1 else BIG
    for i, t in enumerate(tiers):
        if int(1 / t.imr) >= leverage:
            cap = tiers[i + 1].floor if i + 1 < len(tiers) else BIG
    return cap


class VenueState:
    """Engine + the facade's own bookkeeping, shared by every handler group.

    `now_ms()` is engine time (timestamps; mutating requests first `sync_clock()`, by default
    advancing the engine to `now_ms()`), `clock_ms()` the server clock of `/fapi/v1/time` and of
    the signature window.
    """

    def __init__(
        self,
        exchange: Exchange,
        now_ms: Callable[[], int],
        clock_ms: Callable[[], int],
        sync: Callable[[], None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.now_ms = now_ms
        self.clock_ms = clock_ms
        self._sync = sync
        self.venue_accounts: set[int] = set()
        self.to_venue = {s: f"{inst.base}{QUOTE}" for s, inst in exchange.instruments.items()}
        self.to_engine = {v: s for s, v in self.to_venue.items()}
        self.leverage: dict[tuple[int, str], int] = {}
        self.orig_qty: dict[int, Decimal] = {}  # partial-fill fault: what the client asked for
        self.tif_label: dict[int, str] = {}  # FOK/GTX orders run as IOC/GTC on the engine
        self.user_cancelled: set[int] = set()
        self.order_updated: dict[int, int] = {}
        self._closes = 0  # closed orders observed since the last sweep (PRUNE_EVERY)
        self.position_updated: dict[tuple[int, str], int] = {}
        # each venue account's own trades, the latest USER_TRADES_KEPT (`GET userTrades`
        # serves at most 1000 at a time): a daemon that trades for weeks stays bounded
        self.user_trades: dict[int, deque[UserTrade]] = {}
        self.funding_income: dict[int, deque[ev.FundingPayment]] = {}
        self.stats = {s: TickerStats() for s in exchange.instruments}
        self._realised_seen: dict[int, Decimal] = {}
        # Observe the engine's events as they are emitted (the service drains the list
        # itself): fills of venue accounts by anyone, order closes, 24 h ticker stats.
        self._inner_emit = exchange.emit
        setattr(exchange, "emit", self._observe)  # noqa: B010 - chained wrapper

    def add_account(self, account_id: int) -> None:
        """Start keeping own trades for `account_id` (it got an API key)."""
        self.venue_accounts.add(account_id)
        acct = self.exchange.account(account_id)
        self._realised_seen.setdefault(account_id, acct.realised_pnl)
        self.user_trades.setdefault(account_id, deque(maxlen=USER_TRADES_KEPT))
        self.funding_income.setdefault(account_id, deque(maxlen=FUNDING_INCOME_KEPT))

    # ---- symbols and prices -------------------------------------------------------------

    def inst(self, venue_symbol: str | None) -> Instrument:
        if venue_symbol is None:
            raise missing("symbol")
        s = self.to_engine.get(venue_symbol.upper())
        if s is None:
            raise BinanceApiError(-1121, "Invalid symbol.")
        return self.exchange.instruments[s]

    def insts(self, venue_symbol: str | None) -> tuple[list[Instrument], bool]:
        """One symbol's instrument, or all of them (then True: answer with a list)."""
        if venue_symbol is None:
            return list(self.exchange.instruments.values()), True
        return [self.inst(venue_symbol)], False

    def reference_price(self, symbol: str) -> Decimal | None:
        return self.exchange.marks.get(symbol) or self.exchange.index.get(symbol)

    def leverage_of(self, account_id: int, symbol: str) -> int:
        return self.leverage.get((account_id, symbol), DEFAULT_LEVERAGE)

    def sync_clock(self) -> None:
        if self._sync is not None:
            self._sync()
            return
        now = self.now_ms()
        if now > self.exchange.now_ms:
            self.exchange.advance(now)

    # ---- engine observation -------------------------------------------------------------

    def _observe(self, event: ev.Event) -> None:
        self._inner_emit(event)
        if isinstance(event, ev.Trade):
            self.stats[event.symbol].add(event.ts, event.trade_id, event.price, event.qty)
            taker_side = Side(event.taker_side)
            for acct_id, order_id, fee, maker, side in (
                (event.taker_account_id, event.taker_order_id, event.taker_fee, False, taker_side),
                (
                    event.maker_account_id,
                    event.maker_order_id,
                    event.maker_fee,
                    True,
                    taker_side.opposite,
                ),
            ):
                if acct_id in self.venue_accounts:
                    self._own_fill(event, acct_id, order_id, fee, maker, side)
        elif (
            isinstance(event, ev.OrderAccepted | ev.OrderClosed)
            and event.account_id in self.venue_accounts
        ):
            self.order_updated[event.order_id] = event.ts
            if isinstance(event, ev.OrderClosed):
                self._closes += 1
                if self._closes >= PRUNE_EVERY:
                    self.prune_orders()
        elif isinstance(event, ev.FundingPayment) and event.account_id in self.venue_accounts:
            self.funding_income[event.account_id].append(event)  # GET /fapi/v1/income

    def prune_orders(self) -> None:
        """Drop the per-order details of orders the engine no longer keeps (a query for one
        answers -2013 "Order does not exist", as Binance does for an order too old)."""
        self._closes = 0
        kept = self.exchange.orders
        for d in (self.order_updated, self.orig_qty, self.tif_label):
            for oid in [o for o in d if o not in kept]:
                del d[oid]
        self.user_cancelled.intersection_update(kept)

    def _own_fill(
        self, event: ev.Trade, acct_id: int, order_id: int, fee: Decimal, maker: bool, side: Side
    ) -> None:
        acct = self.exchange.ledger.accounts[acct_id]
        realised = acct.realised_pnl - self._realised_seen.get(acct_id, ZERO)
        self._realised_seen[acct_id] = acct.realised_pnl
        self.user_trades[acct_id].append(
            UserTrade(
                event.trade_id,
                event.symbol,
                order_id,
                side,
                event.price,
                event.qty,
                fee,
                realised,
                maker,
                event.ts,
            )
        )
        self.order_updated[order_id] = event.ts
        self.position_updated[(acct_id, event.symbol)] = event.ts
