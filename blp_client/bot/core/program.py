"""Two clocks the desk watches: the share of time its BLP was in the program (threshold
headroom > 0 on every hedged contract), and how long net exposure has stayed open.

Both are pure accumulators: the daemon feeds them readings with their times (wall time live,
engine time in a backtest) and reads the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from blp_client.vocabulary import ZERO


@dataclass
class ProgramClock:
    """Time-weighted share of observed time with headroom > 0 on every hedged contract.
    Each reading holds until the next one."""

    symbols: tuple[str, ...]
    first_ms: int | None = None
    last_ms: int | None = None
    in_ms: int = 0
    inside: bool = False
    out_since_ms: int | None = None

    def observe(self, now_ms: int, headroom: Mapping[str, Decimal]) -> None:
        if self.last_ms is not None and now_ms > self.last_ms and self.inside:
            self.in_ms += now_ms - self.last_ms
        if self.first_ms is None:
            self.first_ms = now_ms
        self.last_ms = max(now_ms, self.last_ms or now_ms)
        inside = all(headroom.get(s, ZERO) > 0 for s in self.symbols)
        if inside:
            self.out_since_ms = None
        elif self.inside or self.out_since_ms is None:
            self.out_since_ms = now_ms
        self.inside = inside

    @property
    def observed_ms(self) -> int:
        if self.first_ms is None or self.last_ms is None:
            return 0
        return self.last_ms - self.first_ms

    @property
    def fraction(self) -> float | None:
        """None before two readings."""
        total = self.observed_ms
        return None if total <= 0 else self.in_ms / total

    def as_json(self) -> dict[str, object]:
        return {
            "in_program": self.inside,
            "in_program_fraction": self.fraction,
            "observed_ms": self.observed_ms,
            "out_since_ms": self.out_since_ms,
        }


@dataclass
class ExposureAlarm:
    """Fires when |net exposure| notional of a contract stays above `band` longer than
    `after_ms`; clears as soon as it is back within the band."""

    band: Decimal
    after_ms: int
    above_since: dict[str, int] = field(default_factory=dict)
    firing: dict[str, int] = field(default_factory=dict)  # symbol -> since (ms)

    def observe(self, now_ms: int, exposure: Mapping[str, Decimal]) -> list[str]:
        """Feed |net| notional per contract; returns the contracts that just started firing."""
        started: list[str] = []
        for s, notional in sorted(exposure.items()):
            if notional <= self.band:
                self.above_since.pop(s, None)
                self.firing.pop(s, None)
                continue
            since = self.above_since.setdefault(s, now_ms)
            if now_ms - since > self.after_ms and s not in self.firing:
                self.firing[s] = since
                started.append(s)
        return started

    def age_ms(self, symbol: str, now_ms: int) -> int:
        since = self.above_since.get(symbol)
        return 0 if since is None else now_ms - since
