"""Exact-number helpers: every amount in the engine core is a `Decimal`.

Prices, quantities and money only ever get added and multiplied exactly; where a division is
unavoidable (entry prices, zero prices, pro-rata shares) the result is quantised here, once, and
the ledger stays exact because it books the quantised number on both sides.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from ...vocabulary import ZERO as ZERO  # the one Decimal zero (re-exported for the core)

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


def _power_of_ten(step: Decimal) -> Decimal | None:
    """The canonical quantum (1E-k) when `step` is 1 or a negative power of ten, else None."""
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    exponent = step.adjusted()
    quantum = Decimal((0, (1,), exponent))
    return quantum if exponent <= 0 and quantum == step else None


_QUANTA: dict[Decimal, Decimal | None] = {}  # step -> quantum; steps are ticks, lots, cents


def _quantum(step: Decimal) -> Decimal | None:
    try:
        return _QUANTA[step]
    except KeyError:
        q = _QUANTA[step] = _power_of_ten(step)
        return q


def floor_to(x: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` that is <= x. A power-of-ten step (every default tick and
    lot) is one `quantize`, about four times cheaper than divide-round-multiply."""
    q = _quantum(step)
    if q is not None:
        return x.quantize(q, ROUND_FLOOR)
    return (x / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(x: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of `step` that is >= x."""
    q = _quantum(step)
    if q is not None:
        return x.quantize(q, ROUND_CEILING)
    return (x / step).to_integral_value(rounding=ROUND_CEILING) * step


def round_to(x: Decimal, step: Decimal) -> Decimal:
    """Nearest multiple of `step` (banker's rounding on ties)."""
    q = _quantum(step)
    if q is not None:
        return x.quantize(q, ROUND_HALF_EVEN)
    return (x / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step


def money(x: Decimal) -> Decimal:
    """Quantise a money amount to 1e-8, rounding half-even."""
    return x.quantize(MONEY_STEP, ROUND_HALF_EVEN)


def price_q(x: Decimal) -> Decimal:
    return x.quantize(PRICE_STEP, ROUND_HALF_EVEN)


def sign(x: Decimal) -> int:
    return (x > ZERO) - (x < ZERO)
