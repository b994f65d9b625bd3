"""The backtest's executor: the daemon's order rules on the agenda instead of in tasks.

What the journal says to send goes out lane by lane (one order per (venue, contract) at a
time, the queue netted into the next order by `core.netting`), when the venue's rate budget
has a slot; it reaches the venue after the venue latency, and its answer comes back after the
same latency and goes through `core.tracker` (the daemon's transitions), with fills recorded
in the journal from the venue's cumulative totals. An IOC that closed with a remainder is
handed to `on_expired` (the daemon escalates it through the decider). Exchange orders (flips)
get their fills from the BLP stream, as live.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from blp_client.backtest.clock import Agenda, RateBudget
from blp_client.bot.core.netting import Lane, blocks_lane, lane_of, plan
from blp_client.bot.core.tracker import (
    Answer,
    Awaiting,
    Found,
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
)
from blp_client.bot.journal_schema import TERMINAL_STATES
from blp_client.bot.venues.base import OrderStatus, VenueOrder


class Endpoint(Protocol):
    """Where an order lands: a simulated venue, or the exchange itself."""

    def place(self, order: OrderRecord, now_ms: int) -> VenueOrder | str: ...

    def mark(self, symbol: str) -> Decimal | None: ...

    def lookup(self, client_order_id: str, now_ms: int) -> VenueOrder | None: ...

    def cancel(self, client_order_id: str, now_ms: int) -> VenueOrder | None: ...


@dataclass
class SimExecutor:
    journal: Journal
    agenda: Agenda
    endpoints: Mapping[str, Endpoint]
    budgets: Mapping[str, RateBudget]
    latency_ms: int
    on_fills: Callable[[list[FillRecord], int], None]
    on_expired: Callable[[OrderRecord, int], None]
    stream_fills: frozenset[str] = frozenset()
    max_resend_age_ms: int = 120_000
    resting_ttl_ms: int = 0
    """A resting fallback open this long is cancelled and escalated again (0: never), as the
    daemon's `execution.resting_ttl_ms`."""
    sends: int = 0
    netted: int = 0
    refused: int = 0
    ref_price: dict[str, Decimal] = field(default_factory=dict)
    """Each order's venue mark when it arrived: what slippage is measured against."""
    _scheduled: set[Lane] = field(default_factory=set)
    _in_flight: set[str] = field(default_factory=set)
    _awaiting: dict[str, Awaiting] = field(default_factory=dict)

    def submit(self, committed: Committed, now_ms: int) -> None:
        for lane in sorted({lane_of(o) for o in committed.orders}):
            self.kick(lane, now_ms)

    def lane_blocked(self, lane: Lane) -> bool:
        return any(
            blocks_lane(o) or o.client_order_id in self._in_flight
            for o in self.journal.lane_orders(*lane)
            if o.state is not OrderState.PENDING
        )

    def kick(self, lane: Lane, now_ms: int) -> None:
        """Schedule the lane's next send at the venue's next rate slot (once)."""
        if lane in self._scheduled or self.lane_blocked(lane):
            return
        if not self.journal.queued(*lane):
            return
        venue = lane[0]
        budget = self.budgets.get(venue)
        due = budget.slot(now_ms) if budget is not None else now_ms
        self._scheduled.add(lane)
        self.agenda.at(due, lambda t: self._send_lane(lane, t))

    def _send_lane(self, lane: Lane, now_ms: int) -> None:
        self._scheduled.discard(lane)
        venue_name, symbol = lane
        while not self.lane_blocked(lane):
            queued = self.journal.queued(venue_name, symbol)
            if not queued:
                return
            if venue_name not in self.endpoints:
                for o in queued:
                    self._mark(o.client_order_id, OrderState.REJECTED, now_ms, "no such venue")
                return
            p = plan(queued)
            if p is None:
                return
            order = p.send
            if order is None:
                order = self.journal.net_orders(p, now_ms=now_ms)
                self.netted += len(p.joined)
                if order is None:
                    continue  # the queue cancelled out
            self._send(order, now_ms)
            return

    def _send(self, order: OrderRecord, now_ms: int) -> None:
        cid = order.client_order_id
        self._mark(cid, OrderState.SENT, now_ms)
        self.sends += 1
        budget = self.budgets.get(order.venue)
        if budget is not None:
            budget.take(now_ms)
        self._in_flight.add(cid)
        self.agenda.at(now_ms + self.latency_ms, lambda t: self._arrive(order, t))

    def _arrive(self, order: OrderRecord, now_ms: int) -> None:
        venue = self.endpoints[order.venue]
        mark = venue.mark(order.symbol)
        if mark is not None:
            self.ref_price[order.client_order_id] = mark
        got = venue.place(order, now_ms)
        answer: Answer = Refused(got, "refused") if isinstance(got, str) else Placed(got)
        self.agenda.at(now_ms + self.latency_ms, lambda t: self._take(order, answer, t))

    def _take(self, order: OrderRecord, answer: Answer, now_ms: int) -> None:
        """The daemon's `Executor._take`: the tracker's transition, fills, then settle."""
        cid = order.client_order_id
        self._in_flight.discard(cid)
        cur = self.journal.order(cid)
        if cur is None or cur.state in TERMINAL_STATES:
            return
        if isinstance(answer, Refused):
            self.refused += 1
        t = on_answer(
            cur,
            answer,
            now_ms=now_ms,
            fills_from_answers=order.venue not in self.stream_fills,
            max_resend_age_ms=self.max_resend_age_ms,
        )
        new: list[FillRecord] = []
        with self.journal.transaction():
            if t.state is not None:
                cur = self._mark(cid, t.state, now_ms, t.error, t.venue_order_id) or cur
            if t.totals is not None:
                fill, recorded = self.journal.record_order_fill(
                    cid,
                    filled=t.totals.filled,
                    avg_price=t.totals.avg_price,
                    fees=t.totals.fees,
                    ts=t.totals.ts,
                    now_ms=now_ms,
                )
                if fill is not None:
                    new.append(fill)
                cur = recorded or cur
        if t.awaiting is not None:
            self._awaiting[cid] = t.awaiting
            self.finish(cid, now_ms)
        elif cur.state in TERMINAL_STATES:
            self.kick(lane_of(cur), now_ms)
        if new:
            self.on_fills(new, now_ms)

    def reconcile(self, now_ms: int) -> None:
        """What the daemon's reconcile loop does: look every open order that was answered
        (or lost) up by client id, so fills and cancels the venue did on its own (a resting
        order filled by the market, or expired by self-trade prevention) reach the journal."""
        for o in self.journal.open_orders():
            cid = o.client_order_id
            if o.state not in (OrderState.ACKED, OrderState.UNKNOWN) or cid in self._in_flight:
                continue
            venue = self.endpoints.get(o.venue)
            if venue is None:
                continue
            vo = venue.lookup(cid, now_ms)
            stale = (
                vo is not None
                and vo.status is OrderStatus.OPEN
                and self._rested_too_long(o, now_ms)
            )
            if stale:
                vo = venue.cancel(cid, now_ms)
            self._take(o, NotFound() if vo is None else Found(vo), now_ms)
            if stale:
                self._escalate_cancelled(cid, now_ms)

    def _rested_too_long(self, order: OrderRecord, now_ms: int) -> bool:
        stage = self.journal.step(order.client_order_id).stage
        return rested_too_long(order, stage, now_ms, self.resting_ttl_ms)

    def _escalate_cancelled(self, cid: str, now_ms: int) -> None:
        """A timed-out fallback, cancelled with its fills in: escalate the rest."""
        o = self.journal.order(cid)
        if o is not None and timed_out_remainder(o):
            self.on_expired(o, now_ms)

    def finish(self, cid: str, now_ms: int) -> bool:
        """Close an order the venue reported done once its fills are in (`tracker.settle`)."""
        waiting = self._awaiting.get(cid)
        o = self.journal.order(cid)
        if waiting is None or o is None:
            return False
        state = settle(o, waiting)
        if state is None:
            return False
        self._awaiting.pop(cid, None)
        before = o.state
        if state is not o.state:
            o = self._mark(cid, state, now_ms) or o
        if expired_unfilled(before, o):
            self.on_expired(o, now_ms)
        self.kick(lane_of(o), now_ms)
        return True

    def _mark(
        self,
        cid: str,
        state: OrderState,
        now_ms: int,
        error: str | None = None,
        venue_order_id: str | None = None,
    ) -> OrderRecord | None:
        try:
            return self.journal.mark_order(
                cid, state, now_ms=now_ms, error=error, venue_order_id=venue_order_id
            )
        except JournalError:
            return self.journal.order(cid)
