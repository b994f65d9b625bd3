"""Run a plan's tasks: cached results first, the rest on a process pool or a Ray cluster.

Each finished task is written to the cache as it arrives (in this process, never by a
worker), so killing the plan loses only the tasks still running. Results are returned in
task order, whatever order they finished in: the backend cannot change the table.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Literal

from .cache import ResultCache
from .runner import TaskResult, TaskRunner
from .tasks import Task

Backend = Literal["process", "ray"]
BACKENDS: tuple[Backend, ...] = ("process", "ray")
Progress = Callable[[int, int], None]  # (tasks done, tasks total)
Log = Callable[[str], None]


class PlanRunError(RuntimeError):
    """The plan could not run (a task failed, or the backend is missing); one line."""


def run_tasks(
    tasks: Sequence[Task],
    runner: TaskRunner,
    cache: ResultCache,
    *,
    backend: Backend = "process",
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Progress | None = None,
    log: Log | None = None,
) -> list[TaskResult]:
    """Every task's result, in task order; runs only the tasks the cache does not hold."""
    results: dict[int, TaskResult] = {}
    pending: list[Task] = []
    for task in tasks:
        cached = cache.get(task.key(runner.name))
        if cached is None:
            pending.append(task)
        else:
            results[task.index] = cached
    where = "in this process" if _inline(backend, workers) else f"on the {backend} backend"
    if log is not None:
        log(f"{len(tasks)} tasks: {len(results)} cached, {len(pending)} to run {where}")

    def finished(task: Task, result: TaskResult) -> None:
        cache.put(task.key(runner.name), result)
        results[task.index] = result
        if progress is not None:
            progress(len(results), len(tasks))

    if progress is not None:
        progress(len(results), len(tasks))
    if pending:
        if _inline(backend, workers):
            for task in pending:
                finished(task, _call(runner, task))
        elif backend == "process":
            _run_pool(pending, runner, workers or os.cpu_count() or 1, finished)
        else:
            _run_ray(pending, runner, workers, ray_address, finished)
    return [results[t.index] for t in tasks]


def _inline(backend: Backend, workers: int | None) -> bool:
    return backend == "process" and workers == 1


def _call(runner: TaskRunner, task: Task) -> TaskResult:
    try:
        return runner(task)
    except Exception as e:  # a worker's failure, named by its task
        raise PlanRunError(f"task {task.index} ({task.market.scenario}): {e}") from e


def _run_pool(
    pending: Sequence[Task],
    runner: TaskRunner,
    workers: int,
    finished: Callable[[Task, TaskResult], None],
) -> None:
    # spawn, not fork: a worker starts clean (no copied locks or threads), as on a cluster
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=ctx) as pool:
        futures: dict[Future[TaskResult], Task] = {
            pool.submit(_call, runner, t): t for t in pending
        }
        try:
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=lambda f: futures[f].index):
                    finished(futures.pop(f), f.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _run_ray(
    pending: Sequence[Task],
    runner: TaskRunner,
    workers: int | None,
    address: str | None,
    finished: Callable[[Task, TaskResult], None],
) -> None:
    try:
        import ray
    except ImportError:
        raise PlanRunError(
            "--backend ray needs Ray: pip install 'blp-client[ray]' (or use --backend process)"
        ) from None
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None and workers is not None:
            options["num_cpus"] = workers
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise PlanRunError(f"cannot reach the Ray cluster at {address}: {e}") from e
    try:
        remote = ray.remote(_call)
        refs = {remote.remote(runner, t): t for t in pending}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                task = refs.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    raise PlanRunError(f"task {task.index}: {e.cause or e}") from e
                finished(task, result)
    finally:
        if started:
            ray.shutdown()


__all__ = ["BACKENDS", "Backend", "PlanRunError", "run_tasks"]
