"""Carrying out the core's decisions: journal each in one transaction, then count, log and
hand its orders and threshold changes to the executor. The only place a `Decision` meets I/O.

Each assignment processed (not a replay) is then price-audited (`core.audit`, state in
`core.alarms`) and added to the markouts (`core.markouts`), after its hedge was handed to the
executor: a mismatch is an alarm (log, metric, status), never a refusal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

import structlog

from blp_client.bot.core.decider import Decider, Decision
from blp_client.bot.core.markouts import MarkoutTracker
from blp_client.bot.core.netting import Lane, NetPlan
from blp_client.bot.execution import Executor, wall_ms
from blp_client.bot.funding import count_funding
from blp_client.bot.journal import FillRecord, Journal, OrderRecord
from blp_client.bot.metrics import BotMetrics
from blp_client.bot.strategy import EXCHANGE, VenueMarket
from blp_client.models import Assignment, Event

log = structlog.get_logger("blp_client.bot.daemon")


class Carrier:
    """Feeds the decider what happened and carries out what it decides."""

    def __init__(
        self, core: Decider, journal: Journal, metrics: BotMetrics, monitor_wake: asyncio.Event
    ) -> None:
        self.core = core
        self.journal = journal
        self.metrics = metrics
        self.monitor_wake = monitor_wake
        self.executor: Executor | None = None  # none yet (or in a test): nothing is sent
        self.tick: Callable[[str], Decimal | None] = lambda _symbol: None
        """The exchange's tick of a contract (the daemon: from the engine's markets)."""
        self.markouts = MarkoutTracker()

    def apply(self, d: Decision | None, received: float | None = None) -> None:
        """Journal a decision in one transaction, then count, log and send what it asks."""
        if d is None or d.record is None:
            return
        c = self.journal.record(d.record, now_ms=wall_ms())
        m = self.metrics
        for reason, n in self.core.denied_total.items():
            have = m.denied.get(reason=reason)
            if n > have:
                m.denied.inc(n - have, reason=reason)
        if d.risk is not None:
            r = d.risk
            log.warning(
                "risk_decision",
                state=r.state.value,
                previous=r.previous.value,
                reasons=list(dict.fromkeys(r.reasons)),
                thresholds=[(i.symbol, str(i.value)) for i in r.intents],
            )
        if c is None:
            return  # a stream event already processed (a replay): nothing happened
        a = d.assignment
        if a is not None:
            m.assignments.inc(symbol=a.symbol)
            m.assigned_notional.inc(a.qty * a.price, symbol=a.symbol)
            if d.discount > 0:
                m.discount.inc(d.discount, symbol=a.symbol)
            log.info(
                "assignment",
                seq=a.seq,
                id=a.id,
                symbol=a.symbol,
                side=a.side,
                qty=str(a.qty),
                price=str(a.price),
                discount=str(d.discount),
                orders=[o.client_order_id for o in c.orders],
            )
        if d.unhedged is not None:
            m.unhedged.inc(symbol=d.unhedged)
            self.core.alarms.note_unhedged(d.unhedged)
            log.error(
                "assignment_not_hedged",
                symbol=d.unhedged,
                seq=d.assignment.seq if d.assignment is not None else None,
                remedy="add the contract to engine.symbols (and a venue mapping) or set its "
                "threshold to 0",
            )
        if d.margin_kind is not None:
            log.warning("margin_event", kind=d.margin_kind)
        if d.record.kind == "fill":
            m.fills.inc(venue=EXCHANGE)
        if d.record.funding:
            count_funding(m, d.record.funding)
        if d.record.source == "e":
            for o in c.orders:
                m.escalations.inc(stage=self.journal.step(o.client_order_id).stage)
        if self.executor is not None:
            if d.finish:
                self.executor.finish(d.finish)
            self.executor.submit(c, received)
        if d.wake_monitor:
            self.monitor_wake.set()
        m.last_seq.set(self.journal.last_seq)
        if a is not None:
            try:
                self.audit(a)
            except Exception as e:  # an alarm must never stop the stream
                log.error("price_audit_failed", id=a.id, error=f"{type(e).__name__}: {e}"[:300])

    def audit(self, a: Assignment) -> None:
        """Check the price of `a` against the program's rule (an alarm on a mismatch) and
        start its markouts, the assignment's own mark being the first mark seen at its time."""
        m = self.metrics
        check = self.core.alarms.price_audit.check(a, self.tick(a.symbol))
        if check is None:
            m.price_audits_unchecked.inc(symbol=a.symbol)
            log.warning("price_audit_unchecked", id=a.id, seq=a.seq, symbol=a.symbol)
        else:
            m.price_audits.inc(symbol=a.symbol)
            if not check.ok:
                m.price_audit_mismatches.inc(symbol=a.symbol, kind=a.kind)
                log.warning(
                    "price_audit_mismatch",
                    id=a.id,
                    seq=a.seq,
                    symbol=a.symbol,
                    kind=a.kind,
                    price=str(a.price),
                    expected=str(check.expected),
                    reason=check.reason,
                )
        self.markouts.observe(a.symbol, a.ts, a.mark_price)
        self.markouts.add(a.symbol, a.ts, 1 if a.side == "buy" else -1, a.qty, a.price)

    def observe_marks(self, markets: Mapping[tuple[str, str], VenueMarket]) -> None:
        """The exchange's marks the market data holds (engine time: its book's timestamp)
        close the markouts now due."""
        for (symbol, venue), vm in markets.items():
            if venue == EXCHANGE and vm.mark is not None and vm.ts:
                self.markouts.observe(symbol, vm.ts, vm.mark)

    def handle(self, ev: Event) -> None:
        """Process one stream event exactly once."""
        if self.journal.processed(ev.seq):
            return
        received = time.monotonic()
        inv = self.journal.inventory()
        self.apply(self.core.on_event(ev, inv, wall_ms(), self.journal.order), received)

    def on_venue_fills(self, fills: list[FillRecord]) -> None:
        """Fills found on venues (not on the stream): tell the strategy."""
        for f in fills:
            self.apply(self.core.on_venue_fill(f, self.journal.inventory(), wall_ms()))

    def on_expired(self, order: OrderRecord) -> None:
        """An IOC hedge closed with a remainder: escalate it."""
        step = self.journal.step(order.client_order_id)
        d = self.core.on_expired(order, step, self.journal.inventory(), wall_ms())
        if d is None:
            log.warning(
                "hedge_not_escalated",
                client_order_id=order.client_order_id,
                remaining=str(order.remaining),
                stage=step.stage,
            )
        self.apply(d)

    def spill(self, lane: Lane, queued: list[OrderRecord]) -> NetPlan | None:
        """A venue lane's queue that waited for its budget: the core's budget spill, if any."""
        steps = {o.client_order_id: self.journal.step(o.client_order_id) for o in queued}
        return self.core.spill(queued, steps, self.journal.inventory(), wall_ms())

    def assess(self) -> None:
        """Run the risk monitor now; apply and journal what it decides."""
        self.apply(self.core.assess(wall_ms(), self.journal.inventory()))
        if self.core.staleness_ms is not None:
            self.metrics.staleness.observe(self.core.staleness_ms)
