"""The liquidation waterfall (DOMAIN.md): detect, reduce on the book, take over at zero price,
transfer to BLPs, keep in the insurance fund within its limits, auto-deleverage, socialise.

Detection is indexed: a single-position account is liquidatable exactly when the mark crosses
its liquidation price, so those prices sit in one heap per contract and side and a mark tick
only looks at the accounts it crossed. Accounts with several positions, and BLPs (whose
margin alerts are streamed), are checked on every tick.

The liquidator works against `Host`, the narrow part of the exchange it needs (state to read,
the engine's own IOC orders, cancels, opt-outs and the event sink), and keeps no score: the
waterfall's statistics are counted from the events it emits (stats.py).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ...vocabulary import AssignmentKind
from . import events as ev
from .blp import BLP, ProgramConfig, allocate, assignment_price, capacity_qty, discount_bps
from .book import BUY, SELL, Order, OrderBook, Side
from .instruments import Instrument
from .last_resort import adl_queue, clawback
from .ledger import TRADING_KINDS, Account, Ledger, LiquidationState
from .margin import MarginSnapshot, liquidation_price, snapshot, zero_prices
from .num import BPS, PRICE_STEP, ZERO, ceil_to, floor_to, sign

COMPACT_SLACK = 1_024  # stale index entries tolerated beyond the live ones before a sweep


@dataclass(frozen=True)
class WaterfallConfig:
    round_interval_ms: int = 1000
    slice_fraction: Decimal = Decimal("0.10")  # of each position per book-reduction round
    slice_jitter: Decimal = Decimal("0.5")  # slice × U(1 − j, 1 + j)
    through_bps: Decimal = Decimal("5")  # IOC limit this far through mark, never past ZP
    max_rounds: int = 50
    fund_max_notional: Decimal = Decimal("1000000")  # per contract the fund may hold
    fund_unwind_fraction: Decimal = Decimal("0.10")
    fund_unwind_through_bps: Decimal = Decimal("50")


class Host(Protocol):
    """What the liquidator needs of the exchange it runs in (`Exchange` is one)."""

    @property
    def now_ms(self) -> int: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def instruments(self) -> Mapping[str, Instrument]: ...
    @property
    def marks(self) -> Mapping[str, Decimal]: ...
    @property
    def books(self) -> Mapping[str, OrderBook]: ...
    @property
    def blps(self) -> Mapping[int, BLP]: ...

    def emit(self, event: ev.Event) -> None: ...
    def cancel_all(self, account_id: int, reason: str) -> None: ...
    def internal_ioc(
        self, account_id: int, symbol: str, side: Side, qty: Decimal, limit: Decimal
    ) -> Order:
        """A reduce-only IOC for the engine itself (liquidation rounds, the fund's unwind)."""
        ...

    def set_opted_in(self, account_id: int, opted_in: bool, reason: str = ...) -> None: ...


@dataclass(slots=True)
class Liquidation:
    id: int
    account_id: int
    rounds: int = 0
    next_round_ms: int = 0


class Liquidator:
    def __init__(
        self, host: Host, config: WaterfallConfig, program: ProgramConfig, rng: random.Random
    ) -> None:
        self.x = host
        self.cfg = config
        self.program = program
        self.rng = rng
        # liquidation-price indexes, one entry per (re-)indexing of an account: the stale ones
        # (an older version) are skipped when popped, and swept out when they outnumber the
        # live ones (`_compact`), so an account that trades for weeks costs one entry
        self.long_heap: dict[str, list[tuple[Decimal, int, int]]] = {}
        self.short_heap: dict[str, list[tuple[Decimal, int, int]]] = {}
        self._heap_live: dict[int, int] = {}  # id(heap) → its size after its last sweep
        self.multi: set[int] = set()  # accounts with several positions: checked every tick
        self.watched: set[int] = set()  # BLPs: checked every tick, margin alerts
        self.margin_call: set[int] = set()
        self.dirty: set[int] = set()
        self.active: dict[int, Liquidation] = {}
        self._next_id = 1
        self._next_assignment = 1
        self._fund_next_ms = 0
        self._adl_queues: dict[tuple[str, int], tuple[int, list[tuple[Decimal, int]]]] = {}
        self._sell_through = 1 - config.through_bps * BPS  # a long's IOC limit, × mark
        self._buy_through = 1 + config.through_bps * BPS
        self._slice_step = config.slice_fraction * config.slice_jitter / 10_000

    # ---- indexing ------------------------------------------------------------------------

    def touched(self, acct: Account) -> None:
        self.dirty.add(acct.id)

    def watch(self, acct: Account) -> None:
        self.watched.add(acct.id)
        self.multi.discard(acct.id)

    def _flush(self) -> None:
        accounts = self.x.ledger.accounts
        instruments = self.x.instruments
        for aid in self.dirty:
            acct = accounts[aid]
            if acct.kind not in TRADING_KINDS or aid in self.watched or aid in self.active:
                continue
            open_pos = [(s, p) for s, p in acct.positions.items() if p.qty]
            if len(open_pos) > 1:
                self.multi.add(aid)
                continue
            self.multi.discard(aid)
            if not open_pos:
                continue
            symbol, pos = open_pos[0]
            p = liquidation_price(acct.cash, pos, instruments[symbol])
            if pos.qty > ZERO:
                if p > ZERO:
                    self._index(
                        self.long_heap, symbol, (-ceil_to(p, PRICE_STEP), aid, acct.version)
                    )
            elif p != Decimal("Infinity"):
                self._index(self.short_heap, symbol, (floor_to(p, PRICE_STEP), aid, acct.version))
        self.dirty.clear()

    def _index(
        self,
        heaps: dict[str, list[tuple[Decimal, int, int]]],
        symbol: str,
        entry: tuple[Decimal, int, int],
    ) -> None:
        heap = heaps.get(symbol)
        if heap is None:
            heap = heaps[symbol] = []
        heapq.heappush(heap, entry)
        if len(heap) > 2 * self._heap_live.get(id(heap), 0) + COMPACT_SLACK:
            self._compact(heap)

    def _compact(self, heap: list[tuple[Decimal, int, int]]) -> None:
        """Sweep out of one index the entries `_crossed` would skip as stale (an older version
        of the account) and repeats of a live one: what is left is at most one per account."""
        accounts = self.x.ledger.accounts
        live = {(e[1], e[2]): e for e in heap if accounts[e[1]].version == e[2]}
        heap[:] = live.values()
        heapq.heapify(heap)
        self._heap_live[id(heap)] = len(heap)

    def _crossed(self, symbol: str, mark: Decimal) -> list[tuple[Account, MarginSnapshot]]:
        """Pop every indexed account whose liquidation price the mark has crossed."""
        accounts = self.x.ledger.accounts
        found: list[tuple[Account, MarginSnapshot]] = []
        not_liquidating = LiquidationState.NONE
        sides = ((self.long_heap.get(symbol), True), (self.short_heap.get(symbol), False))
        for heap, is_long in sides:
            if not heap:
                continue
            keep: list[tuple[Decimal, int, int]] = []
            while heap:
                key = -heap[0][0] if is_long else heap[0][0]
                if (mark >= key) if is_long else (mark <= key):
                    break
                entry = heapq.heappop(heap)
                acct = accounts[entry[1]]
                if acct.version != entry[2] or acct.liquidation is not not_liquidating:
                    continue  # stale: re-indexed since, or already in liquidation
                snap = self._snap(acct)
                if snap.liquidatable:
                    found.append((acct, snap))
                else:
                    keep.append(entry)  # within the key's rounding of its true price
            for entry in keep:
                heapq.heappush(heap, entry)
        return found

    def _snap(self, acct: Account) -> MarginSnapshot:
        return snapshot(acct, self.x.marks, self.x.instruments)

    def _has_marks(self, acct: Account) -> bool:
        return all(s in self.x.marks for s, p in acct.positions.items() if p.qty)

    # ---- detection -----------------------------------------------------------------------

    def check(self, symbol: str) -> None:
        """After a mark change: start the liquidations it triggers; alert watched BLPs."""
        self._flush()
        mark = self.x.marks.get(symbol)
        if mark is None:
            return
        for acct, snap in self._crossed(symbol, mark):
            self._start(acct, snap)
        accounts = self.x.ledger.accounts
        for aid in sorted(self.multi | self.watched):
            acct = accounts[aid]
            if symbol not in acct.positions or acct.liquidation is not LiquidationState.NONE:
                continue
            if not self._has_marks(acct):
                continue
            snap = self._snap(acct)
            if aid in self.watched:
                self._alert(acct, snap)
            if snap.liquidatable:
                self._start(acct, snap)

    def _alert(self, acct: Account, snap: MarginSnapshot) -> None:
        below = snap.notional > ZERO and snap.equity < snap.im
        if below == (acct.id in self.margin_call):
            return
        if below:
            self.margin_call.add(acct.id)
        else:
            self.margin_call.discard(acct.id)
        self.x.emit(
            ev.MarginAlert(
                self.x.now_ms,
                acct.id,
                "margin_call" if below else "margin_ok",
                snap.equity,
                snap.mf,
                snap.mmf,
                snap.imf,
            )
        )

    def _start(self, acct: Account, snap: MarginSnapshot) -> None:
        liq = Liquidation(self._next_id, acct.id, next_round_ms=self.x.now_ms)
        self._next_id += 1
        self.active[acct.id] = liq
        acct.liquidation = LiquidationState.REDUCING
        mf, mmf = snap.mf, snap.mmf
        assert mf is not None and mmf is not None
        self.x.emit(ev.LiquidationStarted(self.x.now_ms, liq.id, acct.id, snap.equity, mf, mmf))
        self.x.cancel_all(acct.id, "liquidation")

    # ---- the waterfall -------------------------------------------------------------------

    def run_due(self) -> None:
        """Advance every liquidation: a book-reduction round when due, hand-back above IMF,
        takeover below TMF or after the last round; then the fund unwinds and any shortfall
        of the fund is socialised."""
        accounts, marks, instruments = self.x.ledger.accounts, self.x.marks, self.x.instruments
        now = self.x.now_ms
        for aid in sorted(self.active):
            liq = self.active[aid]
            acct = accounts[aid]
            snap = snapshot(acct, marks, instruments)
            if snap.below_tmf:
                self._takeover(liq, acct, snap)
                continue
            if now < liq.next_round_ms:
                continue
            if liq.rounds >= self.cfg.max_rounds:
                if snap.liquidatable:
                    self._takeover(liq, acct, snap)
                else:
                    self._hand_back(liq, acct)
                continue
            if self._reduce_round(liq, acct, snap):
                snap = snapshot(acct, marks, instruments)
                if snap.above_imf:
                    self._hand_back(liq, acct)
                elif snap.below_tmf:
                    self._takeover(liq, acct, snap)
            elif snap.above_imf:  # nothing filled: the snapshot above still holds
                self._hand_back(liq, acct)
        if now >= self._fund_next_ms:
            self._fund_next_ms = now + self.cfg.round_interval_ms
            self._unwind_fund()
        if self.x.ledger.insurance_fund.cash < ZERO:
            self._socialize()

    def _reduce_round(self, liq: Liquidation, acct: Account, snap: MarginSnapshot) -> bool:
        """One IOC slice per position, a few bps through mark and never past the zero price.
        Returns whether anything filled. A slice whose limit the book does not reach is not
        sent (it could not fill), which keeps dead-book rounds cheap."""
        x, cfg = self.x, self.cfg
        marks, books, instruments = x.marks, x.books, x.instruments
        zps: dict[str, Decimal] | None = None
        filled = False
        positions = acct.positions
        for symbol in sorted(positions) if len(positions) > 1 else positions:
            q = positions[symbol].qty
            if not q:
                continue
            long = q > ZERO
            mark = marks[symbol]
            # the limit is a few bps through mark: a book whose best is beyond it can't fill
            if long:
                best = books[symbol].best_bid()
                limit = mark * self._sell_through
                if best is None or best < limit:
                    continue
            else:
                best = books[symbol].best_ask()
                limit = mark * self._buy_through
                if best is None or best > limit:
                    continue
            if zps is None:
                zps = zero_prices(acct, marks, instruments, snap)
            inst = instruments[symbol]
            if long:
                limit = ceil_to(max(limit, zps[symbol]), inst.tick)
                if best < limit:
                    continue
            else:
                limit = floor_to(min(limit, zps[symbol]), inst.tick)
                if best > limit:
                    continue
            # slice × (1 + jitter·u), u uniform on [-1, 1] in steps of 1e-4 (exact)
            u = self.rng.randrange(20_001) - 10_000
            frac = cfg.slice_fraction + self._slice_step * Decimal(u)
            held = q if long else -q
            size = min(held, max(inst.lot, floor_to(held * frac, inst.lot)))
            order = x.internal_ioc(acct.id, symbol, SELL if long else BUY, size, limit)
            if order.filled:
                filled = True
                x.emit(
                    ev.BookReduction(
                        x.now_ms,
                        liq.id,
                        acct.id,
                        symbol,
                        -order.filled if long else order.filled,
                        order.notional_filled,
                    )
                )
        liq.rounds += 1
        liq.next_round_ms = x.now_ms + cfg.round_interval_ms
        return filled

    def _hand_back(self, liq: Liquidation, acct: Account) -> None:
        del self.active[acct.id]
        acct.liquidation = LiquidationState.NONE
        self.touched(acct)
        self.x.emit(ev.LiquidationReturned(self.x.now_ms, liq.id, acct.id, liq.rounds))

    def _takeover(self, liq: Liquidation, acct: Account, snap: MarginSnapshot) -> None:
        """Close the account at its zero prices into the insurance fund (its equity becomes
        exactly 0), then hand each position to BLPs, the fund and ADL in that order."""
        x = self.x
        ledger, fund = x.ledger, x.ledger.insurance_fund
        favorable = snap.equity >= ZERO
        zps = zero_prices(acct, x.marks, x.instruments, snap)
        taken: list[tuple[str, Decimal, Decimal]] = []
        for symbol in sorted(acct.positions):
            q = acct.positions[symbol].qty
            if not q:
                continue
            zp = zps[symbol]
            ledger.trade(acct, symbol, -q, zp)
            ledger.trade(fund, symbol, q, zp)
            mark = x.marks[symbol]
            x.emit(ev.TakenOver(x.now_ms, liq.id, acct.id, symbol, q, zp, mark, favorable))
            taken.append((symbol, q, zp))
        if acct.cash:
            ledger.transfer(acct, fund, acct.cash)  # the zero-price rounding residue
        del self.active[acct.id]
        acct.liquidation = LiquidationState.NONE
        self.touched(acct)  # flat now: out of the every-tick set
        self.margin_call.discard(acct.id)
        if acct.id in x.blps:
            x.set_opted_in(acct.id, False, reason="taken_over")
        for symbol, q, zp in taken:
            left = self._to_blps(liq, acct.id, symbol, q, zp, favorable)
            left = self._to_fund(liq, symbol, sign(q) * left, zp)
            if left:
                self._adl(liq, symbol, sign(q), left, zp)

    def _to_blps(
        self, liq: Liquidation, source: int, symbol: str, q: Decimal, zp: Decimal, fav: bool
    ) -> Decimal:
        """Assign what the BLPs can take; return the unassigned quantity."""
        x = self.x
        inst, mark, now = x.instruments[symbol], x.marks[symbol], x.now_ms
        s = sign(q)
        accounts = x.ledger.accounts
        caps: dict[int, Decimal] = {}
        for aid, blp in x.blps.items():
            acct = accounts[aid]
            if aid == source or not blp.opted_in or acct.liquidation is not LiquidationState.NONE:
                continue
            blp.prune(now)
            cap = capacity_qty(blp, symbol, acct.qty(symbol), s, mark, inst.lot, now)
            if cap > ZERO:
                caps[aid] = cap
        alloc = allocate(abs(q), caps, inst.lot)
        if not alloc:
            return abs(q)
        price = assignment_price(s, zp, mark, fav, inst.tick, self.program)
        disc = discount_bps(s, price, mark)
        kind: AssignmentKind = "favorable" if fav else "toxic"
        fund = x.ledger.insurance_fund
        for aid in sorted(alloc):
            qty = alloc[aid]
            acct, blp = accounts[aid], x.blps[aid]
            x.ledger.trade(acct, symbol, s * qty, price)
            x.ledger.trade(fund, symbol, -s * qty, price)
            self.touched(acct)
            blp.record(now, qty * mark)
            threshold = blp.thresholds.get(symbol, ZERO)
            left_thr = max(ZERO, threshold - abs(acct.qty(symbol)) * mark)
            self._next_assignment += 1
            x.emit(
                ev.Assignment(
                    now,
                    self._next_assignment - 1,
                    liq.id,
                    aid,
                    symbol,
                    BUY if s > 0 else SELL,
                    qty,
                    price,
                    mark,
                    zp,
                    kind,
                    disc,
                    blp.minute_left(now),
                    blp.hour_left(now),
                    left_thr,
                )
            )
        return abs(q) - sum(alloc.values(), ZERO)

    def _to_fund(self, liq: Liquidation, symbol: str, left: Decimal, zp: Decimal) -> Decimal:
        """The fund keeps what it can within its notional limit while it has equity; return
        the quantity (unsigned) that must be auto-deleveraged."""
        if not left:
            return ZERO
        x = self.x
        fund = x.ledger.insurance_fund
        mark, lot = x.marks[symbol], x.instruments[symbol].lot
        held = fund.qty(symbol)
        s = sign(left)
        if sign(held) != s:
            keep = abs(left)  # the new flow offsets what the fund held: no extra risk
        elif self._snap(fund).equity <= ZERO:
            keep = ZERO
        else:
            room = floor_to(self.cfg.fund_max_notional / mark, lot) - (abs(held) - abs(left))
            keep = min(abs(left), max(ZERO, room))
        if keep:
            x.emit(ev.InsuranceKept(x.now_ms, liq.id, symbol, s * keep, zp, mark))
        return abs(left) - keep

    def _adl_queue(self, symbol: str, side: int) -> list[tuple[Decimal, int]]:
        """The ADL queue for `side`, ranked once per engine time and consumed from the top."""
        key = (symbol, side)
        cached = self._adl_queues.get(key)
        if cached is None or cached[0] != self.x.now_ms:
            heap = adl_queue(self.x.ledger.accounts.values(), symbol, side, self.x.marks)
            cached = self._adl_queues[key] = (self.x.now_ms, heap)
        return cached[1]

    def _adl(
        self, liq: Liquidation, symbol: str, taken_side: int, qty: Decimal, zp: Decimal
    ) -> None:
        """Close `qty` of the fund's position against the best-ranked opposite positions at
        the bankruptcy price. What no one can take stays with the fund."""
        x = self.x
        fund, accounts = x.ledger.insurance_fund, x.ledger.accounts
        mark = x.marks[symbol]
        queue = self._adl_queue(symbol, -taken_side)
        while qty > ZERO and queue:
            neg_rank, aid = queue[0]  # a partly used entry stays at the top
            acct = accounts[aid]
            held = acct.qty(symbol)
            if sign(held) != -taken_side or acct.liquidation is not LiquidationState.NONE:
                heapq.heappop(queue)
                continue
            take = min(qty, abs(held))
            x.ledger.trade(acct, symbol, taken_side * take, zp)
            x.ledger.trade(fund, symbol, -taken_side * take, zp)
            self.touched(acct)
            qty -= take
            x.emit(
                ev.AutoDeleveraged(
                    x.now_ms, liq.id, aid, symbol, taken_side * take, zp, mark, -neg_rank
                )
            )
            if take < abs(held):
                break
            heapq.heappop(queue)

    def _unwind_fund(self) -> None:
        x = self.x
        fund = x.ledger.insurance_fund
        for symbol in sorted(fund.positions):
            q = fund.positions[symbol].qty
            if not q or symbol not in x.marks:
                continue
            inst = x.instruments[symbol]
            step = floor_to(abs(q) * self.cfg.fund_unwind_fraction, inst.lot)
            size = min(abs(q), max(inst.lot, step))
            s = sign(q)
            limit = x.marks[symbol] * (1 - s * self.cfg.fund_unwind_through_bps * BPS)
            limit = ceil_to(limit, inst.tick) if s > 0 else floor_to(limit, inst.tick)
            x.internal_ioc(fund.id, symbol, Side.SELL if s > 0 else Side.BUY, size, limit)

    def _socialize(self) -> None:
        """The fund's balance went below zero: claw it back pro rata from profitable accounts."""
        x = self.x
        fund = x.ledger.insurance_fund
        deficit = -fund.cash
        profits: list[tuple[int, Decimal]] = []
        for acct in x.ledger.accounts.values():
            if acct.kind not in TRADING_KINDS or acct.liquidation is not LiquidationState.NONE:
                continue
            if not self._has_marks(acct):
                continue
            upnl = self._snap(acct).upnl
            if upnl > ZERO:
                profits.append((acct.id, upnl))
        shares = clawback(deficit, profits)
        if shares is None:
            return
        take, total, rate, debits = shares
        for aid, d in debits:
            acct = x.ledger.accounts[aid]
            x.ledger.transfer(acct, fund, d)
            self.touched(acct)
        x.emit(ev.SocializedLoss(x.now_ms, take, total, rate, tuple(sorted(debits))))
