"""The bot daemon: thin asyncio loops around the sans-I/O core (`bot.core`).

BLP stream → decider (strategy → risk gate, risk monitor → threshold controller) → journal →
executor → venues. Every decision is made by `core.decider.Decider` without an `await` and
recorded in one journal transaction before anything is sent, so decisions never interleave and
a crash replays an event or skips it, never half of it. Around it run: the market data (venue
WebSocket books, REST as a fallback), the exchange account reader (the BLP API), the venue
margin reader (each venue's control lane), timers, and reconciliation. On start it reconciles
every open order and pending threshold change with the venues *before* it reads the stream; on
SIGINT/SIGTERM it stops reading, lets in-flight sends finish (what does not finish stays in the
journal as sent/unknown and is resolved by client id on the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog
from aiohttp import web

from blp_client.bot.carry import Carrier
from blp_client.bot.config import BotConfig
from blp_client.bot.core.decider import Decider
from blp_client.bot.daemon_io import (
    MarketData,
    build_venues,
    configure_logging,
    crash_hook_from_env,
    venue_margins,
)
from blp_client.bot.execution import Executor, wall_ms
from blp_client.bot.funding import FundingPoller
from blp_client.bot.journal_compaction import Retention, compact
from blp_client.bot.journal_open import open_journal
from blp_client.bot.metrics import BotMetrics, metrics_app
from blp_client.bot.reconcile import PositionRound
from blp_client.bot.refusal import Refusal
from blp_client.bot.registry import load_strategy
from blp_client.bot.startup import (
    check_contracts,
    engine_profile,
    loop_refusal,
    port_refusal,
    resume_seq,
)
from blp_client.bot.status import JournalReader, StatusSources, build_status, update_gauges
from blp_client.bot.statuspage import StatusPage, start_status_page
from blp_client.bot.strategy import EXCHANGE, Strategy
from blp_client.client import BLPClient
from blp_client.models import Event

log = structlog.get_logger("blp_client.bot.daemon")


@dataclass(frozen=True)
class BotOptions:
    """Cadences of the daemon's loops (ms) and shutdown patience."""

    market_refresh_ms: int = 250
    monitor_ms: int = 500
    monitor_min_ms: int = 100
    """Wake-ups of the account reader (one per assignment) closer than this are coalesced."""
    venue_margin_ms: int = 500
    """Each venue's margin (one account read where the venue allows) is read this often, on
    its control lane."""
    reconcile_ms: int = 2000
    funding_ms: int = 60_000
    """Each hedge venue's funding rates are read this often (control lane; Binance:
    premiumIndex, weight 1 per contract)."""
    funding_history_ms: int = 3_600_000
    """Its payments (Binance: income, weight 30) are read at start, after each funding time
    and at least this often, while no order is open (up to `funding_defer_ms` later)."""
    funding_defer_ms: int = 600_000
    position_reconcile_every: int = 5  # reconcile rounds between position checks
    position_confirm_ms: int = 250
    """A position difference is read again this much later, on every side, before it is
    corrected (a venue still settling a fill shows a figure once)."""
    drain_timeout_s: float = 5.0
    recent: int = 50


