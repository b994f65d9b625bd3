"""Fault switches for the venue facade: what a bad venue or a bad network does to a client.

All off by default. Every random draw comes from one seeded `random.Random`, so a test that
turns a fault on with a seed sees the same faults on every run (for the same request sequence).

- `error_5xx_rate`: that share of requests is answered with a 5xx *before* anything is done
  (a gateway error: the body is not Binance JSON, so ccxt raises `ExchangeNotAvailable`).
- `burst_429_rate` / `burst_429_length`: each request starts, with that probability, a burst of
  that many consecutive requests answered 429 (`-1003`, `Retry-After`); `burst_status` 418 models
  an IP ban instead. `FaultInjector.start_burst(n)` starts one at once (tests, admin API).
- `latency_ms` (+ uniform `latency_jitter_ms`): added before every request is handled.
- `lost_response_rate`: that share of order placements and cancels is *executed*, and then the
  response is lost: `lost_mode="drop"` closes the connection without an answer (the client sees a
  disconnect at once), `"stall"` holds the answer for `stall_ms` (the client times out first).
- `partial_fill_rate` / `partial_fill_min` / `partial_fill_max`: that share of marketable
  orders (MARKET, and LIMIT with IOC/FOK) only fills a uniform fraction in [min, max] of its
  quantity (rounded down to the lot, at least one lot); the rest expires, as when the book is
  thinner than it looked.

And one switch of the engine's own stream (`StreamFault`, admin `PUT /admin/v1/faults/stream`),
for tests only: the next n assignment events carry a price shifted by some bps, a tampered wire
for the bot's price audit to catch. Only the protocol message is changed (as logged and sent,
so a replay or the REST history shows the same); the ledger books the real price.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal
from typing import Any, Literal

from .core.num import floor_to

LostMode = Literal["drop", "stall"]


@dataclass(frozen=True)
class FaultConfig:
    seed: int = 0
    error_5xx_rate: float = 0.0
    error_5xx_status: int = 503
    burst_429_rate: float = 0.0
    burst_429_length: int = 5
    burst_status: int = 429
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    lost_response_rate: float = 0.0
    lost_mode: LostMode = "drop"
    stall_ms: int = 30_000
    partial_fill_rate: float = 0.0
    partial_fill_min: float = 0.2
    partial_fill_max: float = 0.8

    def __post_init__(self) -> None:
        for name in ("error_5xx_rate", "burst_429_rate", "lost_response_rate", "partial_fill_rate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {v}")
        if not 500 <= self.error_5xx_status <= 599:
            raise ValueError("error_5xx_status must be a 5xx status")
        if self.burst_status not in (429, 418):
            raise ValueError("burst_status must be 429 or 418")
        if self.burst_429_length < 1:
            raise ValueError("burst_429_length must be >= 1")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0 or self.stall_ms < 0:
            raise ValueError("latency_ms, latency_jitter_ms and stall_ms must be >= 0")
        if self.lost_mode not in ("drop", "stall"):
            raise ValueError("lost_mode must be 'drop' or 'stall'")
        if not 0.0 < self.partial_fill_min <= self.partial_fill_max < 1.0:
            raise ValueError("need 0 < partial_fill_min <= partial_fill_max < 1")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: FaultConfig | None = None) -> FaultConfig:
        """Build from JSON: unknown keys are refused; keys not given keep `base`'s values."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(unknown)}")
        changes: dict[str, Any] = {}
        for key, value in data.items():
            default = getattr(cls(), key)
            if isinstance(default, bool) or value is None:
                raise ValueError(f"{key}: invalid value {value!r}")
            if isinstance(default, int) and not isinstance(default, bool):
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"{key} must be an integer")
            elif isinstance(default, float):
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValueError(f"{key} must be a number")
                value = float(value)
            elif isinstance(default, str) and not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            changes[key] = value
        return replace(base or cls(), **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    """The live state of the switches: config, seeded RNG and the current 429 burst."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self.rng = random.Random(self.config.seed)
        self.burst_left = 0
        self.counts: dict[str, int] = {}

    def configure(self, config: FaultConfig) -> None:
        """New switches; the RNG restarts from the new seed and any burst ends."""
        self.config = config
        self.rng = random.Random(config.seed)
        self.burst_left = 0

    def state(self) -> dict[str, Any]:
        """The switches plus the requests left in the current 429 burst."""
        return {**self.config.to_dict(), "burst_left": self.burst_left}

    def start_burst(self, length: int) -> None:
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ValueError("length must be an integer >= 0")
        self.burst_left = length

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def latency_s(self) -> float:
        c = self.config
        if not c.latency_ms and not c.latency_jitter_ms:
            return 0.0
        jitter = self.rng.uniform(0, c.latency_jitter_ms) if c.latency_jitter_ms else 0.0
        return (c.latency_ms + jitter) / 1000.0

    def rate_limited(self) -> int | None:
        """The status (429/418) to answer with, or None."""
        c = self.config
        if self.burst_left == 0 and c.burst_429_rate and self.rng.random() < c.burst_429_rate:
            self.burst_left = c.burst_429_length
        if self.burst_left > 0:
            self.burst_left -= 1
            self._count("rate_limited")
            return c.burst_status
        return None

    def server_error(self) -> int | None:
        c = self.config
        if c.error_5xx_rate and self.rng.random() < c.error_5xx_rate:
            self._count("server_error")
            return c.error_5xx_status
        return None

    def lose_response(self) -> bool:
        c = self.config
        if c.lost_response_rate and self.rng.random() < c.lost_response_rate:
            self._count("lost_response")
            return True
        return False

    def partial_fraction(self) -> float | None:
        """The share of a marketable order to fill, or None to fill it normally."""
        c = self.config
        if c.partial_fill_rate and self.rng.random() < c.partial_fill_rate:
            self._count("partial_fill")
            return self.rng.uniform(c.partial_fill_min, c.partial_fill_max)
        return None

    def partial_qty(self, qty: Decimal, lot: Decimal) -> Decimal | None:
        """The cut-down quantity of a marketable order, or None to send it whole.

        Draws on every marketable order (so the RNG sequence does not depend on sizes); the
        part is rounded down to the lot and is at least one lot.
        """
        frac = self.partial_fraction()
        if frac is None or qty <= lot:
            return None
        part = max(lot, floor_to(qty * Decimal(repr(frac)), lot))
        return part if part < qty else None


@dataclass
class StreamFault:
    """Test-only: shift the price of the next `left` assignment messages by `bps`."""

    bps: Decimal = Decimal(0)
    left: int = 0
    shifted: int = 0

    def shift(self, price: Decimal) -> Decimal | None:
        """The tampered price of the next assignment message, or None when off."""
        if self.left <= 0 or not self.bps:
            return None
        self.left -= 1
        self.shifted += 1
        return price * (1 + self.bps / 10_000)
