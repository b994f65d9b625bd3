"""What a backtest is asked (`BacktestOptions`) and what it answers (`BacktestResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from blp_client.bot.config import BotConfig
from blp_client.engine.market import BLPSpec

MAX_ACCOUNTS = 1_000_000
MAX_SECONDS = 7 * 86_400
MAX_LATENCY_MS = 60_000


class BacktestError(ValueError):
    """Options a backtest cannot run with; the message names the option."""


@dataclass(frozen=True)
class BacktestOptions:
    """One backtest. `None` overrides take the config's `[commitment]` section.

    Latencies are one way (ms of engine time): `stream_latency_ms` from the engine's event to
    the bot, `venue_latency_ms` from the bot to a venue (and back), `rest_latency_ms` for the
    BLP API (threshold changes). `order_spacing_ms` is the default ccxt throttle of an order
    lane (a venue's `rate_limit_ms` in the config wins)."""

    scenario: str = "crash"
    seed: int = 1
    accounts: int = 5000
    seconds: int = 3600
    drop: float = 0.20
    collateral: Decimal | None = None
    minute_rate: Decimal | None = None
    hour_rate: Decimal | None = None
    thresholds: Decimal | None = None  # per contract
    insurance_fund: Decimal | None = None  # None: the engine's default
    stream_latency_ms: int = 20
    venue_latency_ms: int = 10
    rest_latency_ms: int = 10
    order_spacing_ms: int = 200
    monitor_ms: int = 500
    venue_margin_ms: int = 500
    reconcile_ms: int = 2000
    venue_collateral: Decimal = Decimal(5_000_000)
    other_blps: int = 2  # how many of the scenario's default BLPs compete with ours
    csv_path: str | None = None
    sample_every_s: int = 10

    def __post_init__(self) -> None:
        ints = {
            "accounts": (self.accounts, 1, MAX_ACCOUNTS),
            "seconds": (self.seconds, 1, MAX_SECONDS),
            "stream_latency_ms": (self.stream_latency_ms, 0, MAX_LATENCY_MS),
            "venue_latency_ms": (self.venue_latency_ms, 0, MAX_LATENCY_MS),
            "rest_latency_ms": (self.rest_latency_ms, 0, MAX_LATENCY_MS),
            "order_spacing_ms": (self.order_spacing_ms, 0, MAX_LATENCY_MS),
            "monitor_ms": (self.monitor_ms, 1, MAX_LATENCY_MS),
            "venue_margin_ms": (self.venue_margin_ms, 1, MAX_LATENCY_MS),
            "reconcile_ms": (self.reconcile_ms, 1, MAX_LATENCY_MS),
            "other_blps": (self.other_blps, 0, 3),
            "sample_every_s": (self.sample_every_s, 1, MAX_SECONDS),
        }
        for name, (v, lo, hi) in ints.items():
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise BacktestError(f"BacktestOptions.{name} must be an integer in [{lo}, {hi}]")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise BacktestError("BacktestOptions.seed must be an integer >= 0")
        if not (isinstance(self.drop, float | int) and math.isfinite(self.drop)):
            raise BacktestError("BacktestOptions.drop must be a number between 0 and 1")
        if not 0 < self.drop < 1:
            raise BacktestError("BacktestOptions.drop must be between 0 and 1")
        money = {
            "collateral": (self.collateral, True),
            "minute_rate": (self.minute_rate, True),
            "hour_rate": (self.hour_rate, True),
            "thresholds": (self.thresholds, False),
            "insurance_fund": (self.insurance_fund, False),
            "venue_collateral": (self.venue_collateral, True),
        }
        for name, (d, positive) in money.items():
            if d is None:
                continue
            if not isinstance(d, Decimal) or not d.is_finite() or d > Decimal(10) ** 12:
                raise BacktestError(f"BacktestOptions.{name} must be a finite Decimal <= 1e12")
            if d < 0 or (positive and d == 0):
                raise BacktestError(
                    f"BacktestOptions.{name} must be {'> 0' if positive else '>= 0'}"
                )

    def commitment(self, config: BotConfig, name: str = "ours") -> BLPSpec:
        """Our BLP's registration: these overrides, else the config's `[commitment]`."""
        c = config.commitment
        return BLPSpec(
            name,
            c.collateral if self.collateral is None else self.collateral,
            c.minute_rate if self.minute_rate is None else self.minute_rate,
            c.hour_rate if self.hour_rate is None else self.hour_rate,
            c.threshold if self.thresholds is None else self.thresholds,
        )


@dataclass
class BacktestResult:
    """`report`: the JSON report (see README "Backtest"); `timeline`: one point per
    `sample_every_s` engine seconds (P&L, exposure, leverage, prices)."""

    report: dict[str, Any]
    timeline: list[dict[str, Any]] = field(default_factory=list)
