"""Exact-number helpers: every amount in the engine core is a `Decimal`.

Prices, quantities and money only ever get added and multiplied exactly; where a division is
unavoidable (entry prices, zero prices, pro-rata shares) the result is quantised here, once, and
the ledger stays exact because it books the quantised number on both sides.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
MONEY_STEP = Decimal("0.00000001")  # 1e-8 USDT: fees, transfers, clawbacks
PRICE_STEP = Decimal("0.00000001")  # internal precision of derived prices (zero prices)
BPS = Decimal("0.0001")


def dec(value: object) -> Decimal:
    """Parse a number given as str/int/Decimal; floats are refused (they are not exact)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (bool, float)):
        raise TypeError(f"refusing inexact number {value!r}: pass a str, int or Decimal")
    if isinstance(value, int | str):
        return Decimal(value)
    raise TypeError(f"not a number: {value!r}")


def floor_to(x: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` that is <= x."""
    return (x / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(x: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of `step` that is >= x."""
    return (x / step).to_integral_value(rounding=ROUND_CEILING) * step


def round_to(x: Decimal, step: Decimal) -> Decimal:
    """Nearest multiple of `step` (banker's rounding on ties)."""
    return (x / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step


def money(x: Decimal) -> Decimal:
    """Quantise a money amount to 1e-8, rounding half-even."""
    return x.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN)


def price_q(x: Decimal) -> Decimal:
    return x.quantize(PRICE_STEP, rounding=ROUND_HALF_EVEN)


def sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)
