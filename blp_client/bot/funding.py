"""Perpetual funding on the bot's side: the rates strategies see (`View.funding`) and the
payments its P&L counts.

- The exchange: its rates come with the markets the daemon already reads (`Market.funding_rate`,
  `predicted_funding_rate`, `next_funding_time`); its payments are `funding` events on the
  stream, journaled with the event (`Decider.on_event`).
- Each hedge venue that has funding (`FundingVenue`: `CcxtVenue`, via ccxt's
  `fetch_funding_rate` and `fetch_funding_history`): `FundingPoller` reads its rates every
  `funding_ms` on the control lane, and its payments since the last one journaled when they
  can have changed: at start, once the venue's next funding time has moved on (a payment was
  due), and every `history_ms` for late postings. A payments read is heavy (Binance's `income`
  costs 30 weight, 1.5 s of ccxt's throttle on the control lane that the risk monitor's margin
  reads share), so it waits while the bot has orders open, up to `max_defer_ms`. Payments are
  journaled by (venue, id), so one read twice counts once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Protocol, runtime_checkable

import structlog

from blp_client.bot.journal import Journal
from blp_client.bot.journal_schema import FundingRecord
from blp_client.bot.metrics import BotMetrics
from blp_client.bot.strategy import EXCHANGE, FundingRate
from blp_client.bot.venues import FundingFee, Venue, VenueFunding
from blp_client.models import Market
from blp_client.vocabulary import ZERO

log = structlog.get_logger("blp_client.bot.funding")

Rates = MutableMapping[tuple[str, str], FundingRate]


@runtime_checkable
class FundingVenue(Protocol):
    async def funding_rate(self, symbol: str) -> VenueFunding | None: ...

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingFee]: ...


def exchange_rate(m: Market, now_ms: int) -> FundingRate | None:
    """The exchange's funding from its market resource (None: it runs without funding)."""
    if m.next_funding_time is None:
        return None
    return FundingRate(
        EXCHANGE,
        m.symbol,
        m.funding_rate,
        m.predicted_funding_rate,
        m.next_funding_time,
        m.funding_interval_ms,
        now_ms,
    )


def venue_rate(venue: str, f: VenueFunding, now_ms: int) -> FundingRate:
    return FundingRate(venue, f.symbol, f.last_rate, f.next_rate, f.next_ms, f.interval_ms, now_ms)


def count_funding(metrics: BotMetrics, rows: Iterable[FundingRecord]) -> None:
    """Funding paid and received, by contract and venue (the journal's new rows only)."""
    for r in rows:
        if r.amount < ZERO:
            metrics.funding.inc(-r.amount, symbol=r.symbol, venue=r.venue, direction="paid")
        elif r.amount > ZERO:
            metrics.funding.inc(r.amount, symbol=r.symbol, venue=r.venue, direction="received")


class FundingPoller:
    """Rates and payments of every funding venue (the exchange excepted: see the module)."""

    def __init__(
        self,
        venues: Mapping[str, Venue],
        symbols: list[str],
        journal: Journal,
        rates: Rates,
        metrics: BotMetrics,
        clock: Callable[[], int],
        *,
        busy: Callable[[], bool] = lambda: False,
        history_ms: int = 3_600_000,
        max_defer_ms: int = 600_000,
    ) -> None:
        self.venues = {
            n: v for n, v in venues.items() if n != EXCHANGE and isinstance(v, FundingVenue)
        }
        self.symbols = symbols
        self.journal = journal
        self.rates = rates
        self.metrics = metrics
        self.clock = clock
        self.busy = busy
        self.history_ms = history_ms
        self.max_defer_ms = max_defer_ms
        self.errors: dict[str, str] = {}
        self.rounds = 0  # polls done (the first one reads every venue's payments)
        self._read: dict[tuple[str, str], tuple[int, int | None]] = {}  # (read at, next_ms)
        self._due_since: dict[tuple[str, str], int] = {}  # a payments read waiting since

    def history_due(self, key: tuple[str, str], next_ms: int | None, now_ms: int) -> bool:
        """Whether to read `key`'s payments now (see the module): never read, a funding
        time passed since, or `history_ms` old; and the bot idle, or it waited long enough."""
        last = self._read.get(key)
        due = last is None or next_ms != last[1] or now_ms - last[0] >= self.history_ms
        if not due:
            return False
        since = self._due_since.setdefault(key, now_ms)
        return last is None or not self.busy() or now_ms - since >= self.max_defer_ms

    async def poll(self) -> list[FundingRecord]:
        """One round over every venue and contract; returns the payments new to the journal."""
        new: list[FundingRecord] = []
        for name, venue in sorted(self.venues.items()):
            try:
                new += await self._venue(name, venue)
                self.errors.pop(name, None)
            except Exception as e:
                self.errors[name] = f"{type(e).__name__}: {e}"[:300]
                log.warning("funding_read_failed", venue=name, error=self.errors[name])
        self.rounds += 1
        return new

    async def _venue(self, name: str, venue: FundingVenue) -> list[FundingRecord]:
        since: int | None = None
        rows: list[FundingRecord] = []
        for s in self.symbols:
            rate = await venue.funding_rate(s)
            now = self.clock()
            if rate is not None:
                self.rates[(s, name)] = venue_rate(name, rate, now)
            key, next_ms = (name, s), None if rate is None else rate.next_ms
            if not self.history_due(key, next_ms, now):
                continue
            if since is None:
                since = self.journal.last_funding_ms(name)  # inclusive: the journal dedupes
            for fee in await venue.funding_history(s, since):
                rows.append(FundingRecord(name, fee.id, s, fee.amount, fee.timestamp_ms))
            self._read[key] = (now, next_ms)
            self._due_since.pop(key, None)
        if not rows:
            return []
        added = self.journal.record_funding(rows, now_ms=self.clock())
        count_funding(self.metrics, added)
        for r in added:
            log.info("funding", venue=name, symbol=r.symbol, amount=str(r.amount), id=r.id)
        return added

    async def run(self, every_ms: int) -> None:
        """`poll` at a fixed cadence until cancelled."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            await self.poll()
            due = max(due + every_ms / 1000, loop.time())
            await asyncio.sleep(due - loop.time())
