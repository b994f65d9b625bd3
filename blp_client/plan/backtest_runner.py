"""The backtest runner: each task is one `blp_client.backtest.run_backtest` of the plan's
bot.toml, with the task's commitment, market and strategy parameters as overrides. A plan
that names a bot config uses it; one without runs the engine runner (`runner.EngineRunner`).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from ..backtest import BacktestOptions, run_backtest
from ..bot.config import BotConfig, load_config
from .runner import EngineRunner, TaskResult, TaskRunner
from .tasks import Task

CENT = Decimal("0.01")
CRASH_DEFAULTS = (0.7, 3, 0.03)  # speed, gaps, gap_size: the backtest's crash takes these only


class BacktestRunner:
    name = "backtest/1"

    def __call__(self, task: Task) -> TaskResult:
        m, c = task.market, task.commitment
        if task.bot_config is None:
            raise ValueError("the backtest runner needs a bot config (-c bot.toml)")
        if m.scenario == "crash" and (m.speed, m.gaps, m.gap_size) != CRASH_DEFAULTS:
            raise ValueError(
                "the backtest's crash has a fixed shape: leave speed, gaps and gap_size at"
                " 0.7, 3, 0.03, or run without -c (the engine runner)"
            )
        config = load_bot_config(task.bot_config)
        if c.strategy:
            strategy = config.strategy
            params = {**strategy.params, **dict(c.strategy)}
            config = config.model_copy(
                update={"strategy": strategy.model_copy(update={"params": params})}
            )
        options = BacktestOptions(
            scenario=m.scenario,
            seed=m.seed,
            accounts=task.accounts,
            seconds=task.seconds,
            drop=m.drop if m.scenario == "crash" else 0.2,
            collateral=c.collateral,
            minute_rate=c.minute_rate,
            hour_rate=c.hour_rate,
            thresholds=c.threshold,
            insurance_fund=m.insurance_fund,
        )
        report: dict[str, Any] = run_backtest(config, options).report
        fraction = report["in_program_fraction"]
        return {
            "pnl": _money(report["pnl"]),
            "max_drawdown": _money(report["max_drawdown"]),
            "liquidated": bool(report["liquidated"]),
            "in_program_fraction": format(Decimal(str(fraction or 0)), ".4f"),
            "assignments": int(report["assignments"]["total"]),
            "assigned_notional": _money(report["assigned_notional"]),
            "discount_value": _money(report["discount_captured"]["total"]),
        }


@functools.lru_cache(maxsize=4)
def load_bot_config(path: str) -> BotConfig:
    """The bot config, read once per worker process."""
    return load_config(path)


def _money(value: Any) -> str:
    return format(Decimal(str(value)).quantize(CENT), "f")


def runner_for(bot_config: str | None) -> TaskRunner:
    """The backtest runner when the plan names a bot config, the engine runner otherwise."""
    return EngineRunner() if bot_config is None else BacktestRunner()


__all__ = ["BacktestRunner", "runner_for"]
