"""`make bench`: run every benchmark, write bench/results.json and the README's table.

Numbers come from this machine in this run; they are measured here and never asserted in tests.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _benches() -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    import asyncio

    from . import backtest, burst, engine, hedge, plan, soak, stream

    return [
        ("engine_tick", engine.tick_cost),
        ("engine_crash", engine.crash_wall_time),
        ("stream", lambda: asyncio.run(stream.run())),
        ("hedge", lambda: asyncio.run(hedge.run())),
        ("burst", lambda: asyncio.run(burst.run())),
        ("backtest", backtest.crash),
        ("backtest_vs_demo", backtest.versus_demo),
        ("plan", plan.run),
        ("soak", lambda: asyncio.run(soak.run())),
    ]


def table(results: dict[str, Any]) -> str:
    rows = ["| Benchmark | Result | Target |", "|---|---|---|"]
    t = results.get("engine_tick")
    if t:
        rows.append(
            f"| Mark-price tick, {t['accounts']:,} accounts, no one crosses | mean "
            f"{t['tick_ms_mean']} ms, p99 {t['tick_ms_p99']} ms | ≤ {t['target_ms']} ms |"
        )
    c = results.get("engine_crash")
    if c:
        rows.append(
            f"| One-hour {int(c['drop'] * 100)}% crash, {c['accounts']:,} accounts "
            f"({c['liquidations']:,} liquidations) | {c['wall_s']} s | ≤ {c['target_s']} s |"
        )
    for key in ("stream", "hedge", "burst", "backtest", "backtest_vs_demo", "plan", "soak"):
        for row in results.get(key, {}).get("rows", []):
            rows.append(f"| {row[0]} | {row[1]} | {row[2]} |")
    machine = results["machine"]
    rows.append("")
    rows.append(
        f"Measured {results['date']} on {machine} by `make bench`"
        " (raw numbers: `bench/results.json`)."
    )
    return "\n".join(rows)


def main() -> int:
    only = set(sys.argv[1:])
    results: dict[str, Any] = {}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    for name, fn in _benches():
        if only and name not in only:
            continue
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        gc.collect()  # the previous bench's engine (100k accounts) must not weigh on this one
        t0 = time.perf_counter()
        results[name] = fn()
        print(f"  {json.dumps(results[name])}  ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    results["date"] = time.strftime("%Y-%m-%d")
    results["machine"] = (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    text = README.read_text()
    if START in text and END in text:
        new = re.sub(
            re.escape(START) + ".*?" + re.escape(END),
            lambda _: f"{START}\n{table(results)}\n{END}",
            text,
            flags=re.S,
        )
        README.write_text(new)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
