"""The position round of reconciliation (I/O; the comparison is `core.positions`): read the
exchange account and every venue, and when any disagrees with the journal, raise the alarm
(contract, venue, both figures), read them all again, and correct every confirmed difference
and hedge the true net exposure in one journal transaction. While a round holds a
difference, the strategy's timer sends nothing (`holding`): no hedge on a half-known state.

A round counts only when nothing was sent and no stream event arrived while it read (else an
assignment or fill could be counted twice); otherwise it is tried again on the next one. A
contract with an order in flight anywhere (a hedge on its way, a resting GTC) is left out of
the round: its positions are about to move.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal

import structlog

from blp_client.bot.carry import Carrier
from blp_client.bot.core.positions import Held, Mismatch, confirmed, mismatches
from blp_client.bot.execution import Executor, wall_ms
from blp_client.bot.strategy import EXCHANGE, SetThreshold
from blp_client.bot.venues import VenueError
from blp_client.client import BLPClient
from blp_client.models import Account

log = structlog.get_logger("blp_client.bot.daemon")


class PositionRound:
    def __init__(
        self,
        executor: Executor,
        carry: Carrier,
        client: BLPClient,
        symbols: Iterable[str],
        *,
        confirm_s: float = 0.25,
    ) -> None:
        self.executor = executor
        self.carry = carry
        self.journal = carry.journal
        self.core = carry.core
        self.client = client
        self.symbols = list(symbols)
        self.confirm_s = confirm_s
        self.holding = False
        self._alarmed: set[tuple[str, str, str, str]] = set()

    def busy_symbols(self) -> set[str]:
        """Contracts with an order open or awaiting its answer, on any venue."""
        busy = {o.symbol for o in self.journal.open_orders()}
        for cid in self.executor.awaiting():
            o = self.journal.order(cid)
            if o is not None:
                busy.add(o.symbol)
        return busy

    async def _seq(self) -> int | None:
        try:
            return (await self.client.assignment_history(0, 1)).last_seq
        except Exception:
            return None

    async def read(self) -> tuple[Held, set[str]] | None:
        """Every venue's positions and the exchange account's, with the contracts that had an
        order in flight while they were read; None when the read cannot count (something
        sent or streamed meanwhile, a read failed)."""
        ex = self.executor
        busy = self.busy_symbols()
        sends, before = ex.sends, self.journal.last_seq
        if await self._seq() != before:
            return None  # events not processed yet: the account already holds them
        held: dict[str, dict[str, Decimal]] = {}
        for name in sorted(ex.venues):
            try:
                positions = await ex.venues[name].positions()
            except (VenueError, OSError, TimeoutError) as e:
                log.info("position_read_failed", venue=name, error=str(e)[:200])
                return None
            held[name] = {p.symbol: p.qty for p in positions}
        if ex.sends != sends or self.journal.last_seq != before:
            return None
        if await self._seq() != before:
            return None
        return held, busy | self.busy_symbols()

    def account_differs(self, account: Account) -> bool:
        """Does an account reading (the monitor's, every 500 ms) hold other exchange positions
        than the journal, with nothing in flight there? Then a round is due at once."""
        busy = self.busy_symbols()
        held = {EXCHANGE: {p.symbol: p.qty for p in account.positions if p.qty != 0}}
        expected = {k: v for k, v in self._expected().items() if k[1] == EXCHANGE}
        found = [m for m in mismatches(expected, held, ()) if m.symbol not in busy]
        if found:
            log.info("position_round_due", symbols=[m.symbol for m in found])
        return bool(found)

    def _differences(self, reading: tuple[Held, set[str]]) -> list[Mismatch]:
        held, busy = reading
        found = mismatches(self._expected(), held, self.symbols)
        return [m for m in found if m.symbol not in busy]

    def _expected(self) -> dict[tuple[str, str], Decimal]:
        return {k: v[0] for k, v in self.journal.positions().items()}

    async def run(self) -> int:
        """One round; returns how many positions it corrected."""
        first = await self.read()
        if first is None:
            return 0
        found = self._differences(first)
        if not found:
            self._alarmed.clear()
            return 0
        now = wall_ms()
        for m in found:
            key = (m.venue, m.symbol, str(m.journal), str(m.actual))
            if key not in self._alarmed:  # once per figure, not once per round
                self._alarmed.add(key)
                self.carry.metrics.reconcile.inc(kind="position_mismatch")
                self.core.alarms.note_mismatch(now, m, "found")
                log.error(
                    "position_mismatch",
                    venue=m.venue,
                    symbol=m.symbol,
                    journal=str(m.journal),
                    actual=str(m.actual),
                    sides=sorted(first[0]),
                    cause="an engine restart or a manual trade"
                    if m.venue == EXCHANGE
                    else "a manual trade or a fill the bot did not see",
                )
        self.holding = True
        try:
            await asyncio.sleep(self.confirm_s)  # a venue still settling a fill shows it once
            second = await self.read()
            if second is None:
                return 0
            now = wall_ms()
            sure = confirmed(found, self._differences(second))
            if not sure:
                return 0
            decision = self.core.on_corrected(sure, self.journal.inventory(), now)
            for m in sure:
                self.core.alarms.note_mismatch(now, m, "corrected")
                self.carry.metrics.reconcile.inc(kind="position_corrected")
                log.warning(
                    "position_corrected",
                    venue=m.venue,
                    symbol=m.symbol,
                    journal=str(m.journal),
                    actual=str(m.actual),
                    diff=str(m.actual - m.journal),
                )
            self.carry.apply(decision)
            log.info(
                "positions_reconciled",
                sides=sorted(second[0]),
                corrected=len(sure),
                hedges=[
                    (i.symbol, i.venue, str(i.qty))
                    for i in decision.orders
                    if not isinstance(i, SetThreshold)
                ],
            )
            self._alarmed.clear()
            return len(sure)
        finally:
            self.holding = False
