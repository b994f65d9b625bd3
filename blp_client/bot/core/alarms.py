"""Operator alarms kept for the status: never a silent condition. An assignment in a contract
the bot does not hedge, a position the journal did not expect (`core.positions`), and an
assignment whose price does not follow the program's rule (`core.audit`: an alarm, never a
refusal, since the assignment is already booked)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from blp_client.bot.core.audit import PriceAudit
from blp_client.bot.core.positions import Mismatch


@dataclass
class OperatorAlarms:
    unhedged: dict[str, int] = field(default_factory=dict)
    """Contract -> assignments received in it that nothing hedges."""
    mismatches: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))
    """The latest position differences found, with both figures and what was done."""
    price_audit: PriceAudit = field(default_factory=PriceAudit)
    """Every processed assignment's price against the program's rule; the last mismatches."""

    def note_unhedged(self, symbol: str) -> None:
        self.unhedged[symbol] = self.unhedged.get(symbol, 0) + 1

    def note_mismatch(self, now_ms: int, m: Mismatch, outcome: str) -> None:
        self.mismatches.append({"ms": now_ms, **m.as_json(), "outcome": outcome})

    def as_json(self) -> dict[str, Any]:
        return {
            "unhedged_assignments": dict(self.unhedged),
            "position_mismatches": list(self.mismatches),
            "price_audit": self.price_audit.as_json(),
        }
