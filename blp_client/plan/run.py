"""`blp plan` as a library call: plan → tasks → results (cached) → the plan's document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cache import ResultCache
from .config import PlanConfig
from .execute import Backend, Log, Progress, run_tasks
from .runner import TaskRunner, default_runner
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
    runner = runner or default_runner()
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
