"""`blp plan` as a library call: plan → tasks → results (cached) → the plan's document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .backtest_runner import load_bot_config, runner_for
from .cache import ResultCache
from .config import PlanConfig
from .execute import Backend, Log, Progress, run_tasks
from .runner import TaskRunner
from .summary import summarize
from .tasks import build_tasks


def run_plan(
    plan: PlanConfig,
    cache_dir: Path,
    *,
    backend: Backend = "process",
    workers: int | None = None,
    ray_address: str | None = None,
    runner: TaskRunner | None = None,
    progress: Progress | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Run (or resume) the plan; its document (`summary.summarize`)."""
    if runner is None:
        bot = str(plan.bot_config) if plan.bot_config is not None else None
        runner = runner_for(bot)
        if bot is not None:
            load_bot_config(bot)  # a bad bot.toml fails here, once, not in every worker
    tasks = build_tasks(plan)
    results = run_tasks(
        tasks,
        runner,
        ResultCache(cache_dir),
        backend=backend,
        workers=workers,
        ray_address=ray_address,
        progress=progress,
        log=log,
    )
    return summarize(
        tasks, results, runner=runner.name, plan_seed=plan.seed, max_drawdown=plan.max_drawdown
    )


__all__ = ["run_plan"]
