"""The plan benchmark: a 100-task `blp plan` (4 commitments × 25 markets, 500 accounts and 600
engine seconds each) on the process pool with every core, against the same tasks in one
process (issue 14's target: ≤ 3 min on 2 cores). Fresh caches, so every task runs."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from blp_client.engine.simulate import to_json
from blp_client.plan import parse_plan, run_plan

PLAN = {
    "seed": 1,
    "accounts": 500,
    "seconds": 600,
    "commitments": {"minute_rate": ["150000", "400000"], "collateral": ["100000", "1000000"]},
    "scenarios": {"names": ["crash", "walk", "march-2020", "may-2021", "oct-2025"], "seeds": 5},
}


def run(target_s: float = 180.0) -> dict[str, Any]:
    plan = parse_plan(PLAN)
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]  # a shared machine's other work slows both runs
    with tempfile.TemporaryDirectory(prefix="blp-plan-bench-") as tmp:
        t0 = time.perf_counter()
        pooled = run_plan(plan, Path(tmp) / "pool", workers=cores)
        pool_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        single = run_plan(plan, Path(tmp) / "one", workers=1)
        one_s = time.perf_counter() - t0
    assert to_json(pooled) == to_json(single), "the pool and one process disagree"
    tasks = pooled["tasks"]
    return {
        "tasks": tasks,
        "accounts": plan.accounts,
        "engine_seconds": plan.seconds,
        "workers": cores,
        "pool_wall_s": round(pool_s, 2),
        "one_process_wall_s": round(one_s, 2),
        "speedup": round(one_s / pool_s, 2),
        "load_avg_1m_before": round(load_before, 2),
        "target_s": target_s,
        "rows": [
            [
                f"`blp plan`: {tasks} tasks ({plan.accounts} accounts, {plan.seconds} engine s"
                f" each), process pool of {cores}",
                f"{pool_s:.1f} s ({one_s / pool_s:.2f}× one process: {one_s:.1f} s;"
                f" load average {load_before:.1f} before)",
                f"≤ {target_s:.0f} s",
            ]
        ],
    }
