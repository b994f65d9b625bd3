"""Counters of the liquidation waterfall: what the program is judged on."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .num import ZERO


@dataclass(slots=True)
class BLPStats:
    assignments: int = 0
    assigned_notional: Decimal = ZERO
    favorable_notional: Decimal = ZERO
    toxic_notional: Decimal = ZERO
    discount_value: Decimal = ZERO  # Σ qty·(mark − price)·side: value vs mark at assignment
    liquidated: bool = False


@dataclass(slots=True)
class Stats:
    liquidations: int = 0
    returned: int = 0
    takeovers: int = 0
    book_reduced_notional: Decimal = ZERO
    takeover_notional: Decimal = ZERO
    blp_assigned_notional: Decimal = ZERO
    blp_favorable_notional: Decimal = ZERO
    blp_toxic_notional: Decimal = ZERO
    insurance_kept_notional: Decimal = ZERO
    insurance_fund_start: Decimal = ZERO
    adl_count: int = 0
    adl_notional: Decimal = ZERO
    socialized_loss: Decimal = ZERO
    socialized_events: int = 0
    max_clawback_rate: Decimal = ZERO
    blp_liquidations: int = 0
    blps: dict[int, BLPStats] = field(default_factory=dict)

    def blp(self, account_id: int) -> BLPStats:
        s = self.blps.get(account_id)
        if s is None:
            s = self.blps[account_id] = BLPStats()
        return s
