"""`run_backtest`: the config's strategy, risk gate, risk monitor and the daemon's decision
core (`bot.core.Decider`, with a real journal) against the engine core running a scenario,
in engine time, in one process, with no sockets.

The engine core runs the market as `blp simulate` does, with our BLP registered from the
config's `[commitment]` (or the options). Each engine second: the market moves, the engine
liquidates; our BLP's events become the wire's protocol events (`engine.wire`, the same
conversion the server streams) and reach the bot after the stream latency. The bot's side
runs on an agenda (`clock.Agenda`): stream deliveries, the strategy's timer, the risk
monitor's account reads, venue margin reads, order sends at each venue's rate slot, venue
answers and threshold changes, each at its own engine millisecond. Hedge venues are
simulated on their own books (`venue_sim.SimVenue`). Deterministic for (config, options).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial

from blp_client.backtest.clock import Agenda, RateBudget, order_spacing_ms
from blp_client.backtest.executor import SimExecutor
from blp_client.backtest.options import BacktestError, BacktestOptions, BacktestResult
from blp_client.backtest.tally import Tally
from blp_client.backtest.venue_sim import SimVenue, book_market, cancel, find, place
from blp_client.bot.config import BotConfig
from blp_client.bot.core.decider import Decider, Decision
from blp_client.bot.journal import FillRecord, Journal, OrderRecord, ThresholdAction
from blp_client.bot.registry import load_strategy
from blp_client.bot.strategy import EXCHANGE, VenueMarket
from blp_client.bot.venues.base import VenueOrder
from blp_client.engine import wire
from blp_client.engine.core import Exchange, ExchangeConfig, ExchangeError
from blp_client.engine.market import DEFAULT_BLPS, build_scenario
from blp_client.engine.simulate import collector_paused
from blp_client.models import AssignmentEvent, Event

Progress = Callable[[int, int], None]  # (engine seconds done, total)
KEY = "backtest"  # our BLP's api key in the wire conversion (never leaves the process)
MONITOR_MIN_MS = 100  # wake-ups of the account reader closer than this are coalesced


def run_backtest(
    config: BotConfig, options: BacktestOptions, progress: Progress | None = None
) -> BacktestResult:
    """One backtest of `config` under `options`; the same inputs give the same report."""
    with collector_paused():
        return Backtest(config, options).run(progress)


class ExchangeEndpoint:
    """Our orders on the exchange's own book (flips): placed on the engine core for our
    account; their fills come on the stream, as live."""

    def __init__(self, bt: Backtest) -> None:
        self.bt = bt

    def mark(self, symbol: str) -> Decimal | None:
        return self.bt.x.marks.get(symbol)

    def place(self, order: OrderRecord, now_ms: int) -> VenueOrder | str:
        try:
            return place(self.bt.x, self.bt.our_id, order, now_ms)
        finally:
            self.bt.pump(now_ms)

    def lookup(self, client_order_id: str, now_ms: int) -> VenueOrder | None:
        return find(self.bt.x, self.bt.our_id, client_order_id, now_ms)

    def cancel(self, client_order_id: str, now_ms: int) -> VenueOrder | None:
        try:
            return cancel(self.bt.x, self.bt.our_id, client_order_id, now_ms)
        finally:
            self.bt.pump(now_ms)


class Backtest:
    """One run's state; `run()` once."""

    def __init__(self, config: BotConfig, options: BacktestOptions) -> None:
        self.config, self.options = config, options
        o = options
        xcfg = (
            ExchangeConfig()
            if o.insurance_fund is None
            else ExchangeConfig(insurance_fund=o.insurance_fund)
        )
        self.x = x = Exchange(xcfg)
        self.ours = o.commitment(config)
        try:
            self.scenario = build_scenario(
                o.scenario,
                x,
                seed=o.seed,
                accounts=o.accounts,
                blps=(self.ours, *DEFAULT_BLPS[: o.other_blps]),
                seconds=o.seconds,
                drop=o.drop,
                csv_path=o.csv_path,
            )
        except ExchangeError as e:  # the program refuses the commitment
            raise BacktestError(f"commitment: {e.message}") from e
        except (ValueError, OSError) as e:
            raise BacktestError(str(e)) from e
        self.our_id = self.scenario.blps[self.ours.name]
        self.keys = {self.our_id: KEY}
        self.symbols = [s for s in config.engine.symbols if s in x.instruments]
        # contracts the bot does not hedge get threshold 0: no flow it cannot offload
        unhedged = {s: Decimal(0) for s in x.instruments if s not in self.symbols}
        if unhedged:
            x.set_thresholds(self.our_id, unhedged)
        self.blp = x.blp(self.our_id)
        self.agenda = Agenda(self.scenario.start_ms)
        self._seq = 0
        self.journal = Journal(":memory:")
        self.journal.prefix = "bt"
        strategy = load_strategy(config.strategy.class_, config.strategy.params)
        self.core = Decider(strategy, config)
        self.core.load(self.journal.get_state)
        self.markets: dict[tuple[str, str], VenueMarket] = {}
        self.core.readings.markets = self.markets
        self.venues = self._venues()
        budgets = {
            name: RateBudget(
                order_spacing_ms(
                    vc.rate_limit,
                    vc.rate_limit_ms,
                    vc.weight_per_minute,
                    vc.reserved_share,
                    o.order_spacing_ms,
                )
            )
            for name, vc in config.venues.items()
            if name in self.venues
        }
        self.executor = SimExecutor(
            self.journal,
            self.agenda,
            {**self.venues, EXCHANGE: ExchangeEndpoint(self)},
            budgets,
            o.venue_latency_ms,
            self._on_fills,
            self._on_expired,
            stream_fills=frozenset({EXCHANGE}),
            resting_ttl_ms=config.execution.resting_ttl_ms,
        )
        self.tally = Tally(self)
        self._assess_due: int | None = None

    def _venues(self) -> dict[str, SimVenue]:
        out: dict[str, SimVenue] = {}
        makers = {mm.symbol: mm.cfg for mm in self.scenario.makers}
        for name, vc in sorted(self.config.venues.items()):
            if not vc.enabled:
                continue
            listed = [s for s in (vc.symbols or self.symbols) if s in self.symbols]
            out[name] = SimVenue(
                name,
                {s: self.x.instruments[s] for s in listed},
                collateral=self.options.venue_collateral,
                makers={s: makers[s] for s in listed if s in makers},
                taker_fee=vc.taker_fee,
                maker_fee=vc.maker_fee,
            )
        return out

    # ---- the engine's side -------------------------------------------------------------

    def _number(self, _key: str) -> tuple[int, int]:
        """(seq, global id): one BLP's stream, so both are the same counter."""
        self._seq += 1
        return self._seq, self._seq

    def pump(self, now_ms: int) -> None:
        """Our BLP's protocol events out of the engine's new events (the server's own
        conversion, `wire.protocol_events`, which keeps only what names our account), each
        delivered to the bot `stream_latency_ms` after it happened."""
        for e in self.x.events:
            for out in wire.protocol_events(e, self.keys, self._number):
                msg = out.msg
                due = max(msg.ts, now_ms) + self.options.stream_latency_ms
                self.agenda.at(due, partial(self.deliver, msg))
        self.x.events.clear()

    def _step_market(self, now_ms: int) -> None:
        self.scenario.step(now_ms)
        self.x.advance(now_ms)
        for v in self.venues.values():
            v.step(now_ms, self.x.index)
        self.pump(now_ms)
        self._refresh_markets()

    def _refresh_markets(self) -> None:
        prog = self.x.config.program
        for s in self.symbols:
            self.markets[(s, EXCHANGE)] = book_market(
                EXCHANGE, self.x, s, prog.taker_fee, prog.maker_fee
            )
        for v in self.venues.values():
            for m in v.markets():
                self.markets[(m.symbol, v.name)] = m

    # ---- the bot's side (what bot.carry does live) ---------------------------------------

    def deliver(self, msg: Event, now_ms: int) -> None:
        if self.journal.processed(msg.seq):
            return
        d = self.core.on_event(msg, self.journal.inventory(), now_ms, self.journal.order)
        if isinstance(msg, AssignmentEvent):
            self.tally.assignment(msg.data, now_ms)
        self.apply(d, now_ms)

    def apply(self, d: Decision | None, now_ms: int) -> None:
        """Journal a decision in one transaction, then send what it asks."""
        if d is None or d.record is None:
            return
        c = self.journal.record(d.record, now_ms=now_ms)
        if c is None:
            return
        if d.finish:
            self.executor.finish(d.finish, now_ms)
        self.executor.submit(c, now_ms)
        for action in c.actions:
            self.agenda.at(now_ms + self.options.rest_latency_ms, partial(self._threshold, action))
        if d.wake_monitor and self._assess_due is None:
            self._assess_due = now_ms + MONITOR_MIN_MS
            self.agenda.at(self._assess_due, self._assess)

    def _threshold(self, action: ThresholdAction, now_ms: int) -> None:
        self._set_threshold(action.id, action.symbol, action.value, now_ms)

    def _set_threshold(self, action_id: int, symbol: str, value: Decimal, now_ms: int) -> None:
        x = self.x
        x.set_time(max(now_ms, x.now_ms))
        try:
            x.set_thresholds(self.our_id, {symbol: value})
            state = "done"
        except ExchangeError:
            state = "failed"
        self.pump(now_ms)
        self.journal.mark_action(action_id, state)
        profile = wire.profile_model(x, self.blp)
        self.agenda.at(
            now_ms + self.options.rest_latency_ms,
            lambda _t: self.core.observe_profile(profile),
        )

    def _on_fills(self, fills: list[FillRecord], now_ms: int) -> None:
        for f in fills:
            self.apply(self.core.on_venue_fill(f, self.journal.inventory(), now_ms), now_ms)

    def _on_expired(self, order: OrderRecord, now_ms: int) -> None:
        step = self.journal.step(order.client_order_id)
        self.apply(self.core.on_expired(order, step, self.journal.inventory(), now_ms), now_ms)

    def _read_account(self, now_ms: int) -> None:
        x = self.x
        self.core.observe_account(
            now_ms, wire.profile_model(x, self.blp), wire.account_model(x, self.our_id)
        )

    def _assess(self, now_ms: int) -> None:
        self._assess_due = None
        self._read_account(now_ms)
        self.apply(self.core.assess(now_ms, self.journal.inventory()), now_ms)
        self.core.watch_exposure(now_ms, self.journal.inventory())

    def _every(self, period_ms: int, action: Callable[[int], None]) -> None:
        def tick(t: int) -> None:
            action(t)
            self.agenda.at(t + period_ms, tick)

        self.agenda.at(self.agenda.now_ms + period_ms, tick)

    def _read_margins(self, now_ms: int) -> None:
        self.core.observe_margins(now_ms, {n: v.margin() for n, v in self.venues.items()})

    def _timer(self, now_ms: int) -> None:
        self.apply(self.core.on_timer(now_ms, self.journal.inventory()), now_ms)

    # ---- the run -----------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> BacktestResult:
        o, start = self.options, self.scenario.start_ms
        for v in self.venues.values():
            v.step(start, self.x.index)
        self._refresh_markets()
        self._read_account(start)
        self._read_margins(start)
        self.pump(start)
        self._every(o.monitor_ms, self._assess)
        self._every(o.venue_margin_ms, self._read_margins)
        self._every(o.reconcile_ms, self.executor.reconcile)
        timer = self.core.strategy.timer_ms()
        if timer:
            self._every(timer, self._timer)
        self.tally.sample()
        try:
            for t in range(1, o.seconds + 1):
                now = start + t * 1000
                self.agenda.run_until(now)
                self._step_market(now)
                self.tally.second(now, t % o.sample_every_s == 0 or t == o.seconds)
                if progress is not None:
                    progress(t, o.seconds)
            return BacktestResult(self.tally.report(), self.tally.timeline)
        finally:
            self.journal.close()
