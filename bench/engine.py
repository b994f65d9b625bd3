"""Engine benchmarks: the cost of a mark-price tick that liquidates no one, and the wall time of
a one-hour 20% crash, both at 100k accounts (issue 2's targets: ≤ 2 ms and ≤ 30 s)."""

from __future__ import annotations

import random
import statistics
import time
from decimal import Decimal
from typing import Any

from blp_client.engine import simulate as sim
from blp_client.engine.core import Exchange, ExchangeConfig
from blp_client.engine.market import build_scenario, to_tick


def tick_cost(accounts: int = 100_000, ticks: int = 2000, seed: int = 7) -> dict[str, Any]:
    """Index moves of a few bps around the start: far from every liquidation price, so each
    tick must cost O(log n) or less, not a loop over the accounts."""
    x = Exchange(ExchangeConfig())
    build_scenario("calm", x, seed=seed, accounts=accounts, blps=(), seconds=1)
    x.drain_events()
    rng = random.Random(seed)
    base = {s: float(x.index[s]) for s in x.index}
    liquidations_before = x.stats.liquidations
    samples: list[float] = []
    now = x.now_ms
    for _ in range(ticks):
        now += 100
        t0 = time.perf_counter()
        for symbol, p in base.items():
            x.set_index(symbol, to_tick(p * (1 + rng.uniform(-5e-4, 5e-4)), x.instruments[symbol]))
        x.advance(now)
        samples.append((time.perf_counter() - t0) * 1000)
        x.events.clear()
    assert x.stats.liquidations == liquidations_before, "a bench tick liquidated someone"
    samples.sort()
    return {
        "accounts": accounts,
        "ticks": ticks,
        "tick_ms_mean": round(statistics.fmean(samples), 4),
        "tick_ms_p50": round(samples[len(samples) // 2], 4),
        "tick_ms_p99": round(samples[int(len(samples) * 0.99)], 4),
        "target_ms": 2.0,
    }


def crash_wall_time(accounts: int = 100_000, seed: int = 1) -> dict[str, Any]:
    cfg = sim.SimulationConfig(scenario="crash", accounts=accounts, seed=seed)
    t0 = time.perf_counter()
    result = sim.run(cfg)
    wall = time.perf_counter() - t0
    r = result.report
    return {
        "accounts": accounts,
        "engine_seconds": cfg.seconds,
        "drop": cfg.drop,
        "wall_s": round(wall, 2),
        "target_s": 30.0,
        "liquidations": r["liquidations"],
        "takeovers": r["takeovers"],
        "adl_notional": str(Decimal(r["adl_notional"]).quantize(Decimal("0.01"))),
    }
