"""The engine runner and the result cache: figures that follow from the rules, and a cache
that never serves a torn or foreign file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from blp_client.plan import parse_plan
from blp_client.plan.cache import ResultCache
from blp_client.plan.runner import RESULT_KEYS, EngineRunner
from blp_client.plan.tasks import build_tasks


def test_no_flow_means_no_pnl_and_full_time_in_program() -> None:
    # a calm market liquidates no one: our BLP is assigned nothing and its P&L stays 0
    plan = parse_plan({"accounts": 50, "seconds": 30, "scenarios": {"names": ["calm"], "seeds": 1}})
    (task,) = build_tasks(plan)
    result = EngineRunner()(task)
    assert result == {
        "pnl": "0.00",
        "max_drawdown": "0.00",
        "liquidated": False,
        "in_program_fraction": "1.0000",
        "assignments": 0,
        "assigned_notional": "0.00",
        "discount_value": "0.00",
    }


def test_crash_result_is_deterministic_and_consistent() -> None:
    plan = parse_plan(
        {"accounts": 300, "seconds": 200, "scenarios": {"names": ["march-2020"], "seeds": 1}}
    )
    (task,) = build_tasks(plan)
    first, second = EngineRunner()(task), EngineRunner()(task)
    assert first == second
    assert first["assignments"] > 0
    # the drawdown is at least the fall from the peak (≥ 0) to the final P&L
    assert Decimal(str(first["max_drawdown"])) >= -min(Decimal(0), Decimal(str(first["pnl"])))


def test_cache_ignores_torn_and_foreign_files(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    good = dict.fromkeys(RESULT_KEYS, "1")
    cache.put("a" * 32, good)
    assert cache.get("a" * 32) == good
    (tmp_path / ("b" * 32 + ".json")).write_text('{"pnl": "1"')  # torn
    (tmp_path / ("c" * 32 + ".json")).write_text('{"pnl": "1"}')  # keys missing
    assert cache.get("b" * 32) is None and cache.get("c" * 32) is None
    assert cache.get("d" * 32) is None
    assert not list(tmp_path.glob("*.tmp"))
