"""A plan's tasks: every commitment × every market, each one backtest, seeded and hashed.

Seeds are spawned like `numpy.random.SeedSequence.spawn` (numpy is not a dependency): the
market at position `i` of the scenario grid gets the seed hashed from (plan seed, i). So a
task's seed depends on neither the backend, nor the chunking, nor the order tasks finish in;
and every commitment meets the same markets (common random numbers), so the differences
between commitments are theirs, not the dice's. A task's hash names its cached result.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from .config import MAX_TASKS, PlanConfig, PlanConfigError

SEED_BITS = 63


@dataclass(frozen=True)
class Commitment:
    """What our BLP commits to (and how the strategy is tuned): one row of the plan's table."""

    minute_rate: Decimal
    hour_rate: Decimal
    threshold: Decimal  # per contract
    collateral: Decimal
    strategy: tuple[tuple[str, Any], ...] = ()  # (param, value), sorted by param

    @property
    def label(self) -> str:
        text = (
            f"min {_short(self.minute_rate)} / hr {_short(self.hour_rate)} / thr "
            f"{_short(self.threshold)} / coll {_short(self.collateral)}"
        )
        return text + "".join(f" / {k}={v}" for k, v in self.strategy)


@dataclass(frozen=True)
class Market:
    """One scenario cell: a preset or shaped crash, an insurance fund and a seed."""

    scenario: str
    seed: int
    replicate: int
    drop: float
    speed: float
    gaps: int
    gap_size: float
    insurance_fund: Decimal


@dataclass(frozen=True)
class Task:
    index: int
    commitment_index: int
    market_index: int
    commitment: Commitment
    market: Market
    accounts: int
    seconds: int
    bot_config: str | None  # path of the bot.toml, for the backtest runner

    def spec(self) -> dict[str, Any]:
        """Everything the result depends on (not the task's position in the plan)."""
        return {
            "commitment": plain(asdict(self.commitment)),
            "market": plain(asdict(self.market)),
            "accounts": self.accounts,
            "seconds": self.seconds,
            "bot_config": self.bot_config,
        }

    def key(self, runner: str) -> str:
        """The cache key: a hash of the spec and of the runner (its name and version)."""
        text = json.dumps({"runner": runner, **self.spec()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def spawn_seed(plan_seed: int, index: int) -> int:
    """The `index`-th child seed of `plan_seed` (63 bits, stable across Python versions)."""
    digest = hashlib.sha256(f"blp-plan/{plan_seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


def commitments(plan: PlanConfig) -> list[Commitment]:
    g = plan.commitments
    params = sorted(g.strategy.items())
    names = [k for k, _ in params]
    return [
        Commitment(m, h, t, c, tuple(zip(names, values, strict=True)))
        for m, h, t, c in itertools.product(g.minute_rate, g.hour_rate, g.threshold, g.collateral)
        for values in itertools.product(*(v for _, v in params))
    ]


def markets(plan: PlanConfig) -> list[Market]:
    g = plan.scenarios
    cells: list[tuple[str, float, float, int, float]] = []
    for name in g.names:
        if name == "crash":
            cells += [
                (name, d, s, n, z)
                for d, s, n, z in itertools.product(g.drop, g.speed, g.gaps, g.gap_size)
            ]
        else:  # a preset or a walk has its own shape
            cells.append((name, 0.0, 0.0, 0, 0.0))
    out: list[Market] = []
    for (name, drop, speed, gaps, size), fund in itertools.product(cells, g.insurance_fund):
        for r in range(g.seeds):
            seed = spawn_seed(plan.seed, len(out))
            out.append(Market(name, seed, r, drop, speed, gaps, size, fund))
    return out


def build_tasks(plan: PlanConfig) -> list[Task]:
    """The plan's tasks in a fixed order: commitment-major, then market."""
    cs, ms = commitments(plan), markets(plan)
    if len(cs) * len(ms) > MAX_TASKS:
        raise PlanConfigError(
            f"the plan has {len(cs):,} commitments × {len(ms):,} markets ="
            f" {len(cs) * len(ms):,} tasks; at most {MAX_TASKS:,}: shrink a grid"
        )
    bot = str(plan.bot_config) if plan.bot_config is not None else None
    return [
        Task(i * len(ms) + j, i, j, c, m, plan.accounts, plan.seconds, bot)
        for i, c in enumerate(cs)
        for j, m in enumerate(ms)
    ]


def plain(data: Any) -> Any:
    """JSON-ready: decimals as plain strings, tuples as lists."""
    if isinstance(data, Decimal):
        return format(data.normalize(), "f")
    if isinstance(data, dict):
        return {k: plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain(v) for v in data]
    return data


def _short(v: Decimal) -> str:
    if v >= 1_000_000 and v % 100_000 == 0:
        return f"{v / 1_000_000:g}M"
    if v >= 1000 and v % 1000 == 0:
        return f"{v / 1000:g}k"
    return format(v.normalize(), "f")


__all__ = ["Commitment", "Market", "Task", "build_tasks", "commitments", "markets", "spawn_seed"]