class Bot:
    """The daemon. `await bot.start()`, later `await bot.stop()`; or `run_bot(...)`."""

    def __init__(
        self,
        config: BotConfig,
        *,
        paper: bool = False,
        options: BotOptions | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.paper = paper or config.paper.enabled
        self.options = options or BotOptions()
        self.env = env
        self.metrics = BotMetrics()
        strategy: Strategy[Any] = load_strategy(config.strategy.class_, config.strategy.params)
        self.core = Decider(strategy, config, recent=self.options.recent)
        self.crash_hook = crash_hook_from_env(env)
        self.journal = open_journal(config.journal, paper=self.paper, fault_hook=self.crash_hook)
        self.journal.prefix = self._client_prefix()
        self.client = BLPClient(
            config.engine.url,
            config.engine.api_key(env).get_secret_value(),
            config.engine.api_secret(env).get_secret_value(),
        )
        self.symbols = list(config.engine.symbols)
        self.market = MarketData(self.symbols)
        self.core.readings.markets = self.market.markets
        self.core.readings.funding = self.market.funding
        self.funding: FundingPoller | None = None
        self.executor: Executor | None = None
        self.monitor_wake = asyncio.Event()
        self.carry = Carrier(self.core, self.journal, self.metrics, self.monitor_wake)
        self.carry.tick = self._tick
        self.started_ms = wall_ms()
        self.running = False
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._stopped = asyncio.Event()
        self.metrics_url: str | None = None
        self.status_page: StatusPage | None = None
        self.final_status: dict[str, Any] | None = None
        self.assessed_seq = 0
        self._closed = False
        self._reader: JournalReader | None = None
        self.positions: PositionRound | None = None
        self.positions_due = False  # the account read saw a position the journal did not
        self.failure: Exception | None = None  # what stopped one of its loops, if anything

    @property
    def strategy(self) -> Strategy[Any]:
        return self.core.strategy

    def _client_prefix(self) -> str:
        """Client ids are `<prefix>-<decision>-<n>`: deterministic within a journal, and the
        prefix is drawn once per journal so a fresh journal (or a paper run) never reuses
        the ids of an earlier one on the same venue account."""
        prefix = self.journal.get_state("client_prefix")
        if not isinstance(prefix, str):
            prefix = f"blp{secrets.token_hex(2)}"
            self.journal.set_state("client_prefix", prefix)
        return prefix

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.client.__aenter__()
        profile = await engine_profile(self.client, self.config)
        profile = await check_contracts(self.client, self.config, profile)
        self.core.observe_account(wall_ms(), profile, None)
        venues = await build_venues(
            self.config, self.client, paper=self.paper, env=self.env, metrics=self.metrics
        )
        self.executor = Executor(
            self.journal,
            venues,
            self.metrics,
            self._set_threshold,
            stream_fills=frozenset() if self.paper else frozenset({EXCHANGE}),
            on_fills=self.carry.on_venue_fills,
            on_expired=self.carry.on_expired,
            fault=self.crash_hook,
            spill=self.carry.spill,
            spill_wait_ms=self.config.execution.spill_wait_ms,
            resting_ttl_ms=self.config.execution.resting_ttl_ms,
        )
        self.carry.executor = self.executor
        self.funding = FundingPoller(
            venues,
            self.symbols,
            self.journal,
            self.market.funding,
            self.metrics,
            wall_ms,
            busy=self.journal.has_open_orders,
            history_ms=self.options.funding_history_ms,
            max_defer_ms=self.options.funding_defer_ms,
        )
        self.positions = PositionRound(
            self.executor,
            self.carry,
            self.client,
            self.symbols,
            confirm_s=self.options.position_confirm_ms / 1000,
        )
        self.core.load(self.journal.get_state)
        await self._serve_metrics()
        if self.config.status_port is not None:
            try:
                self.status_page = await start_status_page(
                    self.status, port=self.config.status_port
                )
            except OSError as e:
                raise port_refusal("status_port", self.config.status_port, e) from None
        await self.market.refresh(venues, self.client)
        await self._read_account()
        await self._read_margins()
        # reconcile before acting: orders and threshold changes a previous run left open
        await self.executor.reconcile_orders()
        await self.executor.run_actions()
        from_seq = await self._from_seq()
        self.running = True
        log.info(
            "bot_started",
            paper=self.paper,
            strategy=type(self.strategy).__name__,
            from_seq=from_seq,
            venues=sorted(venues),
            open_orders=len(self.journal.open_orders()),
        )
        loops = [
            self._stream(from_seq),
            self._market_loop(),
            self._account_loop(),
            self._margin_loop(),
            self._reconcile_loop(),
            self.funding.run(self.options.funding_ms),
        ]
        if self.strategy.timer_ms():
            loops.append(self._timer_loop())
        if not self.retention.keeps_everything:
            loops.append(self._compact_loop())
        self._tasks = [asyncio.create_task(self._guard(c)) for c in loops]

    @property
    def failed(self) -> bool:
        return self.failure is not None

    async def _guard(self, coro: Any) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as e:
            refusal = loop_refusal(self.config, e)
            if refusal is None:
                log.exception("bot_task_failed")
            else:  # expected: what to do, without a traceback
                refusal.__cause__ = refusal.__cause__ or (e if e is not refusal else None)
                log.error(refusal.event, message=refusal.message)
            self.failure = refusal or e
            self._stopped.set()

    async def wait(self, stop: asyncio.Event | None = None) -> None:
        """Until `stop` is set or a loop fails."""
        waiters = [asyncio.create_task(self._stopped.wait())]
        if stop is not None:
            waiters.append(asyncio.create_task(stop.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def stop(self) -> None:
        """Graceful stop: stop reading, let sends finish, close everything (also after a
        start that failed or was interrupted half-way)."""
        if self._closed:
            return
        self.running = False
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            # a loop stuck in a library that swallows cancellation must not hang the stop
            _done, stuck = await asyncio.wait(self._tasks, timeout=self.options.drain_timeout_s)
            if stuck:
                log.warning("bot_tasks_not_stopped", tasks=len(stuck))
        finished = True
        if self.executor is not None:
            finished = await self.executor.drain(self.options.drain_timeout_s)
        with contextlib.suppress(Exception):
            self.final_status = self._build_status()
        fs = self.final_status or {}
        log.info(
            "bot_stopping",
            drained=finished,
            open_orders=len(self.journal.open_orders()),
            last_seq=self.journal.last_seq,
            paper=self.paper,
            assignments=fs.get("assignments"),
            fills=fs.get("fills"),
            pnl=fs.get("pnl"),
            net_exposure=fs.get("net_exposure"),
        )
        for v in self.executor.venues.values() if self.executor is not None else ():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(v.close(), self.options.drain_timeout_s)
        await self.client.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.status_page is not None:
            await self.status_page.stop()
        if self._reader is not None:
            self._reader.close()
        self.journal.close()
        self._closed = True
        log.info("bot_stopped")

    async def _serve_metrics(self) -> None:
        """`/metrics` (and `/status` as JSON) on 127.0.0.1:`metrics_port` (port 0 picks a free
        one; see `metrics_url`). The live status page has its own port: `status_port`."""
        port = self.config.metrics_port
        if port is None:
            return
        self._runner = web.AppRunner(metrics_app(self.metrics, self.status), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        try:
            await site.start()
        except OSError as e:
            raise port_refusal("metrics_port", port, e) from None
        actual = self._runner.addresses[0][1] if self._runner.addresses else port
        self.metrics_url = f"http://127.0.0.1:{actual}"
        log.info("metrics_listening", url=self.metrics_url + "/metrics")

    async def _from_seq(self) -> int:
        return await resume_seq(self.client, self.journal, self.config)

    # ---- carrying out decisions (bot.carry) ------------------------------------------

    def handle(self, ev: Event) -> None:
        """Process one stream event exactly once."""
        self.carry.handle(ev)

    def assess(self) -> None:
        """Run the risk monitor now; apply and journal what it decides."""
        self.carry.assess()

    # ---- loops -------------------------------------------------------------------------

    async def _stream(self, from_seq: int) -> None:
        """Journal seqs belong to one engine event log: the log's id is saved with them, and
        a stream from another log (an engine restarted without its data dir) stops the bot
        with `log_changed` instead of silently skipping that log's first seqs."""
        log_id = self.journal.get_state("log_id")
        async for ev in self.client.events(from_seq, log_id=log_id):
            if log_id is None and self.client.log_id is not None:
                log_id = self.client.log_id
                self.journal.set_state("log_id", log_id)
            self.handle(ev)

    async def _timer_loop(self) -> None:
        interval = (self.strategy.timer_ms() or 1000) / 1000
        while True:
            await asyncio.sleep(interval)
            if self.positions is not None and self.positions.holding:
                continue  # a reconciliation holds a difference: no hedge on a stale side
            self.carry.apply(self.core.on_timer(wall_ms(), self.journal.inventory()))

    async def _market_loop(self) -> None:
        assert self.executor is not None
        await self.market.run(
            self.executor.venues,
            self.client,
            poll_ms=self.options.market_refresh_ms,
            on_round=self._market_round,
        )

    def _market_round(self) -> None:
        """After each poll of the exchange: its marks close the markouts due, then gauges."""
        self.carry.observe_marks(self.market.markets)
        self._update_gauges()

    def _tick(self, symbol: str) -> Decimal | None:
        """The exchange's tick of `symbol`, from the engine's markets (any contract it lists,
        hedged or not); None before they were read."""
        m = self.market.info.get(EXCHANGE, {}).get(symbol)
        return None if m is None else m.tick

    async def _read_account(self) -> None:
        """The exchange account and profile (the BLP API: not on any venue's budget)."""
        try:
            profile = await self.client.profile()
            account = await self.client.account()
        except Exception as e:
            log.warning("account_fetch_failed", error=f"{type(e).__name__}: {e}"[:300])
            return
        self.core.observe_account(wall_ms(), profile, account)

    async def _read_margins(self) -> None:
        if self.executor is None:
            return
        now_before = wall_ms()
        margins = await venue_margins(self.executor.venues, {})
        self.core.observe_margins(now_before, margins)

    async def _account_loop(self) -> None:
        """Re-read the exchange account on every wake-up (an assignment, a margin alert),
        coalesced to one read per `monitor_min_ms`, and at least every `monitor_ms`; assess
        on each reading. The stream already assessed each assignment on its own figures
        (lower first, read later); this brings the equity and capacity up to date."""
        loop = asyncio.get_running_loop()
        last = -math.inf
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.monitor_wake.wait(), self.options.monitor_ms / 1000)
            gap = last + self.options.monitor_min_ms / 1000 - loop.time()
            if gap > 0:
                await asyncio.sleep(gap)  # a burst of wake-ups: one round for all of them
            last = loop.time()
            self.monitor_wake.clear()
            seq = self.journal.last_seq  # the account fetched next reflects at least this
            await self._read_account()
            self.assess()
            self.assessed_seq = seq
            self._watch()
            self._check_account_positions(seq)

    async def _margin_loop(self) -> None:
        """Venue margins on each venue's control lane: never behind new orders."""
        loop = asyncio.get_running_loop()
        period = self.options.venue_margin_ms / 1000
        due = loop.time()
        while True:
            due = max(due + period, loop.time())  # a fixed cadence, not period + read time
            await asyncio.sleep(due - loop.time())
            await self._read_margins()

    def _check_account_positions(self, seq: int) -> None:
        """The account just read holds other positions than the journal: run the position
        round now, not at its next turn."""
        acct = self.core.readings.account
        if self.positions is None or acct is None or self.paper:
            return
        if self.journal.last_seq == seq and self.positions.account_differs(acct):
            self.positions_due = True
            self.positions.executor.wake.set()

    def _watch(self) -> None:
        """The exposure-age alarm and the program clock's gauges."""
        now = wall_ms()
        inv = self.journal.inventory()
        for s in self.core.watch_exposure(now, inv):
            self.metrics.exposure_alarms.inc(symbol=s)
            log.error(
                "exposure_alarm",
                symbol=s,
                net=str(inv.net(s, in_flight=False)),
                age_ms=self.core.alarm.age_ms(s, now),
                band=str(self.config.execution.exposure_alarm_notional),
            )
        for s in self.symbols:
            self.metrics.exposure_age.set(self.core.alarm.age_ms(s, now), symbol=s)
        self._update_gauges()

    @property
    def retention(self) -> Retention:
        r = self.config.journal_retention
        return Retention(r.retain_days, r.retain_assignments)

    async def _compact_loop(self) -> None:
        """Drop journal history past the retention, off the event loop (`journal_compaction`
        keeps whatever resume and open orders need)."""
        keep, every = self.retention, self.config.journal_retention.every_s
        while True:
            done = await asyncio.to_thread(compact, self.journal.path, keep, wall_ms())
            for table, n in done.deleted.items():
                if n:
                    self.metrics.compacted.inc(n, table=table)
            if done.total:
                log.info("journal_compacted", compacted_seq=done.compacted_seq, **done.deleted)
            await asyncio.sleep(every)

    async def _reconcile_loop(self) -> None:
        assert self.executor is not None
        ex = self.executor
        rounds = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ex.wake.wait(), self.options.reconcile_ms / 1000)
            if ex.wake.is_set():
                ex.wake.clear()
                await asyncio.sleep(0.05)  # let a burst of unknowns gather
            rounds += 1
            await asyncio.to_thread(self.journal.checkpoint)
            await ex.reconcile_orders()
            await ex.run_actions()
            every = self.options.position_reconcile_every
            if not self.paper and (self.positions_due or rounds % every == 0):
                await self._reconcile_positions()

    async def _reconcile_positions(self) -> None:
        """Both sides in one round (`bot.reconcile`): the exchange account and every venue."""
        if self.positions is not None:
            self.positions_due = False
            await self.positions.run()

    # ---- status ------------------------------------------------------------------------

    async def _set_threshold(self, symbol: str, value: Decimal) -> None:
        self.core.observe_profile(
            await self.client.update_profile(max_position_notional={symbol: value})
        )
        self.metrics.threshold.set(value, symbol=symbol)

    def status_reader(self) -> JournalReader:
        if self._reader is None:
            self._reader = JournalReader(str(self.journal.path), self.options.recent)
        return self._reader

    def _sources(self) -> StatusSources:
        return StatusSources(
            self.core,
            self.journal,
            self.status_reader(),
            self.metrics,
            self.market,
            self.executor,
            self.config,
            paper=self.paper,
            running=self.running,
            assessed_seq=self.assessed_seq,
            markouts=self.carry.markouts,
        )

    def _update_gauges(self) -> None:
        update_gauges(self._sources(), wall_ms())

    def _build_status(self) -> dict[str, Any]:
        return build_status(self._sources(), wall_ms()).as_json()

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot for status pages and the demo (`status.BotStatus`); after
        `stop()` the last one taken before the journal closed."""
        if self._closed:
            return self.final_status or {}
        return self._build_status()


async def run_bot(
    config: BotConfig,
    *,
    paper: bool = False,
    stop: asyncio.Event | None = None,
    options: BotOptions | None = None,
    env: Mapping[str, str] | None = None,
    on_start: Callable[[Bot], None] | None = None,
) -> Bot:
    """Run the bot in this event loop until `stop` is set (or a loop fails); returns the
    stopped Bot (journal closed; its last `status()` is in `bot.final_status`). `on_start`
    gets the running Bot, e.g. to show `bot.status()` live."""
    bot = Bot(config, paper=paper, options=options, env=env)
    starting = asyncio.create_task(bot.start())
    stopping = asyncio.create_task(stop.wait()) if stop is not None else None
    try:
        await asyncio.wait(
            [t for t in (starting, stopping) if t is not None], return_when=asyncio.FIRST_COMPLETED
        )
        if not starting.done():  # stopped while starting (e.g. waiting for the engine)
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return bot
        starting.result()
        if on_start is not None:
            on_start(bot)
        await bot.wait(stop)
    finally:
        if stopping is not None:
            stopping.cancel()
        await bot.stop()
    return bot


def run_forever(config: BotConfig, *, paper: bool = False) -> int:
    """`blp bot`: run until SIGINT/SIGTERM, then stop gracefully. Exit status 1 when a loop
    of the daemon failed (the journal is consistent; a restart resumes). An expected failure
    (a second bot on the journal, a refused key, a port in use, ...) raises `Refusal`: the
    CLI prints its one line and exits 2."""
    configure_logging(config.log_level)

    async def main() -> bool:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            bot = await run_bot(config, paper=paper, stop=stop)
        except Exception as e:
            refusal = loop_refusal(config, e)
            if refusal is None:
                raise
            raise refusal from None
        if isinstance(bot.failure, Refusal):
            raise bot.failure
        return bot.failed

    return 1 if asyncio.run(main()) else 0


__all__ = ["Bot", "BotOptions", "configure_logging", "run_bot", "run_forever"]
