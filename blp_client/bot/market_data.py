"""The daemon's market-data cache: books, marks and size rules per (symbol, venue).

Market data is cached so an assignment is decided on from memory (no request between receiving
it and sending the hedge); the executor's marketable limits carry a slippage cap, so a slightly
stale touch costs at most an IOC remainder that the next decision hedges.

`refresh()` reads everything once by REST (the daemon's start). `run()` then keeps it current:

- hedge venues: one watcher per (venue, symbol) on the venue's book stream
  (`Venue.watch_order_book`, ccxt.pro on a `CcxtVenue`), every book stored as it arrives. When
  the venue has no stream, or its stream fails, the watcher polls REST `order_book` (for a
  `CcxtVenue` that is its control lane) at most once per `fallback_ms`, and retries the stream
  with exponential backoff (`stream_retry_ms` up to `stream_retry_max_ms`) for as long as it is
  broken. REST polling therefore costs at most one book request per symbol per `fallback_ms` of
  the venue's weight budget, and none while the stream is up;
- the exchange itself (`EXCHANGE`: its book and mark over the BLP API, not a venue budget) is
  polled every `poll_ms`, and `on_round` (the daemon's gauges) runs after each poll.

`age_ms` / `staleness` say how old each book is and where it came from; a streamed book of a
quiet market ages without being stale (the stream sends only changes), so read the age together
with the source. Failures are kept like before: `errors[venue]` (the last failure of the venue's
market data, cleared by its next success), and `stream_errors[(symbol, venue)]` while a stream
is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Literal

import structlog

from blp_client.bot.funding import exchange_rate
from blp_client.bot.strategy import EXCHANGE, FundingRate, VenueMarket
from blp_client.bot.venues import MarketInfo, OrderBook, Venue
from blp_client.client import BLPClient

log = structlog.get_logger("blp_client.bot.market_data")

Source = Literal["rest", "stream"]


def wall_ms() -> int:
    return int(time.time() * 1000)


class MarketData:
    """Books, marks and size rules per (symbol, venue): `refresh()` once, `run()` for good."""

    def __init__(
        self,
        symbols: list[str],
        depth: int = 20,
        *,
        fallback_ms: int = 1000,
        stream_retry_ms: int = 500,
        stream_retry_max_ms: int = 30_000,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.symbols = symbols
        self.depth = depth
        self.fallback_ms = fallback_ms
        self.stream_retry_ms = stream_retry_ms
        self.stream_retry_max_ms = stream_retry_max_ms
        self.clock = clock
        self.markets: dict[tuple[str, str], VenueMarket] = {}
        # funding rates per (symbol, venue): the exchange's from its markets (here), the
        # hedge venues' from `funding.FundingPoller`
        self.funding: dict[tuple[str, str], FundingRate] = {}
        self.info: dict[str, Mapping[str, MarketInfo]] = {}
        self.errors: dict[str, str] = {}
        self.stream_errors: dict[tuple[str, str], str] = {}
        self.received_ms: dict[tuple[str, str], int] = {}  # local clock, per book stored
        self.sources: dict[tuple[str, str], Source] = {}
        self._last_rest: dict[tuple[str, str], float] = {}  # loop time of the last REST book

    # ---- reading -------------------------------------------------------------------------

    def age_ms(self, symbol: str, venue: str, now_ms: int | None = None) -> int | None:
        """How long ago the last book of `symbol` on `venue` arrived (None: never)."""
        t = self.received_ms.get((symbol, venue))
        if t is None:
            return None
        return max(0, (self.clock() if now_ms is None else now_ms) - t)

    def staleness(self, now_ms: int | None = None) -> dict[str, dict[str, object]]:
        """Per venue and symbol: the book's age, its source, and a stream failure if any."""
        now = self.clock() if now_ms is None else now_ms
        out: dict[str, dict[str, object]] = {}
        for symbol, venue in sorted(self.received_ms, key=lambda k: (k[1], k[0])):
            out.setdefault(venue, {})[symbol] = {
                "age_ms": self.age_ms(symbol, venue, now),
                "source": self.sources.get((symbol, venue)),
                "stream_error": self.stream_errors.get((symbol, venue)),
            }
        return out

    # ---- storing -------------------------------------------------------------------------

    def _store(
        self,
        venue: str,
        m: MarketInfo,
        book: OrderBook,
        source: Source,
        mark: Decimal | None = None,
    ) -> None:
        key = (m.symbol, venue)
        self.markets[key] = VenueMarket(
            venue,
            m.symbol,
            book.bids,
            book.asks,
            mark,
            m.tick,
            m.lot,
            m.min_qty,
            m.min_notional,
            m.taker_fee,
            m.maker_fee,
            book.timestamp_ms or 0,
        )
        self.received_ms[key] = self.clock()
        self.sources[key] = source

    def _failed(self, venue: str, e: Exception, what: str = "market_data_failed") -> None:
        self.errors[venue] = f"{type(e).__name__}: {e}"[:300]
        log.warning(what, venue=venue, error=self.errors[venue])

    # ---- one REST round ------------------------------------------------------------------

    async def refresh(self, venues: Mapping[str, Venue], client: BLPClient) -> None:
        """Every venue's markets (once), books and the exchange's marks, by REST."""
        await asyncio.gather(*(self._one(name, v, client) for name, v in venues.items()))

    async def _one(self, name: str, venue: Venue, client: BLPClient) -> None:
        try:
            if name not in self.info:
                self.info[name] = await venue.markets()
            info = self.info[name]
            for s in self.symbols:
                m = info.get(s)
                if m is None:
                    continue
                book = await venue.order_book(s, self.depth)
                mark = None
                if name == EXCHANGE:
                    market = await client.market(s)
                    mark = market.mark_price
                    rate = exchange_rate(market, self.clock())
                    if rate is not None:
                        self.funding[(s, EXCHANGE)] = rate
                self._store(name, m, book, "rest", mark)
            self.errors.pop(name, None)
        except Exception as e:
            self._failed(name, e)

    # ---- for good ------------------------------------------------------------------------

    async def run(
        self,
        venues: Mapping[str, Venue],
        client: BLPClient,
        *,
        poll_ms: int = 250,
        on_round: Callable[[], None] | None = None,
    ) -> None:
        """Keep the cache current until cancelled (see the module docstring)."""
        async with asyncio.TaskGroup() as tg:
            for name, venue in venues.items():
                if name == EXCHANGE:
                    continue
                tg.create_task(self._venue(name, venue))
            tg.create_task(self._poll_exchange(venues.get(EXCHANGE), client, poll_ms, on_round))

    async def _poll_exchange(
        self,
        venue: Venue | None,
        client: BLPClient,
        poll_ms: int,
        on_round: Callable[[], None] | None,
    ) -> None:
        while True:
            await asyncio.sleep(poll_ms / 1000)
            if venue is not None:
                await self._one(EXCHANGE, venue, client)
            if on_round is not None:
                on_round()

    async def _venue(self, name: str, venue: Venue) -> None:
        """The venue's markets (retried until they load), then a watcher per listed symbol."""
        delay = self.stream_retry_ms
        while name not in self.info:
            try:
                self.info[name] = await venue.markets()
            except Exception as e:
                self._failed(name, e)
                await asyncio.sleep(delay / 1000)
                delay = min(delay * 2, self.stream_retry_max_ms)
        info = self.info[name]
        async with asyncio.TaskGroup() as tg:
            for s in self.symbols:
                m = info.get(s)
                if m is not None:
                    tg.create_task(self._watch(name, venue, m))

    async def _watch(self, name: str, venue: Venue, m: MarketInfo) -> None:
        """Stream the book; on no stream or a failure, poll REST and retry with backoff."""
        key = (m.symbol, name)
        retry = self.stream_retry_ms
        loop = asyncio.get_running_loop()
        while True:
            try:
                while True:
                    book = await venue.watch_order_book(m.symbol, self.depth)
                    if book is None:
                        break  # no stream on this venue: REST for good
                    self._store(name, m, book, "stream")
                    self.errors.pop(name, None)
                    if key in self.stream_errors:
                        del self.stream_errors[key]
                        log.info("market_stream_resumed", venue=name, symbol=m.symbol)
                    retry = self.stream_retry_ms
            except Exception as e:
                self.stream_errors[key] = f"{type(e).__name__}: {e}"[:300]
                log.warning(
                    "market_stream_failed",
                    venue=name,
                    symbol=m.symbol,
                    error=self.stream_errors[key],
                    retry_ms=retry,
                )
                until = loop.time() + retry / 1000
                retry = min(retry * 2, self.stream_retry_max_ms)
                await self._poll_rest(name, venue, m, until)
                continue
            await self._poll_rest(name, venue, m, None)  # returns only when cancelled

    async def _poll_rest(self, name: str, venue: Venue, m: MarketInfo, until: float | None) -> None:
        """REST books of one symbol until loop time `until` (None: for good), never two
        within `fallback_ms` of each other (across fallback periods too)."""
        loop = asyncio.get_running_loop()
        key = (m.symbol, name)
        while True:
            now = loop.time()
            slot = self._last_rest.get(key, -float("inf")) + self.fallback_ms / 1000
            if until is not None and max(slot, now) >= until:
                if until > now:
                    await asyncio.sleep(until - now)
                return
            if slot > now:
                await asyncio.sleep(slot - now)
            self._last_rest[key] = loop.time()
            try:
                self._store(name, m, await venue.order_book(m.symbol, self.depth), "rest")
                self.errors.pop(name, None)
            except Exception as e:
                self._failed(name, e)


__all__ = ["MarketData", "wall_ms"]
