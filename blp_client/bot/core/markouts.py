"""Markouts of the assigned flow: how the mark moved against each assignment's price after
1 s, 10 s and 60 s, in bps, weighted by notional.

A markout at horizon h of an assignment bought (s = +1) or sold (s = −1) at price p is
`s·(mark(t + h) − p) / p`, the mark being the first one seen at or after t + h. It includes the
discount: a favorable assignment starts positive, a toxic one negative; what follows is the
market moving (the reason to hedge fast). Pure: the daemon feeds marks with the exchange's own
timestamps (the assignment's `ts` is on that clock), the backtest with engine time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from blp_client.vocabulary import ZERO

HORIZONS_MS = (1_000, 10_000, 60_000)
BPS = Decimal(10_000)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class _Pending:
    ts: int
    side: int
    price: Decimal
    notional: Decimal


@dataclass
class MarkoutTracker:
    """Feed `add` each assignment and `observe` each mark; read `as_json()`."""

    horizons_ms: Sequence[int] = HORIZONS_MS
    _pending: dict[tuple[str, int], deque[_Pending]] = field(default_factory=dict)
    _weighted: dict[int, Decimal] = field(default_factory=dict)  # Σ notional·bps
    _notional: dict[int, Decimal] = field(default_factory=dict)
    _count: dict[int, int] = field(default_factory=dict)

    def add(self, symbol: str, ts: int, side: int, qty: Decimal, price: Decimal) -> None:
        if price <= 0 or qty == 0:
            return
        p = _Pending(ts, 1 if side > 0 else -1, price, abs(qty) * price)
        for h in self.horizons_ms:
            self._pending.setdefault((symbol, h), deque()).append(p)

    def observe(self, symbol: str, ts: int, mark: Decimal) -> None:
        """A mark of `symbol` at `ts`: closes every markout now due."""
        for h in self.horizons_ms:
            q = self._pending.get((symbol, h))
            while q and q[0].ts + h <= ts:
                p = q.popleft()
                bps = p.side * (mark - p.price) / p.price * BPS
                self._weighted[h] = self._weighted.get(h, ZERO) + p.notional * bps
                self._notional[h] = self._notional.get(h, ZERO) + p.notional
                self._count[h] = self._count.get(h, 0) + 1

    def bps(self, horizon_ms: int) -> Decimal | None:
        """The notional-weighted markout at `horizon_ms` (None before the first one is due)."""
        n = self._notional.get(horizon_ms, ZERO)
        if n == 0:
            return None
        return (self._weighted[horizon_ms] / n).quantize(CENT)

    def count(self, horizon_ms: int) -> int:
        return self._count.get(horizon_ms, 0)

    def as_json(self) -> dict[str, Decimal | None]:
        """{"1s": bps, "10s": bps, "60s": bps} (None: none due yet)."""
        return {label(h): self.bps(h) for h in self.horizons_ms}


def label(horizon_ms: int) -> str:
    return f"{horizon_ms // 1000}s" if horizon_ms % 1000 == 0 else f"{horizon_ms}ms"
