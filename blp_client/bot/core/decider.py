"""The decider: the bot's decisions as a pure function of what happened.

Events in — a stream event (assignment, fill, threshold change, margin alert), a fill found on
a venue, a timer tick, a risk reading, an expired hedge — and a `Decision` out: the journal
transaction that records the event with everything it causes (positions, fills, the intents
the risk gate allowed and denied, the strategy's and the monitor's state), plus what the shell
does once it commits. Time is an argument and nothing here awaits, so decisions never
interleave, a replayed event decides the same, and a backtest runs this very object.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from blp_client.bot.books import ZERO
from blp_client.bot.config import BotConfig
from blp_client.bot.core.alarms import OperatorAlarms
from blp_client.bot.core.escalation import Step, next_intent
from blp_client.bot.core.netting import NetPlan
from blp_client.bot.core.positions import Mismatch
from blp_client.bot.core.program import ExposureAlarm, ProgramClock
from blp_client.bot.core.record import Record
from blp_client.bot.core.spill import budget_spill
from blp_client.bot.core.threshold import Exposure
from blp_client.bot.journal_schema import FillRecord, FundingRecord, OrderRecord, PositionDelta
from blp_client.bot.risk import Denied, MonitorDecision, RiskGate, RiskMonitor
from blp_client.bot.strategy import (
    EXCHANGE,
    AssignmentReceived,
    FillReceived,
    FundingRate,
    Intent,
    Inventory,
    RiskChanged,
    SetThreshold,
    Strategy,
    StrategyEvent,
    Timer,
    VenueMargin,
    VenueMarket,
    View,
)
from blp_client.models import (
    Account,
    Assignment,
    AssignmentEvent,
    Event,
    FillEvent,
    FundingEvent,
    MarginEvent,
    Profile,
    ProfileEvent,
)

OrderLookup = Callable[[str], OrderRecord | None]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to journal (None: nothing) and what the shell does after the commit."""

    record: Record | None
    assignment: Assignment | None = None  # for counting and logging
    discount: Decimal = ZERO
    finish: str | None = None  # a client id a stream fill may close
    risk: MonitorDecision | None = None  # a risk change to log
    margin_kind: str | None = None
    wake_monitor: bool = False
    unhedged: str | None = None  # an assignment in a contract the bot does not hedge

    @property
    def orders(self) -> list[Intent]:
        return [] if self.record is None else list(self.record.intents)


@dataclass
class Readings:
    """What the shell last read from outside, with the time it was read (ms)."""

    markets: Mapping[tuple[str, str], VenueMarket] = field(default_factory=dict)
    profile: Profile | None = None
    account: Account | None = None
    account_ms: int | None = None
    margins: dict[str, VenueMargin] = field(default_factory=dict)
    margins_ms: dict[str, int] = field(default_factory=dict)
    capacity: Decimal | None = None  # min(minute, hour) left, from the latest assignment
    capacity_ms: int | None = None
    funding: Mapping[tuple[str, str], FundingRate] = field(default_factory=dict)


