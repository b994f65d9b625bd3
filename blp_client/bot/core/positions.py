"""Two-sided position reconciliation, as decisions: what the exchange account and the venues
hold against what the journal expects. Pure: the shell (`bot.reconcile`) reads, this compares.

A difference on one side (an engine restart that reset the exchange account, a manual trade
on a venue) is only corrected together with every other side, read in the same round: after
an exchange-only correction a strategy would hedge a venue position that is just as stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from blp_client.bot.journal_schema import PositionDelta
from blp_client.vocabulary import ZERO

Held = Mapping[str, Mapping[str, Decimal]]
"""venue -> symbol -> signed position, as read."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    venue: str
    symbol: str
    journal: Decimal
    actual: Decimal

    @property
    def correction(self) -> PositionDelta:
        """The position change that makes the journal say what the venue holds."""
        return PositionDelta(self.symbol, self.venue, self.actual - self.journal)

    def as_json(self) -> dict[str, str]:
        return {
            "venue": self.venue,
            "symbol": self.symbol,
            "journal": str(self.journal),
            "actual": str(self.actual),
        }


def mismatches(
    journal: Mapping[tuple[str, str], Decimal], held: Held, symbols: Iterable[str]
) -> list[Mismatch]:
    """Every (venue, contract) of a venue in `held` — contracts in `symbols`, read there or
    in the journal — whose read position is not the journal's (`journal` is keyed (symbol,
    venue)); sorted, so a round decides the same each time."""
    out = []
    for venue in sorted(held):
        known = {s for s, v in journal if v == venue}
        for s in sorted(set(symbols) | set(held[venue]) | known):
            actual = held[venue].get(s, ZERO)
            expected = journal.get((s, venue), ZERO)
            if actual != expected:
                out.append(Mismatch(venue, s, expected, actual))
    return out


def confirmed(first: Sequence[Mismatch], second: Sequence[Mismatch]) -> list[Mismatch]:
    """The differences both reads of a round saw with the same figures (a venue still
    settling a fill shows a figure once; a reset or a manual trade shows it twice)."""
    seen = set(first)
    return [m for m in second if m in seen]
