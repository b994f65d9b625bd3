"""The funding-aware part the keeping strategies share (`internalize`, `band_hedge`): hedge the
kept inventory of a contract once the funding it is expected to pay over a horizon exceeds a
limit.

Expected cost (quote currency, > 0 paid) = Σ over the venues holding a position of
`position × mark × rate × funding times in (now, now + horizon]`, with each venue's expected
rate (`FundingRate.expected`: its prediction, else the last rate) and the times counted from
its `next_ms` and interval (one when the interval is unknown). A leg whose venue gives no rate
counts nothing; with no rate at all the guard stays quiet (None).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from blp_client.bot.books import ZERO
from blp_client.bot.strategy import FundingRate, StrategyParams, View

EIGHT_HOURS_MS = 8 * 3_600_000


class FundingGuardParams(StrategyParams):
    horizon_ms: int = Field(default=EIGHT_HOURS_MS, gt=0, le=30 * 86_400_000)
    """How far ahead to count funding times."""
    max_cost: Decimal = Field(default=Decimal(0), ge=0)
    """Hedge the kept inventory when its expected funding cost over the horizon exceeds this
    (quote currency)."""


def funding_times(rate: FundingRate, now_ms: int, horizon_ms: int) -> int:
    """How many funding times fall in (now, now + horizon]."""
    if rate.next_ms is None:
        return 1  # the venue gives a rate but not when: count the next one
    end = now_ms + horizon_ms
    if rate.next_ms > end:
        return 0
    if rate.next_ms <= now_ms:
        return 1  # due now, not yet settled
    if not rate.interval_ms:
        return 1
    return 1 + (end - rate.next_ms) // rate.interval_ms


def expected_cost(view: View, symbol: str, horizon_ms: int) -> Decimal | None:
    """The kept inventory's expected funding cost over the horizon (None: no rate known)."""
    mark = view.mark(symbol)
    if mark is None:
        return None
    cost: Decimal | None = None
    for (s, venue), holding in view.inventory.holdings.items():
        if s != symbol or holding.position == 0:
            continue
        rate = view.funding(symbol, venue)
        expected = rate.expected if rate is not None else None
        if rate is None or expected is None:
            continue
        times = funding_times(rate, view.now_ms, horizon_ms)
        cost = (cost or ZERO) + holding.position * mark * expected * times
    return cost


def should_hedge(view: View, symbol: str, guard: FundingGuardParams | None) -> bool:
    """Whether the guard asks to hedge the contract's kept inventory now."""
    if guard is None or view.inventory.net(symbol) == 0:
        return False
    cost = expected_cost(view, symbol, guard.horizon_ms)
    return cost is not None and cost > guard.max_cost
