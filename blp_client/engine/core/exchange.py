"""The exchange façade: accounts, orders and matching, index and mark prices, the BLP program
and the liquidation waterfall, over an injected clock and RNG.

Synchronous and deterministic: the caller moves time with `advance(now_ms)` and sets index
prices; every state change is appended to an event list the caller drains.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from . import events as ev
from .blp import BLP, ProgramConfig
from .book import (
    BUY,
    CANCELLED,
    FILLED,
    IOC,
    PARTIALLY_FILLED,
    SELL,
    Order,
    OrderBook,
    OrderStatus,
    Side,
    TimeInForce,
)
from .funding import Funding, FundingConfig, Settlement, pay
from .instruments import Instrument, default_instruments
from .ledger import Account, AccountKind, Ledger, LiquidationState
from .liquidation import Liquidator, WaterfallConfig
from .margin import MarginSnapshot, snapshot
from .num import ZERO, money
from .stats import Stats

CLOSED_ORDERS_KEPT = 1_000
"""Closed orders kept per account, the latest (open ones are always kept): an older one is
forgotten, with its client order id (a query for it answers unknown order, the id may be used
again). A daemon that trades for weeks stays bounded; Binance's `allOrders` pages are 1,000."""


class ExchangeError(Exception):
    """A refused request; `code` is stable snake_case, the message names the cause."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class FeeTier:
    taker: Decimal
    maker: Decimal


@dataclass(frozen=True)
class ExchangeConfig:
    instruments: Mapping[str, Instrument] = field(default_factory=default_instruments)
    standard_fees: FeeTier = FeeTier(Decimal("0.0006"), Decimal("0.0002"))
    program: ProgramConfig = field(default_factory=ProgramConfig)
    waterfall: WaterfallConfig = field(default_factory=WaterfallConfig)
    insurance_fund: Decimal = Decimal("1000000")
    funding: FundingConfig = field(default_factory=FundingConfig)
    closed_orders_kept: int = CLOSED_ORDERS_KEPT  # per account (see CLOSED_ORDERS_KEPT)


class Exchange:
    def __init__(self, config: ExchangeConfig | None = None, seed: int = 0, now_ms: int = 0):
        self.config = config or ExchangeConfig()
        self.instruments = dict(self.config.instruments)
        self.rng = random.Random(seed)
        self.now_ms = now_ms
        self.ledger = Ledger()
        self.books = {s: OrderBook(s) for s in self.instruments}
        self.index: dict[str, Decimal] = {}
        self.marks: dict[str, Decimal] = {}
        self.orders: dict[int, Order] = {}
        self.client_ids: dict[int, dict[str, int]] = {}
        self.open_orders: dict[int, set[int]] = {}
        # per account: the ids of its kept closed orders, oldest first (`closed_orders_kept`),
        # and how many orders (and client ids) it had that were forgotten since
        self._closed: dict[int, deque[int]] = {}
        self.forgotten: dict[int, tuple[int, int]] = {}
        self.blps: dict[int, BLP] = {}
        self.stats = Stats()
        self.events: list[ev.Event] = []
        self._next_order_id = 1
        self._quotes: dict[tuple[int, str], list[Order]] = {}
        std, prog = self.config.standard_fees, self.config.program
        self._blp_fees = (prog.taker_fee, prog.maker_fee)
        self._kind_fees = {
            kind: (ZERO, ZERO) if kind in (AccountKind.INSURANCE_FUND, AccountKind.FEES)
            else (std.taker, std.maker)
            for kind in AccountKind
        }  # fmt: skip
        self._next_trade_id = 1
        self.funding = Funding(self.config.funding, self.instruments, now_ms)
        self._next_payment_id = 1
        self.liquidator = Liquidator(self, self.config.waterfall, prog, self.rng)
        if self.config.insurance_fund:
            self.ledger.deposit(self.ledger.insurance_fund, self.config.insurance_fund)
        self.stats.insurance_fund_start = self.ledger.insurance_fund.cash

    # ---- events -------------------------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        """The one sink of every state change: the event list, and the statistics."""
        self.events.append(event)
        self.stats.record(event)

    def drain_events(self) -> list[ev.Event]:
        out, self.events = self.events, []
        return out

    # ---- accounts -----------------------------------------------------------------------

    @property
    def insurance_fund(self) -> Account:
        return self.ledger.insurance_fund

    def account(self, account_id: int) -> Account:
        acct = self.ledger.accounts.get(account_id)
        if acct is None:
            raise ExchangeError("unknown_account", f"no account {account_id}")
        return acct

    def open_account(
        self, kind: AccountKind = AccountKind.TRADER, collateral: Decimal = ZERO
    ) -> int:
        if collateral < 0:
            raise ExchangeError("invalid_amount", "collateral must be >= 0")
        acct = self.ledger.open(kind)
        self.emit(ev.AccountOpened(self.now_ms, acct.id, kind.value))
        if collateral:
            self.deposit(acct.id, collateral)
        return acct.id

    def deposit(self, account_id: int, amount: Decimal) -> None:
        if amount <= 0:
            raise ExchangeError("invalid_amount", "deposit amount must be > 0")
        acct = self.account(account_id)
        self.ledger.deposit(acct, amount)
        self.liquidator.touched(acct)
        self.emit(ev.Deposited(self.now_ms, account_id, amount))

    def seed_position(
        self, account_id: int, counterparty_id: int, symbol: str, qty: Decimal, price: Decimal
    ) -> None:
        """Give `account_id` a signed position against `counterparty_id` at `price`, off-book
        (operator set-up of populations and tests). No fees; both sides booked exactly."""
        inst = self._instrument(symbol)
        if qty == 0 or not inst.is_lot_multiple(abs(qty)):
            raise ExchangeError("invalid_qty", f"qty must be a non-zero multiple of {inst.lot}")
        if price <= 0:
            raise ExchangeError("invalid_price", "price must be > 0")
        a, b = self.account(account_id), self.account(counterparty_id)
        if a is b:
            raise ExchangeError("invalid_counterparty", "an account cannot trade with itself")
        self.ledger.trade(a, symbol, qty, price)
        self.ledger.trade(b, symbol, -qty, price)
        self.liquidator.touched(a)
        self.liquidator.touched(b)

    def margin(self, account_id: int) -> MarginSnapshot:
        return snapshot(self.account(account_id), self.marks, self.instruments)

    def in_margin_call(self, account_id: int) -> bool:
        """Whether a watched (BLP) account's last margin alert was a margin call."""
        return account_id in self.liquidator.margin_call

    def fee_tier(self, acct: Account) -> tuple[Decimal, Decimal]:
        """(taker, maker) rates: the program's best tier for registered BLPs, else by kind."""
        if acct.id in self.blps:
            return self._blp_fees
        return self._kind_fees[acct.kind]

    # ---- the BLP program ----------------------------------------------------------------

    def register_blp(
        self,
        account_id: int,
        minute_rate: Decimal,
        hour_rate: Decimal,
        thresholds: Mapping[str, Decimal],
    ) -> BLP:
        acct = self.account(account_id)
        if account_id in self.blps:
            raise ExchangeError("already_registered", f"account {account_id} is already a BLP")
        if acct.kind not in (AccountKind.TRADER, AccountKind.BLP):
            raise ExchangeError("invalid_account", "only trading accounts can become BLPs")
        self.check_rates(minute_rate, hour_rate)
        self.check_thresholds(thresholds)
        acct.kind = AccountKind.BLP
        blp = BLP(account_id, minute_rate, hour_rate, dict(thresholds))
        self.blps[account_id] = blp
        self.liquidator.watch(acct)
        self._profile_changed(blp, "registered")
        return blp

    def blp(self, account_id: int) -> BLP:
        blp = self.blps.get(account_id)
        if blp is None:
            raise ExchangeError("not_a_blp", f"account {account_id} is not a registered BLP")
        return blp

    def set_threshold(self, account_id: int, symbol: str, value: Decimal) -> None:
        self.set_thresholds(account_id, {symbol: value})

    def set_thresholds(self, account_id: int, thresholds: Mapping[str, Decimal]) -> None:
        """Set several contracts' thresholds at once: all or nothing, one profile event."""
        blp = self.blp(account_id)
        self.check_thresholds(thresholds)
        blp.thresholds.update(thresholds)
        self._profile_changed(blp, "threshold")

    def set_rates(self, account_id: int, minute_rate: Decimal, hour_rate: Decimal) -> None:
        blp = self.blp(account_id)
        self.check_rates(minute_rate, hour_rate)
        blp.minute_rate, blp.hour_rate = minute_rate, hour_rate
        self._profile_changed(blp, "rates")

    def set_opted_in(self, account_id: int, opted_in: bool, reason: str = "opt") -> None:
        blp = self.blp(account_id)
        if blp.opted_in != opted_in:
            blp.opted_in = opted_in
            self._profile_changed(blp, reason)

    def check_rates(self, minute_rate: Decimal, hour_rate: Decimal) -> None:
        """Raise `ExchangeError` unless the rates meet the program minimums (hour ≥ minute)."""
        prog = self.config.program
        if minute_rate < prog.min_minute_rate:
            raise ExchangeError(
                "rate_below_minimum",
                f"minute_rate {minute_rate} is below the program minimum {prog.min_minute_rate}",
            )
        if hour_rate < prog.min_hour_rate:
            raise ExchangeError(
                "rate_below_minimum",
                f"hour_rate {hour_rate} is below the program minimum {prog.min_hour_rate}",
            )
        if hour_rate < minute_rate:
            raise ExchangeError("invalid_rates", "hour_rate must be >= minute_rate")

    def check_thresholds(self, thresholds: Mapping[str, Decimal]) -> None:
        """Raise `ExchangeError` (naming the field) unless every Max Position Notional
        Threshold is for a listed contract and >= 0."""
        for symbol, value in thresholds.items():
            field = f"max_position_notional.{symbol}"
            if symbol not in self.instruments:
                raise ExchangeError("unknown_symbol", f"{field}: unknown symbol")
            if value < ZERO:
                raise ExchangeError("invalid_threshold", f"{field}: must be >= 0")

    def _profile_changed(self, blp: BLP, reason: str) -> None:
        self.emit(
            ev.ProfileChanged(
                self.now_ms,
                blp.account_id,
                blp.minute_rate,
                blp.hour_rate,
                tuple(sorted(blp.thresholds.items())),
                blp.opted_in,
                reason,
            )
        )

    # ---- prices -------------------------------------------------------------------------

    def _instrument(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise ExchangeError("unknown_symbol", f"unknown symbol {symbol!r}")
        return inst

    def set_index(self, symbol: str, price: Decimal) -> None:
        """A new index price: the mark follows and new liquidations start at once."""
        self._instrument(symbol)
        if price <= 0:
            raise ExchangeError("invalid_price", "index price must be > 0")
        self.index[symbol] = price
        self._update_mark(symbol)
        self.liquidator.check(symbol)

    def _update_mark(self, symbol: str) -> None:
        """MP = median(best bid, best ask, index); the index alone while a side is empty."""
        index = self.index.get(symbol)
        if index is None:
            return
        book = self.books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        mark = index if bid is None or ask is None else sorted((bid, ask, index))[1]
        if self.marks.get(symbol) != mark:
            self.marks[symbol] = mark
            self.emit(ev.MarkPrice(self.now_ms, symbol, index, mark))

    def set_time(self, now_ms: int) -> None:
        """Move the clock and nothing else: a driver that sets a new second's prices first
        stamps their events with that second; `advance` then runs what is due."""
        if now_ms < self.now_ms:
            raise ExchangeError("time_went_back", f"now_ms {now_ms} < {self.now_ms}")
        self.now_ms = now_ms

    def advance(self, now_ms: int) -> None:
        """Move the clock: marks refresh, liquidations start, due rounds and takeovers run,
        the insurance fund unwinds, and a fund shortfall is socialised."""
        self.set_time(now_ms)
        for symbol in self.instruments:
            self._update_mark(symbol)
            self.liquidator.check(symbol)
        if self.config.funding.enabled and self._run_funding(now_ms):
            for symbol in self.instruments:
                self.liquidator.check(symbol)  # funding moved cash
        self.liquidator.run_due()

    # ---- funding ------------------------------------------------------------------------

    def _run_funding(self, now_ms: int) -> bool:
        """Sample the premium for this engine second; at a funding time, settle every
        contract first. Returns whether anything was settled. A clock jump over several
        funding times settles the last of them only (positions pay once per jump)."""
        f = self.funding
        settled = False
        if f.next_ms <= now_ms:
            f.next_ms = now_ms - (now_ms - f.next_ms) % self.config.funding.interval_ms
            for symbol in self.instruments:
                self._sample_premium(symbol, f.next_ms)
                s = f.settle(symbol, self.marks.get(symbol))
                if s is not None:
                    self._pay_funding(s)
                    settled = True
            f.roll()
        for symbol in self.instruments:
            self._sample_premium(symbol, now_ms)
        return settled

    def _sample_premium(self, symbol: str, now_ms: int) -> None:
        index = self.index.get(symbol)
        if index is not None:
            book = self.books[symbol]
            self.funding.sample(symbol, now_ms, book.levels(BUY), book.levels(SELL), index)

    def _pay_funding(self, s: Settlement) -> None:
        """Every open position in the contract pays or receives `qty × mark × rate`."""
        for e in pay(self.ledger, s, self.now_ms, self._next_payment_id):
            if isinstance(e, ev.FundingPayment):
                self._next_payment_id += 1
                self.liquidator.touched(self.ledger.accounts[e.account_id])
            self.emit(e)
        self.liquidator.touched(self.insurance_fund)  # the residue's home

    def next_funding_ms(self) -> int:
        return self.funding.next_ms

    def predicted_funding_rate(self, symbol: str) -> Decimal:
        """The rate the next funding time would pay with the premium sampled so far."""
        self._instrument(symbol)
        return self.funding.predicted(symbol)

    # ---- orders -------------------------------------------------------------------------

    def place_order(
        self,
        account_id: int,
        symbol: str,
        side: Side | str,
        qty: Decimal,
        price: Decimal | None = None,
        tif: TimeInForce | str = TimeInForce.GTC,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> Order:
        """Place a limit (price given) or market (price None, always IOC) order for a user.
        (The engine's own liquidation and fund orders go through `internal_ioc`.)"""
        inst = self._instrument(symbol)
        acct = self.account(account_id)
        side, tif = Side(side), TimeInForce(tif)
        if price is None:
            tif = TimeInForce.IOC
        if acct.kind in (AccountKind.FEES, AccountKind.INSURANCE_FUND):
            raise ExchangeError("invalid_account", "this account cannot trade")
        if acct.liquidation is not LiquidationState.NONE:
            raise ExchangeError("account_in_liquidation", "the account is being liquidated")
        if qty <= 0 or not inst.is_lot_multiple(qty):
            raise ExchangeError("invalid_qty", f"qty must be a positive multiple of {inst.lot}")
        if price is not None and (price <= 0 or not inst.is_tick_multiple(price)):
            raise ExchangeError(
                "invalid_price", f"price must be a positive multiple of {inst.tick}"
            )
        cids = self.client_ids.setdefault(account_id, {})
        if client_order_id is not None and client_order_id in cids:
            raise ExchangeError(
                "duplicate_client_order_id", f"client_order_id {client_order_id!r} was used"
            )
        if reduce_only:
            reducible = max(ZERO, -side.sign * acct.qty(symbol))
            if reducible == 0:
                raise ExchangeError("reduce_only_rejected", "reduce-only order would not reduce")
            qty = min(qty, reducible)
        else:
            self._check_margin(acct, inst, side, qty, price)
        order = self._new_order(
            account_id, symbol, side, qty, price, tif, reduce_only, client_order_id
        )
        self.orders[order.id] = order
        if client_order_id is not None:
            cids[client_order_id] = order.id
        self.emit(
            ev.OrderAccepted(
                self.now_ms,
                order.id,
                account_id,
                symbol,
                side,
                qty,
                price,
                tif.value,
                reduce_only,
                client_order_id,
            )
        )
        self._match(order)
        if order.remaining > ZERO:
            if tif is TimeInForce.GTC:
                self.books[symbol].rest(order)
                self.open_orders.setdefault(account_id, set()).add(order.id)
            else:
                self._close(order, OrderStatus.CANCELLED, "ioc_remainder")
        return order

    def _new_order(
        self,
        account_id: int,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal | None,
        tif: TimeInForce,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> Order:
        """An order with the next id, created now (not yet matched, booked or announced)."""
        order = Order(
            self._next_order_id,
            account_id,
            symbol,
            side,
            qty,
            price,
            tif,
            reduce_only,
            client_order_id,
            self.now_ms,
        )
        self._next_order_id += 1
        return order

    def internal_ioc(
        self, account_id: int, symbol: str, side: Side, qty: Decimal, limit: Decimal
    ) -> Order:
        """The engine trading for a liquidation or the insurance fund: a reduce-only IOC that
        never rests, so it is neither registered nor announced (its trades are emitted like
        any other). The hot path of a crash: no validation, the caller sizes it to the lot."""
        order = self._new_order(account_id, symbol, side, qty, limit, IOC, True)
        self._match(order, announce=False)
        order.status = FILLED if order.filled == qty else CANCELLED
        return order

    def _check_margin(
        self, acct: Account, inst: Instrument, side: Side, qty: Decimal, price: Decimal | None
    ) -> None:
        """Initial margin after a full fill (at the limit, or mark for a market order) must fit
        in equity, counting the account's other open orders on the same side."""
        mark = self.marks.get(inst.symbol) or self.index.get(inst.symbol)
        if mark is None:
            raise ExchangeError("no_price", f"{inst.symbol} has no index price yet")
        pending = sum(
            (
                self.orders[o].remaining * side.sign
                for o in self.open_orders.get(acct.id, ())
                if self.orders[o].symbol == inst.symbol and self.orders[o].side is side
            ),
            ZERO,
        )
        new_qty = acct.qty(inst.symbol) + pending + side.sign * qty
        if abs(new_qty) <= abs(acct.qty(inst.symbol)):
            return  # reduces exposure: always allowed
        snap = snapshot(acct, self.marks, self.instruments)
        ref = max(mark, price) if price is not None else mark
        cur_n = abs(acct.qty(inst.symbol)) * mark
        new_n = abs(new_qty) * ref
        im_after = snap.im - inst.initial_margin(cur_n) + inst.initial_margin(new_n)
        taker_fee = self.fee_tier(acct)[0] * qty * ref
        if snap.equity - taker_fee < im_after:
            raise ExchangeError(
                "insufficient_margin",
                f"initial margin {money(im_after)} would exceed equity {money(snap.equity)}",
            )

    def replace_quotes(
        self,
        account_id: int,
        symbol: str,
        bids: list[tuple[Decimal, Decimal]],
        asks: list[tuple[Decimal, Decimal]],
    ) -> None:
        """Swap a market maker's whole ladder on one contract: (price, qty) levels.

        The cheap path for simulated liquidity that requotes every second: no margin check
        and no per-quote events; a quote that crosses the book trades like any order.
        """
        acct = self.account(account_id)
        if acct.kind is not AccountKind.MARKET_MAKER:
            raise ExchangeError("invalid_account", "only market-maker accounts quote ladders")
        book = self.books[symbol]
        for old in self._quotes.pop((account_id, symbol), ()):
            if old.is_open:
                book.remove(old)
                old.status = OrderStatus.CANCELLED
        fresh: list[Order] = []
        for side, levels in ((Side.BUY, bids), (Side.SELL, asks)):
            for price, qty in levels:
                order = self._new_order(account_id, symbol, side, qty, price, TimeInForce.GTC)
                best = book.best_ask() if side is Side.BUY else book.best_bid()
                if best is not None and (price >= best if side is Side.BUY else price <= best):
                    self._match(order)
                if order.remaining > ZERO:
                    book.rest(order)
                    fresh.append(order)
        self._quotes[(account_id, symbol)] = fresh

    def cancel_order(self, account_id: int, order_id: int, reason: str = "cancelled") -> Order:
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise ExchangeError("unknown_order", f"no order {order_id} for this account")
        if not order.is_open:
            raise ExchangeError("order_closed", f"order {order_id} is already {order.status}")
        self.books[order.symbol].remove(order)
        self._close(order, OrderStatus.CANCELLED, reason)
        return order

    def cancel_all(self, account_id: int, reason: str) -> None:
        for oid in sorted(self.open_orders.get(account_id, ())):
            self.cancel_order(account_id, oid, reason)

    def order_by_client_id(self, account_id: int, client_order_id: str) -> Order:
        oid = self.client_ids.get(account_id, {}).get(client_order_id)
        if oid is None:
            raise ExchangeError("unknown_order", f"no order with client id {client_order_id!r}")
        return self.orders[oid]

    def _close(self, order: Order, status: OrderStatus, reason: str) -> None:
        if order.filled >= order.qty:
            status = OrderStatus.FILLED
        order.status = status
        self.open_orders.get(order.account_id, set()).discard(order.id)
        if order.client_order_id is None and self.ledger.accounts[order.account_id].kind in (
            AccountKind.MARKET_MAKER,
            AccountKind.INSURANCE_FUND,
        ):
            self.orders.pop(order.id, None)  # internal liquidity: not kept once closed
        elif order.id in self.orders:
            closed = self._closed.get(order.account_id)
            if closed is None:
                closed = self._closed[order.account_id] = deque()
            closed.append(order.id)
            if len(closed) > self.config.closed_orders_kept:
                self._forget(closed.popleft())
        self.emit(
            ev.OrderClosed(
                self.now_ms, order.id, order.account_id, status.value, order.filled, reason
            )
        )

    def _forget(self, order_id: int) -> None:
        """Drop a closed order past the account's window, and its client order id."""
        order = self.orders.pop(order_id)
        n, cids = self.forgotten.get(order.account_id, (0, 0))
        cid = order.client_order_id
        if cid is not None:
            ids = self.client_ids.get(order.account_id, {})
            if ids.get(cid) == order_id:
                del ids[cid]
            cids += 1
        self.forgotten[order.account_id] = (n + 1, cids)

    def _reducible(self, order: Order) -> Decimal:
        """How much a reduce-only order can still fill: what it would close of its position."""
        held = self.ledger.accounts[order.account_id].qty(order.symbol)
        return max(ZERO, -order.side.sign * held)

    def _match(self, taker: Order, announce: bool = True) -> None:
        accounts = self.ledger.accounts
        taker_acct = accounts[taker.account_id]
        matches = self.books[taker.symbol].match(taker, self._reducible)
        ledger, touched, symbol = self.ledger, self.liquidator.touched, taker.symbol
        t_fee_rate = self.fee_tier(taker_acct)[0]
        emit = self.emit  # may be observed (the venue facade): not events.append
        taker_side = taker.side
        buy = taker_side is BUY
        for maker, price, qty, expired in matches:
            if qty > ZERO:
                maker_acct = accounts[maker.account_id]
                m_fee_rate = self.fee_tier(maker_acct)[1]
                notional = qty * price
                t_fee, m_fee = money(notional * t_fee_rate), money(notional * m_fee_rate)
                ledger.trade(taker_acct, symbol, qty if buy else -qty, price)
                ledger.trade(maker_acct, symbol, -qty if buy else qty, price)
                ledger.charge_fee(taker_acct, t_fee)
                ledger.charge_fee(maker_acct, m_fee)
                taker.fees += t_fee
                maker.fees += m_fee
                touched(taker_acct)
                touched(maker_acct)
                emit(
                    ev.Trade(
                        self.now_ms,
                        self._next_trade_id,
                        symbol,
                        price,
                        qty,
                        taker_side,
                        taker.id,
                        maker.id,
                        taker.account_id,
                        maker.account_id,
                        t_fee,
                        m_fee,
                        taker.client_order_id,
                        maker.client_order_id,
                    )
                )
                self._next_trade_id += 1
                if maker.filled >= maker.qty:
                    self._close(maker, FILLED, "filled")
                else:
                    maker.status = PARTIALLY_FILLED
            if expired and maker.is_open:
                self._close(maker, CANCELLED, "expired")
        if not announce:
            return
        if taker.remaining == ZERO:
            self._close(taker, FILLED, "filled")
        elif taker.filled > ZERO:
            taker.status = PARTIALLY_FILLED
