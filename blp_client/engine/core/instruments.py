"""Linear USDT perpetual contracts: tick, lot and tiered risk limits.

Tiered margin (DOMAIN.md): for position notional N in tier k, `MM = N·MMR_k − cum_k` with
`cum_k = cum_{k−1} + floor_k·(MMR_k − MMR_{k−1})`, which makes MM continuous across tiers.
IM likewise with IMR.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal

from .num import ZERO, dec


@dataclass(frozen=True, slots=True)
class RiskTier:
    floor: Decimal  # position notional where this tier starts
    imr: Decimal
    mmr: Decimal
    cum_im: Decimal  # deduction that keeps IM continuous
    cum_mm: Decimal  # deduction that keeps MM continuous


def build_tiers(rows: list[tuple[str, str, str]]) -> tuple[RiskTier, ...]:
    """Build tiers from (floor, imr, mmr) rows, deriving the continuity deductions."""
    tiers: list[RiskTier] = []
    cum_im = cum_mm = ZERO
    prev_imr = prev_mmr = ZERO
    for i, (floor_s, imr_s, mmr_s) in enumerate(rows):
        floor, imr, mmr = dec(floor_s), dec(imr_s), dec(mmr_s)
        if i == 0 and floor != 0:
            raise ValueError("the first risk tier must start at notional 0")
        if tiers and floor <= tiers[-1].floor:
            raise ValueError("risk tier floors must increase")
        if tiers and (imr < prev_imr or mmr < prev_mmr):
            raise ValueError("risk tier rates must not decrease")
        if not (ZERO < mmr < imr <= 1):
            raise ValueError(f"tier at {floor}: need 0 < mmr < imr <= 1")
        if i > 0:
            cum_im += floor * (imr - prev_imr)
            cum_mm += floor * (mmr - prev_mmr)
        tiers.append(RiskTier(floor, imr, mmr, cum_im, cum_mm))
        prev_imr, prev_mmr = imr, mmr
    return tuple(tiers)


# AscendEX BTC-PERP (DOMAIN.md): notional floor → IMR / MMR.
ASCENDEX_BTC_TIERS = build_tiers(
    [
        ("0", "0.01", "0.006"),
        ("50000", "0.02", "0.012"),
        ("200000", "0.04", "0.024"),
        ("2000000", "0.10", "0.06"),
        ("20000000", "0.20", "0.12"),
        ("40000000", "0.333", "0.20"),
    ]
)

# ETH-PERP: the same rates on floors a fifth as large (DOMAIN.md gives BTC only; ETH books are
# thinner, and exchanges publish proportionally tighter tiers for it).
ETH_TIERS = build_tiers(
    [
        ("0", "0.01", "0.006"),
        ("10000", "0.02", "0.012"),
        ("40000", "0.04", "0.024"),
        ("400000", "0.10", "0.06"),
        ("4000000", "0.20", "0.12"),
        ("8000000", "0.333", "0.20"),
    ]
)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A linear perpetual margined and settled in USDT."""

    symbol: str
    base: str
    tick: Decimal
    lot: Decimal
    min_notional: Decimal
    tiers: tuple[RiskTier, ...]
    floors: tuple[Decimal, ...] = field(init=False, repr=False, compare=False)  # for bisect

    def __post_init__(self) -> None:
        object.__setattr__(self, "floors", tuple(t.floor for t in self.tiers))

    def tier(self, notional: Decimal) -> RiskTier:
        """The tier a notional (>= 0) falls in; `margin.snapshot` inlines this expression."""
        return self.tiers[bisect_right(self.floors, notional) - 1]

    def maintenance_margin(self, notional: Decimal) -> Decimal:
        t = self.tier(notional)
        return notional * t.mmr - t.cum_mm

    def initial_margin(self, notional: Decimal) -> Decimal:
        t = self.tier(notional)
        return notional * t.imr - t.cum_im

    def is_lot_multiple(self, qty: Decimal) -> bool:
        return qty % self.lot == 0

    def is_tick_multiple(self, price: Decimal) -> bool:
        return price % self.tick == 0


def default_instruments() -> dict[str, Instrument]:
    return {
        "BTC-PERP": Instrument(
            "BTC-PERP", "BTC", dec("0.1"), dec("0.001"), dec("5"), ASCENDEX_BTC_TIERS
        ),
        "ETH-PERP": Instrument("ETH-PERP", "ETH", dec("0.01"), dec("0.01"), dec("5"), ETH_TIERS),
    }
