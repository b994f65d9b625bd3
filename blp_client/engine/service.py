"""The engine service: one exchange, its clock, the durable per-BLP event log and the live
subscribers of the stream. The I/O shell's state; the HTTP layer (server.py) calls into it.

After every mutating call and every tick the service drains the exchange's events, maps them to
per-BLP protocol events, numbers them (seq 1, 2, 3, … per BLP), writes them to the log in one
transaction and only then hands them to live subscribers. Publishing never blocks: each
subscriber has a bounded buffer, and a subscriber that overflows it is closed (the client
resumes from its last seq), so no event is ever dropped silently.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import structlog

from .. import models as m
from ..auth import Verifier, new_credentials
from ..errors import Conflict, InvalidRequest, NotFound, RateLimited
from .config import EngineConfig
from .core import AccountKind, Exchange
from .core import events as ev
from .core.ledger import LiquidationState
from .eventlog import BLPRecord, EventLog, LogRow
from .faults import StreamFault
from .market import SCENARIOS, Scenario, build_scenario
from .simulate import SimulationConfig
from .simulate import report as scenario_report
from .simulate import sample as scenario_sample
from .wire import Outgoing, order_model, protocol_events

log = structlog.get_logger("blp.engine")

ClockMode = Literal["real", "manual"]
MAX_CATCH_UP_STEPS = 3600  # scenario seconds stepped in one tick at most


def wall_ms() -> int:
    return int(time.time() * 1000)


class EngineClock:
    """Engine time in ms. Real: wall time, accelerated by `speed` from the start
    (engine = t0 + speed·(wall − t0)). Manual: moves only when told to."""

    def __init__(self, mode: ClockMode, speed: float = 1.0, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.mode: ClockMode = mode
        self.speed = speed
        self._t0_wall = wall_ms()
        self._t0 = start_ms if start_ms is not None else self._t0_wall
        self._manual_now = self._t0

    def now(self) -> int:
        if self.mode == "manual":
            return self._manual_now
        return self._t0 + int((wall_ms() - self._t0_wall) * self.speed)

    def set(self, now_ms: int) -> None:
        if self.mode != "manual":
            raise Conflict("the engine runs on the real clock", "clock_not_manual")
        if now_ms < self._manual_now:
            raise InvalidRequest(
                f"to_ms: {now_ms} is before the engine time {self._manual_now}", "time_went_back"
            )
        self._manual_now = now_ms


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0 when allowed, else the seconds until a token is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass(eq=False)
class Subscriber:
    """One stream connection's live feed: a buffer of event texts, bounded in events
    (`limit`) and in bytes (`limit_bytes`)."""

    blp: str
    limit: int
    after_seq: int  # deliver only events with a larger seq
    on_overflow: Callable[[], None]
    limit_bytes: int = 8 << 20
    buf: deque[str] = field(default_factory=deque)
    buf_bytes: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False

    def push(self, seq: int, msg: str) -> None:
        if self.overflowed or seq <= self.after_seq:
            return
        if len(self.buf) >= self.limit or self.buf_bytes + len(msg) > self.limit_bytes:
            self.overflowed = True
            self.buf.clear()
            self.buf_bytes = 0
            self.on_overflow()
            return
        self.buf.append(msg)
        self.buf_bytes += len(msg)
        self.wake.set()

    def pop(self) -> str:
        msg = self.buf.popleft()
        self.buf_bytes -= len(msg)
        return msg


@dataclass
class RunningScenario:
    name: str
    scenario: Scenario
    started_ms: int
    next_step_ms: int
    running: bool = True
    done: bool = False
    config: SimulationConfig | None = None
    """What its report names (scenario, seed, accounts, seconds, drop)."""
    paused_ms: int | None = None
    """Engine time it stopped at (or was built at, held): a resume shifts its clock by the
    pause, so the scenario continues where it stopped."""


class EngineService:
    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        data_dir: str | Path | None = None,
        clock: ClockMode = "real",
        speed: float = 1.0,
        admin_token: str | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        start = (wall_ms() // 1000) * 1000 if clock == "manual" else None  # manual: whole seconds
        self.clock = EngineClock(clock, speed, start_ms=start)
        self.admin_token = admin_token or self.config.admin_token or secrets.token_urlsafe(24)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.log = EventLog(self.data_dir)
        self.exchange = Exchange(
            self.config.exchange_config(), seed=self.config.seed, now_ms=self.clock.now()
        )
        self.secrets: dict[str, str] = {}
        self.blps: dict[str, BLPRecord] = {}  # by api key
        self.keys: dict[int, str] = {}  # account id -> api key
        # with a data dir the credentials survive a restart but the seen signatures do not:
        # refuse anything signed before this process started (docs/protocol.md, replays)
        self.verifier = Verifier(
            self.secrets,
            window_ms=self.config.auth.window_ms,
            not_before_ms=wall_ms() if self.data_dir is not None else 0,
        )
        self.buckets: dict[str, TokenBucket] = {}
        self.subscribers: dict[str, set[Subscriber]] = {}
        self.scenario: RunningScenario | None = None
        self.connections: set[Any] = set()  # live stream connections (stream.py)
        self.counters = {"connections": 0, "slow_consumer_closes": 0, "events_logged": 0}
        self.stream_fault = StreamFault()  # test-only (admin PUT /faults/stream)
        self.assignments = 0  # core assignments seen (all BLPs)
        # accounts `force_liquidations` opened whose liquidation is over (flat, no cash):
        # the next forced liquidations reuse them, so a soak does not grow the ledger
        self.spent_forced: list[int] = []
        self.house = self.exchange.open_account(
            AccountKind.MARKET_MAKER, self.config.house_collateral
        )
        for symbol, price in self.config.index.items():
            self.exchange.set_index(symbol, price)
        for rec in self.log.load_blps():  # restored from the data directory
            self._register(rec)
        for b in self.config.blps:
            if b.api_key not in self.blps:
                self._register(
                    BLPRecord(
                        b.api_key, b.api_secret, b.name, b.collateral, b.minute_rate,
                        b.hour_rate, dict(b.max_position_notional),
                    )
                )  # fmt: skip
        self.flush()
        log.info(
            "engine_started",
            clock=clock,
            speed=speed,
            data_dir=str(self.data_dir) if self.data_dir else None,
            blps=len(self.blps),
            events=self.log.last_gid,
        )

    # ---- time ----------------------------------------------------------------------------

    def now_ms(self) -> int:
        return self.exchange.now_ms

    def tick(self) -> None:
        """Advance the exchange (and a running scenario) to the clock's time, then publish."""
        self.advance_to(max(self.clock.now(), self.exchange.now_ms))

    def advance_to(self, now_ms: int) -> None:
        sc = self.scenario
        if sc is not None and sc.running:
            if now_ms - sc.next_step_ms > MAX_CATCH_UP_STEPS * 1000:
                sc.next_step_ms = now_ms - (now_ms - sc.next_step_ms) % 1000
            while sc.next_step_ms <= now_ms:
                t = sc.next_step_ms
                sc.scenario.step(t)
                self.exchange.advance(t)
                sc.next_step_ms += 1000
                if sc.scenario.done(t):
                    sc.running, sc.done = False, True
                    log.info("scenario_done", name=sc.name)
                    break
        self.exchange.advance(now_ms)
        self.flush()

    def advance_manual(self, req: m.Advance) -> None:
        target = req.to_ms if req.to_ms is not None else self.clock.now() + (req.ms or 0)
        self.clock.set(target)
        self.advance_to(target)

    def settle(self) -> None:
        """After a mutation: let the exchange react at the current time, then publish."""
        self.tick()

    # ---- events --------------------------------------------------------------------------

    def flush(self) -> int:
        """Drain the exchange's events; log and publish the BLPs' protocol events."""
        x = self.exchange
        core_events = x.drain_events()
        if not core_events:
            return 0
        gid = self.log.last_gid
        seqs: dict[str, int] = {}

        def number(blp: str) -> tuple[int, int]:
            """The BLP's next seq and the log's next event id, continuing the log's."""
            nonlocal gid
            seq = seqs[blp] = seqs.get(blp, self.last_seq(blp)) + 1
            gid += 1
            return seq, gid

        out: list[Outgoing] = []
        for e in core_events:
            out += [self._tampered(o) for o in protocol_events(e, self.keys, number)]
            if isinstance(e, ev.Assignment):
                self.assignments += 1
            elif isinstance(e, ev.ProfileChanged):
                self._persist_profile(e.account_id)
        if not out:
            return 0
        rows = [
            LogRow(o.gid, o.blp, o.msg.seq, o.msg.type, o.msg.ts, o.msg.model_dump_json())
            for o in out
        ]
        self.log.append(rows)
        self.counters["events_logged"] += len(rows)
        for r in rows:
            for sub in tuple(self.subscribers.get(r.blp, ())):
                sub.push(r.seq, r.msg)
        return len(rows)

    def set_stream_fault(self, req: m.StreamFaults) -> m.StreamFaultState:
        f = self.stream_fault
        f.bps, f.left = req.assignment_price_bps, req.assignments
        log.warning("stream_fault_set", assignment_price_bps=str(f.bps), assignments=f.left)
        return self.stream_fault_state()

    def stream_fault_state(self) -> m.StreamFaultState:
        f = self.stream_fault
        return m.StreamFaultState(
            assignment_price_bps=f.bps, assignments_left=f.left, assignments_shifted=f.shifted
        )

    def _tampered(self, o: Outgoing) -> Outgoing:
        """`o` through the test-only stream fault (`faults.StreamFault`): the message only."""
        if not isinstance(o.msg, m.AssignmentEvent):
            return o
        price = self.stream_fault.shift(o.msg.data.price)
        if price is None:
            return o
        data = o.msg.data.model_copy(update={"price": price})
        return replace(o, msg=o.msg.model_copy(update={"data": data}))

    def publish(self) -> None:
        """The drain-and-publish hook for other shells (the venue facade's `on_change`)."""
        self.flush()

    def subscribe(
        self, blp: str, after_seq: int, on_overflow: Callable[[], None]
    ) -> tuple[Subscriber, int]:
        """Register a live subscriber; returns it and the BLP's last seq at this instant
        (events up to it are in the log; later ones reach the subscriber's buffer)."""
        last = self.last_seq(blp)
        cfg = self.config.stream
        sub = Subscriber(
            blp, cfg.send_buffer, max(after_seq, last), on_overflow, cfg.send_buffer_bytes
        )
        self.subscribers.setdefault(blp, set()).add(sub)
        return sub, last

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self.subscribers.get(sub.blp)
        if subs is not None:
            subs.discard(sub)

    def last_seq(self, blp: str) -> int:
        return self.log.last_seq.get(blp, 0)

    # ---- BLPs ----------------------------------------------------------------------------

    def _register(self, rec: BLPRecord, *, account_id: int | None = None) -> BLPRecord:
        """Put `rec` on the exchange. It is saved by the flush of the registration's
        ProfileChanged event (`_persist_profile`), the one writer of BLP records."""
        x = self.exchange
        existing = account_id is not None
        if account_id is None:
            account_id = x.open_account(AccountKind.TRADER, rec.collateral)
        # for an existing account the core refuses first (already a BLP, not a trader), and
        # only then is the collateral deposited: a refusal moves nothing
        x.register_blp(account_id, rec.minute_rate, rec.hour_rate, rec.thresholds)
        if existing and rec.collateral:
            x.deposit(account_id, rec.collateral)
        self.keys[account_id] = rec.api_key  # read when the profile event is flushed
        if not rec.opted_in:
            x.set_opted_in(account_id, False)
        rec.account_id = account_id
        self.blps[rec.api_key] = rec
        self.secrets[rec.api_key] = rec.api_secret
        return rec

    def register_blp(self, req: m.RegisterBLP) -> BLPRecord:
        key, secret = new_credentials()
        rec = BLPRecord(
            key, secret, req.name, req.collateral, req.minute_rate, req.hour_rate,
            dict(req.max_position_notional),
        )  # fmt: skip
        # checked before `_register` opens the account: a refusal leaves nothing behind
        self.exchange.check_thresholds(req.max_position_notional)
        self.exchange.check_rates(req.minute_rate, req.hour_rate)
        if req.account_id is not None:
            self.exchange.account(req.account_id)
        self._register(rec, account_id=req.account_id)
        log.info("blp_registered", api_key=key, account_id=rec.account_id, name=req.name)
        self.settle()
        return rec

    def _persist_profile(self, account_id: int) -> None:
        key = self.keys.get(account_id)
        blp = self.exchange.blps.get(account_id)
        if key is None or blp is None or key not in self.blps:
            return
        rec = self.blps[key]
        rec.minute_rate, rec.hour_rate = blp.minute_rate, blp.hour_rate
        rec.thresholds, rec.opted_in = dict(blp.thresholds), blp.opted_in
        self.log.save_blp(rec)

    def blp_by_key(self, key: str) -> BLPRecord:
        return self.blps[key]

    def rate_limit(self, key: str) -> None:
        bucket = self.buckets.get(key)
        if bucket is None:
            rl = self.config.rate_limit
            bucket = self.buckets[key] = TokenBucket(rl.per_second, rl.burst)
        wait = bucket.take()
        if wait > 0:
            raise RateLimited(
                f"more than {self.config.rate_limit.per_second:g} requests/s for this key",
                retry_after=max(1.0, math.ceil(wait)),
            )

    def update_profile(self, account_id: int, req: m.ProfileUpdate) -> None:
        x = self.exchange
        if req.max_position_notional is not None:  # all or nothing
            x.set_thresholds(account_id, req.max_position_notional)
        if req.opted_in is not None:
            x.set_opted_in(account_id, req.opted_in)
        self.settle()

    # ---- admin ---------------------------------------------------------------------------

    def create_accounts(self, req: m.CreateAccounts) -> list[int]:
        x = self.exchange
        kind = AccountKind(req.kind)
        counterparty = req.counterparty_id if req.counterparty_id is not None else self.house
        x.account(counterparty)
        for i, p in enumerate(req.positions):
            inst = x.instruments.get(p.symbol)
            if inst is None:
                raise InvalidRequest(f"positions.{i}.symbol: unknown symbol {p.symbol!r}")
            if p.qty == 0 or not inst.is_lot_multiple(abs(p.qty)):
                raise InvalidRequest(
                    f"positions.{i}.qty: must be a non-zero multiple of {inst.lot}"
                )
        ids = []
        for _ in range(req.count):
            aid = x.open_account(kind, req.collateral)
            for p in req.positions:
                x.seed_position(aid, counterparty, p.symbol, p.qty, p.price)
            ids.append(aid)
        self.settle()
        return ids

    def force_liquidations(self, req: m.ForceLiquidations) -> m.ForceResult:
        """Open `count` accounts (or reuse spent ones, `spent_forced`) each holding `qty`
        (default one lot) at mark with zero equity against the house, and run the waterfall
        at once: each is taken over at its zero price (= mark, favorable) and handed to the
        opted-in BLPs by the program's rules (rates, thresholds, pro-rata). One lot per
        account gives one assignment each. With `bankrupt_bps` the accounts are bankrupt
        (entry that far worse than mark): toxic flow, filled at the zero price collared at
        1 % off mark."""
        x = self.exchange
        inst = x.instruments.get(req.symbol)
        if inst is None:
            raise InvalidRequest(f"symbol: unknown symbol {req.symbol!r}", "unknown_symbol")
        mark = x.marks.get(req.symbol)
        if mark is None:
            raise Conflict(f"{req.symbol} has no index price yet: set one first", "no_price")
        qty = req.qty if req.qty is not None else inst.lot
        if not inst.is_lot_multiple(qty):
            raise InvalidRequest(f"qty: must be a multiple of {inst.lot}", "invalid_qty")
        before = self.counters["events_logged"]
        assigned = self.assignments
        ids = []
        for i in range(req.count):
            if req.side == "long":
                s = 1
            elif req.side == "short":
                s = -1
            else:
                s = 1 if i % 2 == 0 else -1
            aid = (
                self.spent_forced.pop() if self.spent_forced else x.open_account(AccountKind.TRADER)
            )
            entry = mark
            if req.bankrupt_bps is not None:  # bought dearer / sold cheaper: equity < 0
                entry = mark * (1 + s * req.bankrupt_bps / 10_000)
            x.seed_position(aid, self.house, req.symbol, s * qty, entry)
            ids.append(aid)
        self.settle()
        self.spent_forced += [a for a in ids if self._spent(a)]
        log.info("forced_liquidations", count=req.count, assignments=self.assignments - assigned)
        return m.ForceResult(
            accounts=len(ids),
            first_account_id=ids[0],
            last_account_id=ids[-1],
            assignments=self.assignments - assigned,
            events_logged=self.counters["events_logged"] - before,
        )

    def _spent(self, account_id: int) -> bool:
        """A forced account whose liquidation is over and left nothing: flat, no cash, no
        orders (one that still holds anything is never reused)."""
        acct = self.exchange.account(account_id)
        return (
            acct.liquidation is LiquidationState.NONE
            and acct.cash == 0
            and not acct.open_positions()
            and not self.exchange.open_orders.get(account_id)
        )

    def set_index(self, req: m.SetIndex) -> None:
        self.exchange.set_index(req.symbol, req.price)
        self.settle()

    def start_scenario(self, req: m.ScenarioStart) -> m.ScenarioStatus:
        if req.name not in SCENARIOS:
            raise InvalidRequest(f"name: unknown scenario {req.name!r}: one of {SCENARIOS}")
        if self.scenario is not None and self.scenario.running:
            raise Conflict("a scenario is already running: stop it first", "scenario_running")
        known = set(self.exchange.blps)
        sc = build_scenario(req.name, self.exchange, seed=req.seed, accounts=req.accounts)
        for name, aid in sc.blps.items():
            if aid in known:
                continue
            blp = self.exchange.blps[aid]
            key, secret = new_credentials()
            rec = BLPRecord(
                key, secret, name, self.exchange.account(aid).cash, blp.minute_rate,
                blp.hour_rate, dict(blp.thresholds), account_id=aid,
            )  # fmt: skip
            self.keys[aid] = key
            self.blps[key] = rec
            self.secrets[key] = secret
            self.log.save_blp(rec)
        now = self.exchange.now_ms
        cfg = SimulationConfig(req.name, req.accounts, req.seed, sc.seconds)
        self.scenario = RunningScenario(req.name, sc, now, now + 1000, config=cfg)
        log.info("scenario_started", name=req.name, seed=req.seed, accounts=req.accounts)
        self.settle()
        return self.scenario_status()

    def hold_scenario(self, name: str, scenario: Scenario, config: SimulationConfig) -> None:
        """Install a scenario built on this exchange (by Python, not the admin API) without
        moving it: `resume_scenario` (`POST /admin/v1/scenario/resume`) makes its second 0
        the engine's time then."""
        if self.scenario is not None and self.scenario.running:
            raise Conflict("a scenario is already running: stop it first", "scenario_running")
        now = self.exchange.now_ms
        self.scenario = RunningScenario(
            name, scenario, now, now + 1000, running=False, config=config, paused_ms=now
        )
        self.settle()

    def stop_scenario(self) -> m.ScenarioStatus:
        sc = self.scenario
        if sc is not None:
            if sc.running:
                self.tick()  # the seconds due up to now run first
                sc.paused_ms = self.exchange.now_ms
            sc.running = False
            log.info("scenario_stopped", name=sc.name)
        return self.scenario_status()

    def resume_scenario(self) -> m.ScenarioStatus:
        """Run a stopped (or held) scenario on from where it stopped."""
        sc = self._current_scenario()
        if sc.done:
            raise Conflict("the scenario is done: start a new one", "scenario_done")
        if sc.running:
            raise Conflict("the scenario is already running", "scenario_running")
        self.tick()
        now = self.exchange.now_ms
        shift = now - (sc.paused_ms if sc.paused_ms is not None else now)
        sc.scenario.start_ms += shift
        sc.started_ms += shift
        sc.next_step_ms += shift
        sc.running, sc.paused_ms = True, None
        log.info("scenario_resumed", name=sc.name, paused_ms=shift)
        self.settle()
        return self.scenario_status()

    def _current_scenario(self) -> RunningScenario:
        if self.scenario is None:
            raise Conflict("no scenario: start one with POST /admin/v1/scenario", "no_scenario")
        return self.scenario

    def scenario_status(self) -> m.ScenarioStatus:
        sc = self.scenario
        now = self.exchange.now_ms
        if sc is None:
            return m.ScenarioStatus(
                name=None, running=False, started_ms=None, done=False, now_ms=now
            )
        return m.ScenarioStatus(
            name=sc.name,
            running=sc.running,
            started_ms=sc.started_ms,
            done=sc.done,
            seconds=sc.scenario.seconds,
            engine_seconds=(now - sc.scenario.start_ms) / 1000,
            now_ms=now,
        )

    def scenario_sample(self) -> dict[str, Any]:
        """The scenario's timeline point now (`simulate.sample`)."""
        return scenario_sample(self.exchange, self._current_scenario().scenario)

    def scenario_report(self) -> dict[str, Any]:
        """`simulate.report` of the scenario so far; its BLP table lists the scenario's BLPs
        and every BLP registered on the engine (by name)."""
        sc = self._current_scenario()
        names = dict(sc.scenario.blps)
        known = set(names.values())
        for rec in self.blps.values():
            if rec.account_id in known:
                continue
            name = rec.name or rec.api_key
            names[f"{name} ({rec.account_id})" if name in names else name] = rec.account_id
            known.add(rec.account_id)
        cfg = sc.config or SimulationConfig(sc.name, seconds=sc.scenario.seconds)
        return scenario_report(self.exchange, sc.scenario, cfg, names)

    def blp_summary(self, account_id: int) -> m.AdminBLP:
        key = self.keys.get(account_id)
        blp = self.exchange.blps.get(account_id)
        if key is None or blp is None or key not in self.blps:
            raise NotFound(f"account_id: {account_id} is not a registered BLP", "not_a_blp")
        rec = self.blps[key]
        return m.AdminBLP(
            account_id=account_id,
            name=rec.name,
            api_key=key,
            opted_in=blp.opted_in,
            last_seq=self.last_seq(key),
            events=self.log.count_types(key),
            liquidated=self.exchange.stats.blp(account_id).liquidated,
            liquidation_state=self.exchange.account(account_id).liquidation.value,
        )

    def account_orders(self, account_id: int, status: str, limit: int) -> m.AccountOrders:
        x = self.exchange
        x.account(account_id)  # unknown -> 404
        if status == "open":
            orders = [x.orders[o] for o in sorted(x.open_orders.get(account_id, ()))]
        else:
            orders = sorted(
                (o for o in x.orders.values() if o.account_id == account_id), key=lambda o: o.id
            )
        cids = [o.client_order_id for o in orders if o.client_order_id is not None]
        distinct = len(set(cids))
        # closed orders past the engine's window (`CLOSED_ORDERS_KEPT`) are counted, not listed
        gone, gone_cids = x.forgotten.get(account_id, (0, 0)) if status != "open" else (0, 0)
        return m.AccountOrders(
            account_id=account_id,
            count=len(orders) + gone,
            open=sum(1 for o in orders if o.is_open),
            client_order_ids=distinct + gone_cids,
            duplicate_client_order_ids=len(cids) - distinct,
            orders=[order_model(o) for o in orders[-limit:]] if limit else [],
        )

    def stats(self) -> m.EngineStats:
        x = self.exchange
        st = x.stats
        liq: dict[str, Decimal] = {
            "liquidations": Decimal(st.liquidations),
            "returned": Decimal(st.returned),
            "takeovers": Decimal(st.takeovers),
            "assignments": Decimal(sum(b.assignments for b in st.blps.values())),
            "book_reduced_notional": st.book_reduced_notional,
            "takeover_notional": st.takeover_notional,
            "blp_assigned_notional": st.blp_assigned_notional,
            "blp_favorable_notional": st.blp_favorable_notional,
            "blp_toxic_notional": st.blp_toxic_notional,
            "insurance_kept_notional": st.insurance_kept_notional,
            "adl_count": Decimal(st.adl_count),
            "adl_notional": st.adl_notional,
            "socialized_loss": st.socialized_loss,
            "socialized_events": Decimal(st.socialized_events),
            "max_clawback_rate": st.max_clawback_rate,
            "blp_liquidations": Decimal(st.blp_liquidations),
        }
        fund = x.insurance_fund
        return m.EngineStats(
            now_ms=x.now_ms,
            clock=self.clock.mode,
            insurance_fund=fund.cash,
            insurance_fund_positions={s: p.qty for s, p in sorted(fund.positions.items()) if p.qty},
            liquidations=liq,
            blps=len(x.blps),
            accounts=len(x.ledger.accounts),
            stream={
                **self.counters,
                "subscribers": sum(len(s) for s in self.subscribers.values()),
            },
            pid=os.getpid(),
        )

    def credentials(self) -> list[m.Credentials]:
        return [
            m.Credentials(
                account_id=r.account_id, api_key=r.api_key, api_secret=r.api_secret, name=r.name
            )
            for r in self.blps.values()
        ]

    # ---- helpers -------------------------------------------------------------------------

    def close(self) -> None:
        self.log.close()
