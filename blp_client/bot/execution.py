"""The executor: sends what the journal says to send, and makes the journal agree with venues.

Rules that make it exactly-once across crashes (see journal.py for the other half, and
`core.tracker` for each order's transitions):
- every order is in the journal (state `pending`, deterministic client id) before it is sent,
  and is marked `sent` just before the request goes out: `pending` therefore means "never sent";
- an order whose answer was lost (`sent`/`unknown`) is looked up by its client id and only sent
  again — with the same id, which venues refuse to take twice — when the venue has no such order;
- a venue's fills of our orders are recorded from the order's cumulative totals (filled qty,
  average price, fees) as the order's answer or a lookup reports them; an order stays open (its
  remainder counted in flight) until the venue says it is done *and* its fills are in;
- positions are reconciled in `bot.reconcile` (every side in one round, corrected only where
  two reads agree), not here.

Orders go out in lanes, one lane per (venue, contract) with one order at a time in it: what the
strategy queued meanwhile is netted into the next order (`core.netting`), built only once the
venue's rate budget has a slot for it (`Venue.order_slot`), so a burst of assignments costs one
order per rate-limit step. An IOC that closes with a remainder is handed to `on_expired`, which
escalates it (`core.escalation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from blp_client.bot.core.netting import Lane, NetPlan, blocks_lane, lane_of, plan
from blp_client.bot.core.tracker import (
    Answer,
    Awaiting,
    Found,
    Lost,
    NotFound,
    Placed,
    Refused,
    expired_unfilled,
    on_answer,
    rested_too_long,
    settle,
    timed_out_remainder,
)
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
from blp_client.bot.strategy import EXCHANGE
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
)
from blp_client.vocabulary import ZERO

log = structlog.get_logger("blp_client.bot.execution")

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
    on_expired: Callable[[OrderRecord], None] | None = None
    """Called with an IOC that closed with a remainder (the daemon escalates it)."""
    fault: Callable[[str], None] | None = None
    """Test hook called at named points (before_send, after_send) to crash there."""
    spill: Callable[[Lane, list[OrderRecord]], NetPlan | None] | None = None
    """The core's budget spill of a venue lane's queue (`core.spill`), or None to keep waiting."""
    spill_wait_ms: int = 0
    """How long a venue lane's queue waits for its budget before `spill` is asked (0: never)."""
    resting_ttl_ms: int = 0
    """A resting fallback open this long is cancelled and escalated again (0: never)."""
    health: dict[str, VenueHealth] = field(default_factory=dict)
    _busy: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _lanes: dict[Lane, asyncio.Task[None]] = field(default_factory=dict)
    _spill_timers: dict[Lane, asyncio.Task[None]] = field(default_factory=dict)
    _awaiting: dict[str, tuple[str, Awaiting]] = field(default_factory=dict)
    _received: dict[str, float] = field(default_factory=dict)
    _covers: dict[str, list[str]] = field(default_factory=dict)
    _fill_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _fill_synced: dict[str, float] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    sends: int = 0
    netted: int = 0  # queued orders joined into a netted order
    spilled: int = 0  # queued orders taken over by a budget spill

    # ---- health ------------------------------------------------------------------------

    def _ok(self, venue: str) -> None:
        h = self.health.setdefault(venue, VenueHealth())
        h.ok += 1
        h.last_ok_ms = self.clock()

    def _err(self, venue: str, kind: str, err: BaseException | str) -> None:
        h = self.health.setdefault(venue, VenueHealth())
        h.errors += 1
        text = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
        h.last_error = text[:300]
        h.last_error_ms = self.clock()
        self.metrics.venue_errors.inc(venue=venue, kind=kind)

    @property
    def wake(self) -> asyncio.Event:
        """Set when something needs reconciling soon (an unknown order)."""
        return self._wake

    # ---- submitting --------------------------------------------------------------------

    def submit(self, committed: Committed, received: float | None = None) -> None:
        """Queue a recorded decision's orders in their lanes and apply its threshold changes
        in the background. `received` (monotonic seconds) starts the hedge-latency clock of
        the decision: it stops at the acknowledgement of the order that covers it."""
        if received is not None and committed.orders:
            self._received[committed.decision] = received
        for lane in sorted({lane_of(o) for o in committed.orders}):
            self.kick(lane)
        if committed.actions:
            self._spawn(self.run_actions(committed.actions))

    def _spawn(self, aw: Awaitable[None]) -> asyncio.Task[None]:
        async def run() -> None:
            await aw

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def kick(self, lane: Lane) -> None:
        """Make sure the lane is being worked on (one task per lane)."""
        task = self._lanes.get(lane)
        if task is None or task.done():
            self._lanes[lane] = self._spawn(self._drain(lane))
        if self.spill is not None and self.spill_wait_ms > 0 and lane[0] != EXCHANGE:
            timer = self._spill_timers.get(lane)  # the exchange's own lane never spills
            if timer is None or timer.done():
                self._spill_timers[lane] = self._spawn(self._spill_when_due(lane))

    async def _spill_when_due(self, lane: Lane) -> None:
        """Once the lane's oldest queued order has waited `spill_wait_ms` for the venue's
        budget, offer the queue to the core's budget spill (what was sent meanwhile is gone
        from the queue; a refused spill keeps waiting for the venue)."""
        while queued := self.journal.queued(*lane):
            wait_ms = min(o.created_ms for o in queued) + self.spill_wait_ms - self.clock()
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000)
                continue
            p = None if self.spill is None else self.spill(lane, queued)
            if p is None:
                return
            try:
                order = self.journal.net_orders(p, now_ms=self.clock())
            except JournalError as e:  # the lane took one meanwhile: wait for the next kick
                log.warning("spill_conflict", venue=lane[0], symbol=lane[1], error=str(e))
                return
            covered = [d for o in p.joined for d in self._cover(o)]
            self.spilled += len(p.joined)
            self.metrics.spilled.inc(len(p.joined), venue=lane[0])
            log.info(
                "orders_spilled",
                venue=lane[0],
                symbol=lane[1],
                to=p.venue,
                joined=len(p.joined),
                qty=str(p.qty),
                client_order_id=None if order is None else order.client_order_id,
            )
            if order is None:
                return
            self._covers[order.client_order_id] = covered
            self.kick(lane_of(order))
            return

    def lane_blocked(self, lane: Lane) -> bool:
        return any(
            blocks_lane(o) or o.client_order_id in self._busy
            for o in self.journal.lane_orders(*lane)
            if o.state is not OrderState.PENDING
        )

    async def _drain(self, lane: Lane) -> None:
        """Send the lane's queue, one (netted) order at a time, each once the venue's rate
        budget has a slot: what queues while waiting joins that order. The slot is held until
        the order is answered, so the venue's other lanes (other contracts) take their turns
        and no order is sized long before it leaves."""
        venue_name, symbol = lane
        while not self.lane_blocked(lane) and self.journal.queued(venue_name, symbol):
            venue = self.venues.get(venue_name)
            if venue is None:
                for o in self.journal.queued(venue_name, symbol):
                    self._mark(o.client_order_id, OrderState.REJECTED, error="venue not configured")
                return
            async with venue.order_slot():
                if self.lane_blocked(lane):
                    return
                p = plan(self.journal.queued(venue_name, symbol))
                if p is None:
                    return
                order = p.send
                if order is None:
                    order = self.journal.net_orders(p, now_ms=self.clock())
                    self.netted += len(p.joined)
                    self.metrics.netted.inc(len(p.joined), venue=venue_name)
                    covered = [d for o in p.joined for d in self._cover(o)]
                    log.info(
                        "orders_netted",
                        venue=venue_name,
                        symbol=symbol,
                        joined=len(p.joined),
                        qty=str(p.qty),
                        client_order_id=None if order is None else order.client_order_id,
                    )
                    if order is None:
                        for d in covered:
                            self._received.pop(d, None)
                        continue
                    self._covers[order.client_order_id] = covered
                await self.send(order)

    def _cover(self, order: OrderRecord) -> list[str]:
        """The decisions an order stands for (itself, or those netted into it)."""
        return self._covers.pop(order.client_order_id, None) or [order.decision]

    def _mark(self, cid: str, state: OrderState, **kw: str | None) -> OrderRecord | None:
        try:
            return self.journal.mark_order(cid, state, now_ms=self.clock(), **kw)
        except JournalError as e:
            log.warning("order_state_conflict", client_order_id=cid, to=state.value, error=str(e))
            return self.journal.order(cid)

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
            req = OrderRequest(
                symbol=order.symbol,
                side=Side.BUY if order.qty > 0 else Side.SELL,
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
            answer: Answer
            try:
                answer = Placed(await venue.place_order(req))
            except (InvalidOrder, InsufficientFunds, AuthFailed) as e:
                answer = Refused(str(e), type(e).__name__)
            except (VenueError, OSError, TimeoutError) as e:
                answer = Lost(f"{type(e).__name__}: {e}")
            if isinstance(answer, Placed) and self.fault is not None:
                self.fault("after_send")
            await self._take(order, answer)
        finally:
            self._busy.discard(cid)

    async def _take(self, order: OrderRecord, answer: Answer) -> None:
        """Carry out the tracker's transition for `answer` about `order`."""
        cid, venue_name = order.client_order_id, order.venue
        cur = self.journal.order(cid)
        if cur is None or cur.state in TERMINAL_STATES:
            return
        t = on_answer(
            cur,
            answer,
            now_ms=self.clock(),
            fills_from_answers=venue_name not in self.stream_fills,
            max_resend_age_ms=self.max_resend_age_ms,
        )
        self._observe(order, answer, t.outcome)
        if t.resend:
            await self.send(cur)
            return
        if t.wake:
            self._wake.set()
        new: list[FillRecord] = []
        with self.journal.transaction():  # the new state and the fills it reports, together
            if t.state is not None:
                marked = self._mark(cid, t.state, venue_order_id=t.venue_order_id, error=t.error)
                cur = marked or cur
            if t.totals is not None:
                fill, recorded = self.journal.record_order_fill(
                    cid,
                    filled=t.totals.filled,
                    avg_price=t.totals.avg_price,
                    fees=t.totals.fees,
                    ts=t.totals.ts,
                    now_ms=self.clock(),
                )
                if fill is not None:
                    new.append(fill)
                    self.metrics.fills.inc(venue=venue_name)
                cur = recorded or cur
        done = True
        if t.awaiting is not None:
            self._awaiting[cid] = (venue_name, t.awaiting)
            done = self.finish(cid, cur)
        elif cur.state in TERMINAL_STATES:
            self.kick(lane_of(cur))
        self._emit(new)
        if not done and venue_name not in self.stream_fills:
            await self.sync_fills(venue_name)  # the answer had no average price: trades

    def _observe(self, order: OrderRecord, answer: Answer, outcome: str) -> None:
        """Health, metrics, latency and the log line for one venue answer."""
        cid, venue = order.client_order_id, order.venue
        if isinstance(answer, Refused):
            self._err(venue, answer.kind, answer.error)
            self.metrics.orders.inc(venue=venue, outcome="rejected")
            log.warning(
                "order_rejected", client_order_id=cid, venue=venue, error=answer.error[:300]
            )
            for d in self._cover(order):
                self._received.pop(d, None)
        elif isinstance(answer, Lost):
            self._err(venue, "unknown", answer.error)
            self.metrics.orders.inc(venue=venue, outcome="unknown")
            self.metrics.venue_retries.inc(venue=venue, what="place_unknown")
            log.warning("order_unknown", client_order_id=cid, venue=venue, error=answer.error[:300])
        elif isinstance(answer, Placed):
            vo = answer.order
            self._ok(venue)
            self.metrics.orders.inc(venue=venue, outcome=vo.status.value)
            now = time.monotonic()
            for d in self._cover(order):
                started = self._received.pop(d, None)
                if started is not None:
                    self.metrics.hedge_latency.observe((now - started) * 1000)
            log.info(
                "order_acked",
                client_order_id=cid,
                venue=venue,
                symbol=order.symbol,
                qty=str(order.qty),
                status=vo.status.value,
                filled=str(vo.filled),
                avg=str(vo.avg_price),
            )
        elif isinstance(answer, Found):
            self._ok(venue)
            self.metrics.reconcile.inc(kind="found")
            log.info(
                "order_reconciled",
                client_order_id=cid,
                venue=venue,
                status=answer.order.status.value,
                filled=str(answer.order.filled),
            )
        elif isinstance(answer, NotFound):
            self._ok(venue)
            self.metrics.reconcile.inc(kind=outcome)
            if outcome == "resend":
                self.metrics.venue_retries.inc(venue=venue, what="resend_same_id")
                log.info("order_resend", client_order_id=cid, venue=venue)

    def _emit(self, fills: list[FillRecord]) -> None:
        if fills and self.on_fills is not None:
            self.on_fills(fills)

    def finish(self, cid: str, order: OrderRecord | None = None) -> bool:
        """Close an order the venue reported done once its fills are recorded. `order` is the
        order as just recorded, when the caller has it at hand (else it is looked up)."""
        waiting = self._awaiting.get(cid)
        o = order if order is not None else self.journal.order(cid)
        if waiting is None or o is None:
            return False
        state = settle(o, waiting[1])
        if state is None:
            return False
        self._awaiting.pop(cid, None)
        before = o.state
        if state is not o.state:
            o = self._mark(cid, state) or o
        if self.on_expired is not None and expired_unfilled(before, o):
            self.on_expired(o)
        self.kick(lane_of(o))
        return True

    def awaiting(self, venue: str | None = None) -> list[str]:
        return [c for c, (v, _a) in self._awaiting.items() if venue is None or v == venue]

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
        """Resolve every open journal order with its venue by client id; queue those never
        sent, resend those not found. Returns how many orders were still open afterwards."""
        lanes: set[Lane] = set()
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
            if o.state is OrderState.PENDING:  # journaled, never sent: its lane sends it
                self.metrics.reconcile.inc(kind="send_pending")
                lanes.add(lane_of(o))
                continue
            try:
                vo = await venue.get_order(o.symbol, cid)
                stale = (
                    vo is not None and vo.status is OrderStatus.OPEN and self._rested_too_long(o)
                )
                if stale:
                    vo = await venue.cancel_order(o.symbol, cid)
            except (VenueError, OSError, TimeoutError) as e:
                self._err(o.venue, "lookup", e)
                self._wake.set()
                continue
            await self._take(o, Found(vo) if vo is not None else NotFound())
            lanes.add(lane_of(o))
            if stale:
                self._escalate_cancelled(cid)
        for name in {v for v, _a in self._awaiting.values()}:
            await self.sync_fills(name)
        for lane in sorted(lanes):
            self.kick(lane)
        running = [t for lane in lanes if (t := self._lanes.get(lane)) is not None]
        await asyncio.gather(*running, return_exceptions=True)
        return len(self.journal.open_orders())

    def _rested_too_long(self, order: OrderRecord) -> bool:
        stage = self.journal.step(order.client_order_id).stage
        return rested_too_long(order, stage, self.clock(), self.resting_ttl_ms)

    def _escalate_cancelled(self, cid: str) -> None:
        """A timed-out resting fallback, once cancelled with its fills in: escalate the rest."""
        o = self.journal.order(cid)
        if o is None or not timed_out_remainder(o):
            return
        log.info("resting_fallback_timed_out", client_order_id=cid, remaining=str(o.remaining))
        if self.on_expired is not None:
            self.on_expired(o)

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
