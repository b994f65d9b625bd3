"""The journal's funding payments: the exchange's (from the stream, with their event) and each
hedge venue's (from its funding history), one row per (venue, payment id), so a payment read
twice counts once. Funding is cash: it moves no position and no cost."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from blp_client.bot.books import ZERO
from blp_client.bot.journal_schema import FundingRecord
from blp_client.bot.journal_store import JournalStore


class JournalFunding(JournalStore):
    def _funding(self, f: FundingRecord, now_ms: int) -> bool:
        """Insert inside the caller's transaction; False when (venue, id) is known."""
        return bool(
            self._db.execute(
                "INSERT INTO funding(venue, id, symbol, amount, rate, ts, recorded_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(venue, id) DO NOTHING",
                (
                    f.venue,
                    f.id,
                    f.symbol,
                    str(f.amount),
                    None if f.rate is None else str(f.rate),
                    f.ts,
                    now_ms,
                ),
            ).rowcount
        )

    def record_funding(self, rows: Iterable[FundingRecord], *, now_ms: int) -> list[FundingRecord]:
        """Record a venue's funding payments in one transaction; returns the new ones."""
        with self._tx():
            return [f for f in rows if self._funding(f, now_ms)]

    def funding(self, venue: str | None = None) -> list[FundingRecord]:
        sql = "SELECT venue, id, symbol, amount, rate, ts FROM funding"
        args: tuple[str, ...] = ()
        if venue is not None:
            sql, args = sql + " WHERE venue = ?", (venue,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY ts, venue, id", args).fetchall()
        return [
            FundingRecord(
                r[0], r[1], r[2], Decimal(r[3]), r[5], None if r[4] is None else Decimal(r[4])
            )
            for r in rows
        ]

    def funding_totals(self) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        """(symbol, venue) -> (paid, received), both >= 0."""
        out: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        with self._lock:
            rows = self._db.execute("SELECT symbol, venue, amount FROM funding").fetchall()
        for symbol, venue, text in rows:
            amount = Decimal(text)
            paid, received = out.get((symbol, venue), (ZERO, ZERO))
            if amount < ZERO:
                paid -= amount
            else:
                received += amount
            out[(symbol, venue)] = (paid, received)
        return out

    def last_funding_ms(self, venue: str) -> int:
        """The time of the venue's latest journaled payment (0: none yet)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(ts) FROM funding WHERE venue = ?", (venue,)
            ).fetchone()
        return int(row[0] or 0)
