"""Counters of the liquidation waterfall: what the program is judged on.

A fold over the engine's events (`Stats.record`), so the liquidator only says what happened
and never keeps score itself: the exchange feeds every event it emits through `record`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import events as ev
from .num import ZERO


@dataclass(slots=True)
class BLPStats:
    assignments: int = 0
    assigned_notional: Decimal = ZERO
    favorable_notional: Decimal = ZERO
    toxic_notional: Decimal = ZERO
    discount_value: Decimal = ZERO  # Σ qty·(mark − price)·side: value vs mark at assignment
    liquidated: bool = False
    funding: Decimal = ZERO  # net funding received (< 0: paid)


@dataclass(slots=True)
class FundingStats:
    """What funding moved: per account kind (net received, paid, received), per contract the
    rates seen, and the rounding residue the insurance fund took."""

    times: int = 0  # contract settlements
    net: dict[str, Decimal] = field(default_factory=dict)
    paid: dict[str, Decimal] = field(default_factory=dict)
    received: dict[str, Decimal] = field(default_factory=dict)
    residue: Decimal = ZERO
    rates: dict[str, tuple[Decimal, Decimal, Decimal]] = field(
        default_factory=dict
    )  # min, max, last


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
    funding: FundingStats = field(default_factory=FundingStats)
    _blp_accounts: set[int] = field(default_factory=set)  # seen in a profile event
    _last_takeover: int = 0  # liquidation id of the last takeover counted

    def blp(self, account_id: int) -> BLPStats:
        s = self.blps.get(account_id)
        if s is None:
            s = self.blps[account_id] = BLPStats()
        return s

    def record(self, e: ev.Event) -> None:
        """Count one event (most kinds count nothing: one dict lookup)."""
        count = _COUNTERS.get(type(e))
        if count is not None:
            count(self, e)

    # ---- one counter per kind of event ---------------------------------------------------

    def _profile(self, e: ev.ProfileChanged) -> None:
        self._blp_accounts.add(e.account_id)  # only BLPs have profiles

    def _started(self, e: ev.LiquidationStarted) -> None:
        self.liquidations += 1
        if e.account_id in self._blp_accounts:
            self.blp_liquidations += 1
            self.blp(e.account_id).liquidated = True

    def _book_reduction(self, e: ev.BookReduction) -> None:
        self.book_reduced_notional += e.notional

    def _returned(self, e: ev.LiquidationReturned) -> None:
        self.returned += 1

    def _taken_over(self, e: ev.TakenOver) -> None:
        # one event per position taken: a takeover is counted once, by its liquidation
        if e.liquidation_id != self._last_takeover:
            self._last_takeover = e.liquidation_id
            self.takeovers += 1
        self.takeover_notional += abs(e.qty) * e.mark_price

    def _assignment(self, e: ev.Assignment) -> None:
        s = e.side.sign
        notional = e.qty * e.mark_price
        bst = self.blp(e.account_id)
        self.blp_assigned_notional += notional
        bst.assignments += 1
        bst.assigned_notional += notional
        bst.discount_value += s * e.qty * (e.mark_price - e.price)
        if e.kind == "favorable":
            self.blp_favorable_notional += notional
            bst.favorable_notional += notional
        else:
            self.blp_toxic_notional += notional
            bst.toxic_notional += notional

    def _insurance_kept(self, e: ev.InsuranceKept) -> None:
        self.insurance_kept_notional += abs(e.qty) * e.mark_price

    def _deleveraged(self, e: ev.AutoDeleveraged) -> None:
        self.adl_count += 1
        self.adl_notional += abs(e.qty) * e.mark_price

    def _socialized(self, e: ev.SocializedLoss) -> None:
        self.socialized_loss += e.amount
        self.socialized_events += 1
        self.max_clawback_rate = max(self.max_clawback_rate, e.rate)

    def _funding_payment(self, e: ev.FundingPayment) -> None:
        f = self.funding
        f.net[e.kind] = f.net.get(e.kind, ZERO) + e.amount
        side = f.received if e.amount > ZERO else f.paid
        side[e.kind] = side.get(e.kind, ZERO) + abs(e.amount)
        if e.account_id in self._blp_accounts:
            self.blp(e.account_id).funding += e.amount

    def _funding_settled(self, e: ev.FundingSettled) -> None:
        f = self.funding
        f.times += 1
        f.residue += e.residue
        low, high, _ = f.rates.get(e.symbol, (e.rate, e.rate, e.rate))
        f.rates[e.symbol] = (min(low, e.rate), max(high, e.rate), e.rate)


_COUNTERS: dict[type[ev.Event], Callable[[Stats, Any], None]] = {
    ev.ProfileChanged: Stats._profile,
    ev.LiquidationStarted: Stats._started,
    ev.BookReduction: Stats._book_reduction,
    ev.LiquidationReturned: Stats._returned,
    ev.TakenOver: Stats._taken_over,
    ev.Assignment: Stats._assignment,
    ev.InsuranceKept: Stats._insurance_kept,
    ev.AutoDeleveraged: Stats._deleveraged,
    ev.SocializedLoss: Stats._socialized,
    ev.FundingPayment: Stats._funding_payment,
    ev.FundingSettled: Stats._funding_settled,
}
