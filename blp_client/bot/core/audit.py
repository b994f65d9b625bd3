"""The price audit: does an assignment's price follow the program's rule, from its own fields?

Assignments are facts already booked on the BLP's account, so a wrong price is not refused,
it is an alarm. The rule (DOMAIN.md, "Price"), with s the side the BLP takes (+1 buy):
- favorable (zero price at least as good as mark for the BLP): `⅔·ZP + ⅓·MP`;
- toxic: ZP, collared at `collar` off mark (`MP·(1 + s·collar)` at worst);
rounded to the tick in the BLP's favour (down when it buys, up when it sells). The ⅔ is kept
exact (a `Fraction`), so there is no rounding noise to tolerate: the check is equality. This is
written from the rule, not from the engine's code, so it can catch the engine too. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from blp_client.models import Assignment

ZP_WEIGHT = Fraction(2, 3)
TOXIC_COLLAR = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class PriceCheck:
    """One assignment's verdict: `ok`, else `reason` says what is wrong."""

    assignment_id: str
    seq: int
    symbol: str
    kind: str
    price: Decimal
    expected: Decimal
    ok: bool
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "assignment_id": self.assignment_id,
            "seq": self.seq,
            "symbol": self.symbol,
            "kind": self.kind,
            "price": str(self.price),
            "expected": str(self.expected),
            "reason": self.reason,
        }


def _round(value: Fraction, tick: Decimal, side: int) -> Decimal:
    """`value` to a multiple of `tick`, down for a buyer, up for a seller."""
    steps = value / Fraction(tick)
    n = steps.numerator // steps.denominator  # floor
    if side < 0 and n != steps:
        n += 1  # ceil
    return tick * n


def expected_price(
    side: int,
    favorable: bool,
    zero_price: Decimal,
    mark: Decimal,
    tick: Decimal,
    *,
    weight: Fraction = ZP_WEIGHT,
    collar: Decimal = TOXIC_COLLAR,
) -> Decimal:
    """The program's price for a BLP taking side `side` (+1 buy, −1 sell)."""
    zp, mp = Fraction(zero_price), Fraction(mark)
    if favorable:
        raw = weight * zp + (1 - weight) * mp
    elif side > 0:
        raw = min(zp, mp * (1 + Fraction(collar)))
    else:
        raw = max(zp, mp * (1 - Fraction(collar)))
    return _round(raw, tick, side)


def audit(
    a: Assignment,
    tick: Decimal,
    *,
    weight: Fraction = ZP_WEIGHT,
    collar: Decimal = TOXIC_COLLAR,
) -> PriceCheck:
    """Check `a` against the rule with the contract's `tick` (> 0)."""
    if tick <= 0:
        raise ValueError("tick must be > 0")
    side = 1 if a.side == "buy" else -1
    favorable = a.kind == "favorable"
    want = expected_price(
        side, favorable, a.zero_price, a.mark_price, tick, weight=weight, collar=collar
    )
    reason = ""
    # favorable means the zero price is no worse than mark for the BLP
    zp_better = (a.mark_price - a.zero_price) * side >= 0
    if favorable != zp_better:
        reason = (
            f"kind {a.kind} but the zero price is {'better' if zp_better else 'worse'} than mark"
        )
    elif a.price != want:
        reason = f"price {a.price} is not the program's {want}"
    return PriceCheck(a.id, a.seq, a.symbol, a.kind, a.price, want, not reason, reason)


@dataclass
class PriceAudit:
    """Running totals of the audit and the last mismatches, for the status and metrics."""

    keep: int = 20
    checked: int = 0
    mismatches: int = 0
    unchecked: int = 0  # no tick known for the contract yet
    recent: list[PriceCheck] | None = None

    def check(self, a: Assignment, tick: Decimal | None) -> PriceCheck | None:
        """Audit `a` (None when the contract's tick is unknown: counted as unchecked)."""
        if tick is None or tick <= 0:
            self.unchecked += 1
            return None
        result = audit(a, tick)
        self.checked += 1
        if not result.ok:
            self.mismatches += 1
            self.recent = [*(self.recent or []), result][-self.keep :]
        return result

    def as_json(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "mismatches": self.mismatches,
            "unchecked": self.unchecked,
            "recent_mismatches": [c.as_json() for c in self.recent or []],
        }
