"""Pure order-book arithmetic for hedging decisions: lot/tick rounding, walking a book, and
splitting one order across venues by depth and fees.

Everything is `Decimal` and deterministic (ties break by the order venues are given in), so a
strategy that uses these helpers makes the same decision when an event is replayed after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from blp_client.vocabulary import ZERO as ZERO  # re-exported: the bot and strategies use it

ONE = Decimal(1)
BPS = Decimal(10_000)

Level = tuple[Decimal, Decimal]  # (price, qty), best first


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` not above `value`; step <= 0 means no rounding."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of `step` not below `value`; step <= 0 means no rounding."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def round_to_lot(qty: Decimal, lot: Decimal) -> Decimal:
    """Signed quantity rounded toward zero to whole lots: never trade more than was asked."""
    magnitude = floor_to_step(abs(qty), lot)
    return magnitude if qty >= 0 else -magnitude


def sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def is_tradable(
    qty: Decimal, price: Decimal | None, lot: Decimal, min_qty: Decimal, min_notional: Decimal
) -> bool:
    """Whether |qty| is whole lots and meets the venue's minimum size and notional."""
    size = abs(qty)
    if size <= 0 or floor_to_step(size, lot) != size or size < min_qty:
        return False
    return min_notional <= 0 or (price is not None and size * price >= min_notional)


@dataclass(frozen=True, slots=True)
class Walk:
    """The result of taking `filled` from a book side: total notional and the worst price hit."""

    filled: Decimal
    notional: Decimal
    worst: Decimal | None

    @property
    def vwap(self) -> Decimal | None:
        return self.notional / self.filled if self.filled > 0 else None


def walk(levels: Sequence[Level], qty: Decimal) -> Walk:
    """Consume up to `qty` from `levels` (best first); may fill less when the book is thin."""
    left, notional, worst = qty, ZERO, None
    for price, size in levels:
        if left <= 0:
            break
        take = min(left, size)
        if take <= 0:
            continue
        notional += take * price
        left -= take
        worst = price
    return Walk(qty - left, notional, worst)


def vwap(levels: Sequence[Level], qty: Decimal) -> Decimal | None:
    """Average price to fill all of `qty` on this book side, or None when it is too thin."""
    result = walk(levels, qty)
    return result.vwap if result.filled == qty and qty > 0 else None


def capped_limit(ref: Decimal, side: int, cap_bps: Decimal, tick: Decimal) -> Decimal:
    """A marketable limit price `cap_bps` through `ref` (buy: above, sell: below), rounded to the
    tick towards `ref` so the cap is never exceeded, and never less aggressive than `ref`."""
    raw = ref * (ONE + side * cap_bps / BPS)
    if side > 0:
        return max(floor_to_step(raw, tick), ceil_to_step(ref, tick))
    return min(ceil_to_step(raw, tick), floor_to_step(ref, tick))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One venue's side of the book for an allocation: the levels an order of that side would take
    (asks for a buy, bids for a sell), its taker fee and its size rules."""

    venue: str
    levels: tuple[Level, ...]
    taker_fee: Decimal = ZERO
    lot: Decimal = ZERO
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    ref_price: Decimal | None = None  # used when the book is empty (e.g. mark)

    def effective(self, price: Decimal, side: int) -> Decimal:
        """Price including the taker fee: what a buy really pays, or a sell really gets."""
        return price * (ONE + side * self.taker_fee)

    def top(self) -> Decimal | None:
        return self.levels[0][0] if self.levels else self.ref_price


@dataclass(frozen=True, slots=True)
class Allocation:
    """Unsigned quantities per venue (whole lots, each above the venue's minimums) and what could
    not be placed yet; the residual stays in the position and is hedged once it is tradable."""

    qty: dict[str, Decimal] = field(default_factory=dict)
    residual: Decimal = ZERO


def _rank(candidates: Sequence[Candidate], side: int) -> list[Candidate]:
    priced = [c for c in candidates if c.top() is not None]
    order = {c.venue: i for i, c in enumerate(candidates)}

    def key(c: Candidate) -> tuple[Decimal, int]:
        top = c.top()
        assert top is not None
        return (side * c.effective(top, side), order[c.venue])

    return sorted(priced, key=key)


def _fits(c: Candidate, qty: Decimal) -> bool:
    return is_tradable(qty, c.top(), c.lot, c.min_qty, c.min_notional)


def allocate(qty: Decimal, side: int, candidates: Sequence[Candidate]) -> Allocation:
    """Split `qty` (> 0) of a `side` (+1 buy, −1 sell) order across venues, cheapest first.

    All venues' levels are merged and taken in order of fee-adjusted price, so a deep venue with a
    slightly worse touch still gets the size the shallow one cannot take. What exceeds the visible
    depth goes to the best-ranked venue (a capped marketable limit may still fill it). Each venue's
    share is then rounded down to its lot; shares below a venue's minimum are moved to the best
    venue that can take them; whatever is left is the residual.
    """
    if qty <= 0:
        return Allocation({}, max(qty, ZERO))
    ranked = _rank(candidates, side)
    if not ranked:
        return Allocation({}, qty)
    merged = sorted(
        (
            (side * c.effective(price, side), i, price, size, c.venue)
            for i, c in enumerate(ranked)
            for price, size in c.levels
        ),
        key=lambda t: (t[0], t[1]),
    )
    raw: dict[str, Decimal] = {c.venue: ZERO for c in ranked}
    left = qty
    for _eff, _i, _price, size, venue in merged:
        if left <= 0:
            break
        take = min(left, size)
        raw[venue] += take
        left -= take
    raw[ranked[0].venue] += left  # beyond visible depth
    shares: dict[str, Decimal] = {}
    leftover = ZERO
    for c in ranked:
        share = floor_to_step(raw[c.venue], c.lot)
        leftover += raw[c.venue] - share
        if share > 0 and _fits(c, share):
            shares[c.venue] = share
        else:
            leftover += share
    # give the rounding / sub-minimum remainder to the best venue that can take it
    for c in ranked:
        extra = floor_to_step(leftover, c.lot)
        if extra <= 0:
            continue
        total = shares.get(c.venue, ZERO) + extra
        if _fits(c, total):
            shares[c.venue] = total
            leftover -= extra
    return Allocation({v: q for v, q in shares.items() if q > 0}, leftover)
