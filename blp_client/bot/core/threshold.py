"""The threshold controller: each contract's Max Position Notional Threshold set to what the
BLP's equity can carry below the lowering leverage, instead of a cliff to 0.

The program obliges the BLP to take flow up to its remaining minute and hour capacity, and the
threshold is its only brake. The worst case before the bot can react is that all of the
remaining capacity arrives at once, as toxic flow (filled up to `collar` off mark, which the
BLP's equity pays). The room the account has is the notional `x` it can add with

    N + x <= L · (E − collar · x)   →   x <= (L·E − N) / (1 + L·collar)

(N the position notional, E the equity, L `lower_threshold_leverage`). When the remaining
capacity fits in that room nothing needs to bind and each contract keeps its ceiling (the
threshold the desk registered); otherwise each contract gets its position notional plus a share
of the room (by ceiling). Pure: every input is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from blp_client.vocabulary import ZERO

ONE = Decimal(1)
TOXIC_COLLAR = Decimal("0.01")  # the program's collar: toxic flow at most 1% off mark


@dataclass(frozen=True, slots=True)
class Exposure:
    """The exchange account at one moment, as the controller needs it."""

    equity: Decimal
    position_notional: Mapping[str, Decimal]  # |position| · mark per contract
    capacity: Decimal | None = None  # min(minute left, hour left); None: unknown (worst case)

    @property
    def notional(self) -> Decimal:
        return sum(self.position_notional.values(), ZERO)


def room(exposure: Exposure, lower_leverage: Decimal, collar: Decimal = TOXIC_COLLAR) -> Decimal:
    """Notional the account can still take, as toxic flow, before reaching `lower_leverage`."""
    if exposure.equity <= 0:
        return ZERO
    free = lower_leverage * exposure.equity - exposure.notional
    return max(free / (ONE + lower_leverage * collar), ZERO)


def targets(
    exposure: Exposure,
    ceilings: Mapping[str, Decimal],
    lower_leverage: Decimal,
    collar: Decimal = TOXIC_COLLAR,
) -> dict[str, Decimal]:
    """The threshold each contract should have now (whole quote units, never above its
    ceiling, never below 0)."""
    r = room(exposure, lower_leverage, collar)
    if exposure.capacity is not None and exposure.capacity <= r:
        return {s: whole(c) for s, c in ceilings.items()}
    total = sum(ceilings.values(), ZERO)
    out: dict[str, Decimal] = {}
    for s, ceiling in ceilings.items():
        share = r * ceiling / total if total > 0 else ZERO
        held = exposure.position_notional.get(s, ZERO)
        out[s] = whole(min(ceiling, held + share))
    return out


def changes(
    current: Mapping[str, Decimal],
    wanted: Mapping[str, Decimal],
    ceilings: Mapping[str, Decimal],
    step: Decimal,
    *,
    may_raise: bool = True,
) -> dict[str, Decimal]:
    """The thresholds worth sending, so the controller does not send one PATCH per tick: a
    cut of at least `step` of the current value, a raise of at least `step` of the ceiling,
    any move to the ceiling or to zero; raises only when `may_raise` (a REDUCING/HALTED gate
    or stale venue data only lowers)."""
    out: dict[str, Decimal] = {}
    for s, target in sorted(wanted.items()):
        cur = current.get(s)
        if cur is None or cur == target:
            continue
        if target > cur and not may_raise:
            continue
        ceiling = ceilings.get(s, target)
        big = cur - target >= step * cur if target < cur else target - cur >= step * ceiling
        edge = target in (ZERO, ceiling)
        if big or edge:
            out[s] = target
    return out


def headroom(threshold: Decimal | None, position_notional: Decimal) -> Decimal:
    """Notional still assignable in a contract (0 when the threshold is unknown)."""
    if threshold is None:
        return ZERO
    return max(threshold - position_notional, ZERO)


def whole(value: Decimal) -> Decimal:
    return max(value, ZERO).quantize(ONE, rounding=ROUND_DOWN)
