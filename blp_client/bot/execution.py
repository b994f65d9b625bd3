"""The executor: sends what the journal says to send, and makes the journal agree with venues.

Rules that make it exactly-once across crashes (see journal.py for the other half):
- every order is in the journal (state `pending`, deterministic client id) before it is sent,
  and is marked `sent` just before the request goes out: `pending` therefore means "never sent";
- an order whose answer was lost (`sent`/`unknown`) is looked up by its client id and only sent
  again — with the same id, which venues refuse to take twice — when the venue has no such order;
- a venue's fills of our orders are recorded from the order's cumulative totals (filled qty,
  average price, fees) as the order's answer or a lookup reports them — no trade-history
  request per order. Each recording brings the journal up to the totals and is keyed
  `<client id>@<filled>` (journal.record_order_fill), so totals seen twice, or from the trade
  history (used only when an answer lacks the average price), count once. Fills on the BLP
  stream are keyed by (venue, trade id). An order stays open (its remainder counted in flight)
  until the venue says it is done *and* its fills are in, so net exposure never looks smaller
  than it is and strategies do not over-hedge;
- positions are overwritten with a venue's truth only when nothing is in flight there and the
  same difference was read twice in a row (venues update positions a little after fills).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from blp_client.bot.journal import (
    Committed,
    FillRecord,
    Journal,
    JournalError,
    OrderRecord,
    OrderState,
    ThresholdAction,
)
from blp_client.bot.journal_schema import TERMINAL_STATES
from blp_client.bot.metrics import BotMetrics
from blp_client.bot.venues import (
    AuthFailed,
    InsufficientFunds,
    InvalidOrder,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Venue,
    VenueError,
    VenueOrder,
)

log = structlog.get_logger("blp_client.bot.execution")

ZERO = Decimal(0)
FILL_SLACK_MS = 60_000  # look for an order's trades from this long before it was journaled
SetThresholdFn = Callable[[str, Decimal], Awaitable[None]]


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class VenueHealth:
    ok: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_ms: int | None = None
    last_ok_ms: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_ms": self.last_error_ms,
            "last_ok_ms": self.last_ok_ms,
        }


@dataclass
class _Pending:
    """A venue answer waiting for its fills to be recorded (then closed, unless resting)."""

    venue: str
    status: OrderStatus
    filled: Decimal


@dataclass
class Executor:
    journal: Journal
    venues: Mapping[str, Venue]
    metrics: BotMetrics
    set_threshold: SetThresholdFn
    stream_fills: frozenset[str] = frozenset()
    """Venues whose fills arrive on the BLP stream (the live exchange), not from trades."""
    max_resend_age_ms: int = 120_000
    """An order not found at its venue is sent again only while younger than this."""
    clock: Callable[[], int] = wall_ms
    on_fills: Callable[[list[FillRecord]], None] | None = None
    fault: Callable[[str], None] | None = None
    """Test hook called at named points (before_send, after_send) to crash there."""
    health: dict[str, VenueHealth] = field(default_factory=dict)
    _busy: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _awaiting: dict[str, _Pending] = field(default_factory=dict)
    _received: dict[str, float] = field(default_factory=dict)
    _fill_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _fill_synced: dict[str, float] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _suspect: dict[tuple[str, str], tuple[Decimal, int]] = field(default_factory=dict)
    sends: int = 0

    # ---- health ------------------------------------------------------------------------

    def _ok(self, venue: str) -> None:
        h = self.health.setdefault(venue, VenueHealth())
        h.ok += 1
        h.last_ok_ms = self.clock()

    def _err(self, venue: str, kind: str, err: BaseException) -> None:
        h = self.health.setdefault(venue, VenueHealth())
        h.errors += 1
        h.last_error = f"{type(err).__name__}: {err}"[:300]
        h.last_error_ms = self.clock()
        self.metrics.venue_errors.inc(venue=venue, kind=kind)

    @property
    def wake(self) -> asyncio.Event:
        """Set when something needs reconciling soon (an unknown order)."""
        return self._wake

    # ---- submitting --------------------------------------------------------------------

    def submit(self, committed: Committed, received: float | None = None) -> None:
        """Send a recorded decision's orders and threshold changes in the background.
        `received` (monotonic seconds) starts the hedge-latency clock of the decision."""
        if received is not None and committed.orders:
            self._received[committed.decision] = received
        for order in committed.orders:
            self._spawn(self.send(order))
        if committed.actions:
            self._spawn(self.run_actions(committed.actions))

    def _spawn(self, aw: Awaitable[None]) -> None:
        async def run() -> None:
            await aw

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> bool:
        """Wait for in-flight sends (graceful stop); True when all finished in time."""
        if not self._tasks:
            return True
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        return not pending

    def _mark(self, cid: str, state: OrderState, **kw: str | None) -> OrderRecord | None:
        try:
            return self.journal.mark_order(cid, state, now_ms=self.clock(), **kw)
        except JournalError as e:
            log.warning("order_state_conflict", client_order_id=cid, to=state.value, error=str(e))
            return self.journal.order(cid)

    async def send(self, order: OrderRecord) -> None:
        """Send one journaled order (pending, or not found at its venue) with its own id."""
        cid = order.client_order_id
        if cid in self._busy:
            return
        venue = self.venues.get(order.venue)
        if venue is None:
            self._mark(cid, OrderState.REJECTED, error=f"venue {order.venue} not configured")
            return
        cur = self.journal.order(cid)
        if cur is None or cur.state not in (
            OrderState.PENDING,
            OrderState.SENT,
            OrderState.UNKNOWN,
        ):
            return  # already resolved (e.g. by a reconciliation that ran first)
        self._busy.add(cid)
        try:
            self._mark(cid, OrderState.SENT)
            self.sends += 1
            side = Side.BUY if order.qty > 0 else Side.SELL
            req = OrderRequest(
                symbol=order.symbol,
                side=side,
                qty=abs(order.qty),
                client_order_id=cid,
                type=OrderType.LIMIT if order.limit_price is not None else OrderType.MARKET,
                price=order.limit_price,
                reduce_only=order.reduce_only,
                time_in_force=TimeInForce(order.tif)
                if order.limit_price is not None
                else TimeInForce.IOC,
            )
            if self.fault is not None:
                self.fault("before_send")
            try:
                vo = await venue.place_order(req)
            except (InvalidOrder, InsufficientFunds, AuthFailed) as e:
                self._err(order.venue, type(e).__name__, e)
                self.metrics.orders.inc(venue=order.venue, outcome="rejected")
                log.warning(
                    "order_rejected", client_order_id=cid, venue=order.venue, error=str(e)[:300]
                )
                self._mark(cid, OrderState.REJECTED, error=str(e)[:500])
                self._received.pop(order.decision, None)
                return
            except (VenueError, OSError, TimeoutError) as e:
                # the outcome is not known: resolve by client id before anything is resent
                self._err(order.venue, "unknown", e)
                self.metrics.orders.inc(venue=order.venue, outcome="unknown")
                self.metrics.venue_retries.inc(venue=order.venue, what="place_unknown")
                log.warning(
                    "order_unknown",
                    client_order_id=cid,
                    venue=order.venue,
                    error=f"{type(e).__name__}: {e}"[:300],
                )
                self._mark(cid, OrderState.UNKNOWN, error=str(e)[:500])
                self._wake.set()
                return
            if self.fault is not None:
                self.fault("after_send")
            self._ok(order.venue)
            self.metrics.orders.inc(venue=order.venue, outcome=vo.status.value)
            started = self._received.pop(order.decision, None)
            if started is not None:
                self.metrics.hedge_latency.observe((time.monotonic() - started) * 1000)
            log.info(
                "order_acked",
                client_order_id=cid,
                venue=order.venue,
                symbol=order.symbol,
                qty=str(order.qty),
                status=vo.status.value,
                filled=str(vo.filled),
                avg=str(vo.avg_price),
            )
            await self.apply(order, vo)
        finally:
            self._busy.discard(cid)

    async def apply(self, order: OrderRecord, vo: VenueOrder) -> None:
        """Take in what the venue says about one of our orders."""
        cid = order.client_order_id
        cur = self.journal.order(cid)
        if cur is None or cur.state in TERMINAL_STATES:
            return
        cur = self._mark(cid, OrderState.ACKED, venue_order_id=vo.venue_order_id) or cur
        new: list[FillRecord] = []
        if order.venue not in self.stream_fills and vo.filled > 0 and vo.avg_price is not None:
            fill, recorded = self.journal.record_order_fill(
                cid,
                filled=vo.filled,
                avg_price=vo.avg_price,
                fees=vo.fee,
                ts=vo.timestamp_ms or self.clock(),
                now_ms=self.clock(),
            )
            if fill is not None:
                new.append(fill)
                self.metrics.fills.inc(venue=order.venue)
            cur = recorded or cur
        if vo.is_open and abs(cur.filled_qty) >= vo.filled:
            self._emit(new)
            return  # resting, nothing new filled
        self._awaiting[cid] = _Pending(order.venue, vo.status, vo.filled)
        done = self.finish(cid, cur)
        self._emit(new)
        if not done and order.venue not in self.stream_fills:
            await self.sync_fills(order.venue)  # the answer had no average price: trades

    def _emit(self, fills: list[FillRecord]) -> None:
        if fills and self.on_fills is not None:
            self.on_fills(fills)

    def finish(self, cid: str, order: OrderRecord | None = None) -> bool:
        """Close an order the venue reported done once its fills are recorded. `order` is the
        order as just recorded, when the caller has it at hand (else it is looked up)."""
        p = self._awaiting.get(cid)
        o = order if order is not None else self.journal.order(cid)
        if p is None or o is None:
            return False
        if o.state in TERMINAL_STATES:
            self._awaiting.pop(cid, None)
            return True
        if abs(o.filled_qty) < p.filled:
            return False
        self._awaiting.pop(cid, None)
        if p.status is OrderStatus.OPEN:
            return True  # a resting order's fills are in; it stays open
        if abs(o.filled_qty) >= abs(o.qty):
            state = OrderState.FILLED
        elif p.status is OrderStatus.REJECTED and o.filled_qty == 0:
            state = OrderState.REJECTED
        else:
            state = OrderState.CANCELLED
        self._mark(cid, state)
        return True

    def awaiting(self, venue: str | None = None) -> list[str]:
        return [c for c, p in self._awaiting.items() if venue is None or p.venue == venue]

    # ---- fills -------------------------------------------------------------------------

    async def sync_fills(self, venue_name: str) -> list[FillRecord]:
        """Record fills of orders waiting for them from the venue's trade history, as each
        order's totals (coalesced per venue; the window starts before the oldest waiting
        order was journaled, so it holds all of their trades)."""
        if venue_name in self.stream_fills:
            return []
        venue = self.venues[venue_name]
        asked = time.monotonic()
        lock = self._fill_locks.setdefault(venue_name, asyncio.Lock())
        async with lock:
            if self._fill_synced.get(venue_name, 0.0) > asked:
                return []  # a sync that started after we asked has covered us
            self._fill_synced[venue_name] = time.monotonic()
            waiting = [self.journal.order(c) for c in self.awaiting(venue_name)]
            orders = [o for o in waiting if o is not None]
            if not orders:
                return []
            by_venue_id = {o.venue_order_id: o.client_order_id for o in orders if o.venue_order_id}
            new: list[FillRecord] = []
            for symbol in sorted({o.symbol for o in orders}):
                since = min(o.created_ms for o in orders if o.symbol == symbol) - FILL_SLACK_MS
                try:
                    # at most ~6 days back: venues page trade history by week windows
                    since = max(since, self.clock() - 6 * 86_400_000)
                    trades = await venue.trades_since(symbol, since)
                except (VenueError, OSError, TimeoutError) as e:
                    self._err(venue_name, "trades", e)
                    self._wake.set()
                    continue
                self._ok(venue_name)
                wanted = {o.client_order_id for o in orders if o.symbol == symbol}
                totals: dict[str, list[Decimal]] = {}
                last_ts: dict[str, int] = {}
                for t in trades:
                    cid = t.client_order_id or by_venue_id.get(t.venue_order_id or "")
                    if cid is None or cid not in wanted:
                        continue  # not ours, not waiting, or its venue id is not known yet
                    tot = totals.setdefault(cid, [ZERO, ZERO, ZERO])
                    tot[0] += t.qty
                    tot[1] += t.qty * t.price
                    tot[2] += t.fee
                    last_ts[cid] = max(last_ts.get(cid, 0), t.timestamp_ms)
                for cid, (qty, notional, fees) in totals.items():
                    if qty <= 0:
                        continue
                    fill, _ = self.journal.record_order_fill(
                        cid,
                        filled=qty,
                        avg_price=notional / qty,
                        fees=fees,
                        ts=last_ts[cid],
                        now_ms=self.clock(),
                    )
                    if fill is not None:
                        new.append(fill)
                        self.metrics.fills.inc(venue=venue_name)
            for cid in self.awaiting(venue_name):
                self.finish(cid)
        self._emit(new)
        return new

    # ---- reconciliation ----------------------------------------------------------------

    async def reconcile_orders(self) -> int:
        """Resolve every open journal order with its venue by client id; send those never
        sent or not found. Returns how many orders were still open afterwards."""
        for snap in self.journal.open_orders():
            cid = snap.client_order_id
            if cid in self._busy or cid in self._awaiting:
                continue
            o = self.journal.order(cid)  # the snapshot may be stale after an await
            if o is None or not o.is_open:
                continue
            venue = self.venues.get(o.venue)
            if venue is None:
                self._mark(cid, OrderState.REJECTED, error=f"venue {o.venue} not configured")
                continue
            if o.state is OrderState.PENDING:  # journaled, never sent
                self.metrics.reconcile.inc(kind="send_pending")
                await self.send(o)
                continue
            try:
                vo = await venue.get_order(o.symbol, cid)
            except (VenueError, OSError, TimeoutError) as e:
                self._err(o.venue, "lookup", e)
                self._wake.set()
                continue
            self._ok(o.venue)
            if vo is not None:
                self.metrics.reconcile.inc(kind="found")
                log.info(
                    "order_reconciled",
                    client_order_id=cid,
                    venue=o.venue,
                    status=vo.status.value,
                    filled=str(vo.filled),
                )
                await self.apply(o, vo)
            elif o.state is OrderState.ACKED:
                self.metrics.reconcile.inc(kind="lost_at_venue")
                self._mark(
                    cid,
                    OrderState.CANCELLED if o.filled_qty else OrderState.REJECTED,
                    error="no longer known to the venue",
                )
            elif self.clock() - o.created_ms > self.max_resend_age_ms:
                self.metrics.reconcile.inc(kind="expired")
                self._mark(cid, OrderState.REJECTED, error="not found at the venue; too old")
            else:
                self.metrics.reconcile.inc(kind="resend")
                self.metrics.venue_retries.inc(venue=o.venue, what="resend_same_id")
                log.info("order_resend", client_order_id=cid, venue=o.venue)
                await self.send(o)
        for name in {p.venue for p in self._awaiting.values()}:
            await self.sync_fills(name)
        return len(self.journal.open_orders())

    async def reconcile_positions(
        self,
        venue_name: str,
        symbols: list[str],
        still_valid: Callable[[], Awaitable[bool]] | None = None,
    ) -> dict[str, Decimal]:
        """Overwrite journal positions with the venue's, when nothing is in flight there
        (and `still_valid()`, checked after the fetch, agrees). Returns the corrections."""
        if self._venue_busy(venue_name):
            return {}
        sends = self.sends
        try:
            positions = await self.venues[venue_name].positions()
        except (VenueError, OSError, TimeoutError) as e:
            self._err(venue_name, "positions", e)
            return {}
        if self._venue_busy(venue_name) or self.sends != sends:
            return {}
        if still_valid is not None and not await still_valid():
            return {}
        if self._venue_busy(venue_name) or self.sends != sends:
            return {}
        held = {p.symbol: p.qty for p in positions}
        journal = self.journal.positions()
        out: dict[str, Decimal] = {}
        for s in symbols:
            truth = held.get(s, ZERO)
            diff = truth - journal.get((s, venue_name), (ZERO, ZERO, ZERO))[0]
            key = (venue_name, s)
            seen = self._suspect.pop(key, None)
            if diff == 0:
                continue
            if seen != (truth, self.sends):
                # venues update positions a little after fills: act only on a difference
                # seen twice in a row with nothing sent in between
                self._suspect[key] = (truth, self.sends)
                continue
            diff = self.journal.set_position(s, venue_name, truth, now_ms=self.clock())
            if diff != 0:
                out[s] = diff
                self.metrics.reconcile.inc(kind="position_corrected")
                log.warning("position_corrected", venue=venue_name, symbol=s, diff=str(diff))
        return out

    def _venue_busy(self, venue_name: str) -> bool:
        if any(p.venue == venue_name for p in self._awaiting.values()):
            return True
        return self.journal.has_open_orders(venue_name)

    # ---- threshold actions -------------------------------------------------------------

    async def run_actions(self, actions: list[ThresholdAction] | None = None) -> None:
        """Apply threshold changes (idempotent: setting a value twice is harmless)."""
        for a in actions if actions is not None else self.journal.pending_actions():
            try:
                await self.set_threshold(a.symbol, a.value)
            except (VenueError, OSError, TimeoutError) as e:
                self._err("exchange", "threshold", e)
                self._wake.set()
                continue
            except Exception as e:
                log.error("threshold_failed", symbol=a.symbol, value=str(a.value), error=str(e))
                if getattr(e, "status", 500) == 400:
                    self.journal.mark_action(a.id, "failed")
                else:
                    self._wake.set()
                continue
            self.journal.mark_action(a.id, "done")
            log.info("threshold_set", symbol=a.symbol, value=str(a.value), reason=a.reason)