class Decider:
    """Strategy → risk gate, risk monitor → threshold controller, escalation; pure."""

    def __init__(self, strategy: Strategy[Any], config: BotConfig, *, recent: int = 50) -> None:
        self.strategy = strategy
        self.config = config
        self.symbols = list(config.engine.symbols)
        self.gate = RiskGate(config.risk)
        self.monitor = RiskMonitor(config.risk)
        self.readings = Readings()
        self.risk_reasons: list[str] = []
        self.denies: deque[dict[str, str]] = deque(maxlen=recent)
        self.margin_events: deque[dict[str, Any]] = deque(maxlen=recent)
        self.max_exposure: dict[str, dict[str, Decimal]] = {}
        self.program = ProgramClock(tuple(self.symbols))
        ex = config.execution
        self.alarm = ExposureAlarm(ex.exposure_alarm_notional, ex.exposure_alarm_ms)
        self.assessed_ms: int | None = None
        self.staleness_ms: int | None = None  # age of the oldest input at the last assessment
        self.denied_total: dict[str, int] = {}
        self.threshold_history: list[dict[str, Any]] = []
        self.alarms = OperatorAlarms()

    # ---- state -------------------------------------------------------------------------

    def load(self, state: Callable[[str], Any]) -> None:
        """Restore what the journal saved with the last decisions."""
        self.strategy.load_state(state("strategy") or {})
        self.monitor.load_state(state("monitor") or {})
        self.gate.set_state(self.monitor.state)
        self.threshold_history = list(state("threshold_history") or [])

    def view(self, now_ms: int, inventory: Inventory) -> View:
        r = self.readings
        return View(
            now_ms,
            inventory,
            r.markets,
            r.profile,
            r.account,
            r.margins,
            self.gate.state,
            r.funding,
        )

    def observe_account(
        self, now_ms: int, profile: Profile | None, account: Account | None
    ) -> None:
        r = self.readings
        if profile is not None:
            r.profile = profile
            self.program.observe(now_ms, profile.threshold_headroom)
        if account is not None:
            r.account, r.account_ms = account, now_ms

    def observe_profile(self, profile: Profile) -> None:
        """A threshold change answered by the exchange (not a fresh reading of headroom)."""
        self.readings.profile = profile

    def observe_margins(self, now_ms: int, margins: Mapping[str, VenueMargin]) -> None:
        for name, vm in margins.items():
            self.readings.margins[name] = vm
            self.readings.margins_ms[name] = now_ms

    def venue_data_age(self, now_ms: int, venues: Sequence[str]) -> int | None:
        """Age of the oldest venue margin reading (None: some venue never read)."""
        ages = [
            now_ms - self.readings.margins_ms[v] for v in venues if v in self.readings.margins_ms
        ]
        if len(ages) < len(venues):
            return None
        return max(ages, default=0)

    # ---- deciding ----------------------------------------------------------------------

    def screen(self, intents: Sequence[Intent], view: View) -> tuple[list[Intent], list[Denied]]:
        """The risk gate's verdict; every denial is counted and kept for the status."""
        res = self.gate.filter(intents, view)
        for d in res.denied:
            self.denied_total[d.reason.value] = self.denied_total.get(d.reason.value, 0) + 1
            self.denies.append(
                {
                    "ms": str(view.now_ms),
                    "reason": d.reason.value,
                    "detail": d.detail,
                    "intent": type(d.intent).__name__,
                }
            )
        return res.allowed, res.denied

    def _decide(
        self, view: View, event: StrategyEvent, extra: Sequence[Intent] = ()
    ) -> tuple[list[Intent], list[Denied]]:
        return self.screen([*extra, *self.strategy.decide(view, event)], view)

    def on_event(
        self, ev: Event, inventory: Inventory, now_ms: int, orders: OrderLookup
    ) -> Decision:
        """One stream event (the shell skips seqs the journal already has)."""
        if isinstance(ev, AssignmentEvent):
            return self._assignment(ev, inventory, now_ms)
        if isinstance(ev, FillEvent):
            f = ev.data
            qty = f.qty if f.side == "buy" else -f.qty
            fill = FillRecord(
                EXCHANGE, str(f.trade_id), f.symbol, qty, f.price, f.fee, ev.ts, f.client_order_id
            )
            inv = inventory.changed(f.symbol, EXCHANGE, position=qty)
            order = orders(f.client_order_id) if f.client_order_id else None
            if order is not None and order.is_open:
                inv = inv.changed(f.symbol, EXCHANGE, in_flight=-qty)
            event = FillReceived(
                EXCHANGE, f.symbol, fill.trade_id, f.client_order_id, qty, f.price, f.fee
            )
            allowed, denied = self._decide(self.view(now_ms, inv), event)
            rec = Record(
                "fill",
                ev,
                fills=(fill,),
                intents=tuple(allowed),
                denied=tuple(denied),
                state={"strategy": self.strategy.dump_state()},
            )
            return Decision(rec, finish=f.client_order_id)
        if isinstance(ev, FundingEvent):
            fd = ev.data  # cash on the exchange account: no position, no decision
            pay = FundingRecord(
                EXCHANGE, str(fd.payment_id), fd.symbol, fd.amount, fd.funding_time, fd.rate
            )
            return Decision(Record("funding", ev, funding=(pay,)))
        if isinstance(ev, ProfileEvent):
            p = ev.data
            r = self.readings
            if r.profile is not None:
                r.profile = r.profile.model_copy(
                    update={"max_position_notional": dict(p.max_position_notional)}
                )
            entry = {
                "ms": ev.ts,
                "seq": ev.seq,
                "reason": p.reason,
                "max_position_notional": {s: str(v) for s, v in p.max_position_notional.items()},
            }
            self.threshold_history = [*self.threshold_history, entry][-100:]
            return Decision(
                Record("profile", ev, state={"threshold_history": self.threshold_history})
            )
        if isinstance(ev, MarginEvent):
            d = ev.data
            deltas: list[PositionDelta] = []
            if d.kind == "taken_over" and d.symbol and d.qty is not None:
                deltas.append(PositionDelta(d.symbol, EXCHANGE, -d.qty, d.zero_price or ZERO))
            elif d.kind == "adl" and d.symbol and d.qty is not None:
                deltas.append(PositionDelta(d.symbol, EXCHANGE, d.qty, d.price or ZERO))
            self.margin_events.append({"seq": ev.seq, "ts": ev.ts, "kind": d.kind})
            rec = Record(f"margin.{d.kind}", ev, positions=tuple(deltas))
            return Decision(rec, margin_kind=d.kind, wake_monitor=True)
        return Decision(Record(getattr(ev, "type", "event"), ev))

    def _assignment(self, ev: AssignmentEvent, inventory: Inventory, now_ms: int) -> Decision:
        a = ev.data
        delta = PositionDelta.of_assignment(a)
        inv = inventory.changed(a.symbol, EXCHANGE, position=delta.qty)
        r = self.readings
        r.capacity, r.capacity_ms = min(a.remaining.minute, a.remaining.hour), now_ms
        view = self.view(now_ms, inv)
        allowed, denied = self._decide(view, AssignmentReceived(a))
        # lower the threshold first, read later: the controller runs on what the stream says
        risk, extra, risk_denied = self._risk(now_ms, self._after(inv, allowed))
        allowed += extra
        denied += risk_denied
        state: dict[str, Any] = {"strategy": self.strategy.dump_state()}
        if risk is not None:
            state["monitor"] = self.monitor.dump_state()
        side = 1 if a.side == "buy" else -1
        discount = (a.mark_price - a.price) * a.qty * side
        unhedged = a.symbol if a.symbol not in self.symbols else None
        rec = Record(
            "assignment",
            ev,
            positions=(delta,),
            intents=tuple(allowed),
            denied=tuple(denied),
            state=state,
        )
        self.track_exposure(a.symbol, self._after(inv, allowed))
        return Decision(rec, a, discount, risk=risk, wake_monitor=True, unhedged=unhedged)

    @staticmethod
    def _after(inv: Inventory, allowed: Sequence[Intent]) -> Inventory:
        """The inventory once `allowed` orders are in flight."""
        for i in allowed:
            if not isinstance(i, SetThreshold):
                inv = inv.changed(i.symbol, i.venue, in_flight=i.qty)
        return inv

    def on_timer(self, now_ms: int, inventory: Inventory) -> Decision | None:
        before = self.strategy.dump_state()
        allowed, denied = self._decide(self.view(now_ms, inventory), Timer(now_ms))
        after = self.strategy.dump_state()
        if not allowed and after == before:
            return None
        rec = Record(
            "decision",
            source="t",
            intents=tuple(allowed),
            denied=tuple(denied),
            state={"strategy": after},
        )
        return Decision(rec)

    def on_corrected(
        self, corrections: Sequence[Mismatch], inventory: Inventory, now_ms: int
    ) -> Decision:
        """Both sides read in one round disagreed with the journal: take what they hold, and
        let the strategy hedge the true net exposure at once (a `Timer` event on the
        corrected inventory), in the same transaction."""
        deltas = tuple(m.correction for m in corrections)
        inv = inventory
        for d in deltas:
            inv = inv.changed(d.symbol, d.venue, position=d.qty)
        allowed, denied = self._decide(self.view(now_ms, inv), Timer(now_ms))
        for s in sorted({d.symbol for d in deltas}):
            self.track_exposure(s, self._after(inv, allowed))
        rec = Record(
            "decision",
            source="c",
            positions=deltas,
            intents=tuple(allowed),
            denied=tuple(denied),
            state={"strategy": self.strategy.dump_state()},
        )
        return Decision(rec)

    def on_venue_fill(self, fill: FillRecord, inventory: Inventory, now_ms: int) -> Decision | None:
        """A fill found on a venue (already in the journal): tell the strategy."""
        before = self.strategy.dump_state()
        event = FillReceived(
            fill.venue,
            fill.symbol,
            fill.trade_id,
            fill.client_order_id,
            fill.qty,
            fill.price,
            fill.fee,
        )
        allowed, denied = self._decide(self.view(now_ms, inventory), event)
        after = self.strategy.dump_state()
        if not (allowed or denied or after != before):
            return None
        rec = Record(
            "decision",
            source="f",
            intents=tuple(allowed),
            denied=tuple(denied),
            state={"strategy": after},
        )
        return Decision(rec)

    def on_expired(
        self, order: OrderRecord, step: Step, inventory: Inventory, now_ms: int
    ) -> Decision | None:
        """An IOC hedge closed with a remainder: its next escalation step, through the gate."""
        view = self.view(now_ms, inventory)
        nxt = next_intent(order, step, view, self.config.execution)
        if nxt is None:
            return None
        intent, new_step = nxt
        allowed, denied = self.screen([intent], view)
        rec = Record(
            "decision",
            source="e",
            intents=tuple(allowed),
            denied=tuple(denied),
            steps={0: new_step} if allowed else {},
        )
        return Decision(rec)

    def spill(
        self,
        queued: Sequence[OrderRecord],
        steps: Mapping[str, Step],
        inventory: Inventory,
        now_ms: int,
    ) -> NetPlan | None:
        """A budget spill of a venue lane's queued hedges (`core.spill`), through the gate."""
        view = self.view(now_ms, inventory)
        found = budget_spill(queued, steps, view, self.config.execution)
        if found is None:
            return None
        flip, spilled = found
        allowed, _denied = self.screen([flip], view)
        return spilled if allowed else None

    # ---- risk --------------------------------------------------------------------------

    def exposure(self, view: View) -> Exposure | None:
        """The exchange account as the threshold controller sees it: the larger of what the
        account said and what the journal knows since (assignments arrive before a re-read)."""
        acct = view.account
        if acct is None:
            return None
        per: dict[str, Decimal] = {}
        for p in acct.positions:
            per[p.symbol] = abs(p.notional)
        for s in view.inventory.symbols():
            mark = view.mark(s)
            if mark is not None:
                journal = abs(view.inventory.get(s, EXCHANGE).position) * mark
                per[s] = max(per.get(s, ZERO), journal)
        r = self.readings
        capacity = None
        if view.profile is not None:
            capacity = min(view.profile.remaining.minute, view.profile.remaining.hour)
        if r.capacity is not None and (
            r.account_ms is None or (r.capacity_ms or 0) >= r.account_ms
        ):
            capacity = r.capacity if capacity is None else min(capacity, r.capacity)
        return Exposure(acct.equity, per, capacity)

    def _risk(
        self, now_ms: int, inventory: Inventory
    ) -> tuple[MonitorDecision | None, list[Intent], list[Denied]]:
        if not self.config.risk.monitor:
            return None, [], []
        view = self.view(now_ms, inventory)
        venues = sorted(self.config.venues)
        age = self.venue_data_age(now_ms, venues)
        stale = bool(venues) and (age is None or age > self.config.risk.venue_stale_ms)
        acct_age = None if self.readings.account_ms is None else now_ms - self.readings.account_ms
        self.assessed_ms = now_ms
        self.staleness_ms = max((a for a in (acct_age, age) if a is not None), default=None)
        d = self.monitor.assess(view, exposure=self.exposure(view), venue_stale=stale)
        if d.reasons:
            self.risk_reasons = list(dict.fromkeys(d.reasons))
        if not d.changed and not d.intents:
            return None, [], []
        self.gate.set_state(d.state)
        view = view.with_risk_state(d.state)
        if d.changed:
            event = RiskChanged(d.previous, d.state, "; ".join(d.reasons))
            allowed, denied = self._decide(view, event, d.intents)
        else:
            allowed, denied = self.screen(list(d.intents), view)
        return d, allowed, denied

    def assess(self, now_ms: int, inventory: Inventory) -> Decision | None:
        """Run the risk monitor (and the threshold controller) on the current readings."""
        d, allowed, denied = self._risk(now_ms, inventory)
        if d is None:
            return None
        rec = Record(
            "decision",
            source="r",
            intents=tuple(allowed),
            denied=tuple(denied),
            state={
                "monitor": self.monitor.dump_state(),
                "strategy": self.strategy.dump_state(),
            },
        )
        return Decision(rec, risk=d)

    # ---- exposure ----------------------------------------------------------------------

    def track_exposure(self, symbol: str, inventory: Inventory) -> None:
        """Remember the largest |net exposure| seen, counting in-flight orders and not."""
        cur = self.max_exposure.setdefault(
            symbol, {"in_flight_counted": ZERO, "positions_only": ZERO}
        )
        cur["in_flight_counted"] = max(cur["in_flight_counted"], abs(inventory.net(symbol)))
        cur["positions_only"] = max(
            cur["positions_only"], abs(inventory.net(symbol, in_flight=False))
        )

    def watch_exposure(self, now_ms: int, inventory: Inventory) -> list[str]:
        """Feed the exposure-age alarm; returns the contracts that just started firing."""
        view = self.view(now_ms, inventory)
        exposure = {}
        for s in sorted(set(self.symbols) | set(inventory.symbols())):
            self.track_exposure(s, inventory)
            mark = view.mark(s)
            if mark is not None:
                exposure[s] = abs(inventory.net(s, in_flight=False)) * mark
        return self.alarm.observe(now_ms, exposure)
