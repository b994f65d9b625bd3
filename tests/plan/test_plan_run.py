"""`blp plan` end to end: the same table from the process pool, one process and a local Ray
instance; a SIGKILLed plan resumes without redoing finished tasks; the report's frontier."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blp_client.cli import main
from blp_client.engine.simulate import to_json
from blp_client.plan import parse_plan, run_plan

ROOT = Path(__file__).resolve().parents[2]
GRID = {  # 2 × 2 commitments, 3 seeds of one crash: 12 small backtests
    "accounts": 200,
    "seconds": 120,
    "seed": 5,
    "commitments": {"minute_rate": ["150000", "400000"], "collateral": ["50000", "1000000"]},
    "scenarios": {"names": ["march-2020"], "seeds": 3},
}


def test_process_pool_and_one_process_give_the_same_document(tmp_path: Path) -> None:
    plan = parse_plan(GRID)
    lines: list[str] = []
    pooled = run_plan(plan, tmp_path / "pool", workers=2, log=lines.append)
    single = run_plan(plan, tmp_path / "one", workers=1)
    assert to_json(pooled) == to_json(single)
    assert lines == ["12 tasks: 0 cached, 12 to run on the process backend"]
    assert len(pooled["commitments"]) == 4 and pooled["tasks"] == 12
    assert len(list((tmp_path / "pool").glob("*.json"))) == 12
    # a rerun reads every result from the cache
    again: list[str] = []
    assert to_json(run_plan(plan, tmp_path / "pool", log=again.append)) == to_json(pooled)
    assert again == ["12 tasks: 12 cached, 0 to run on the process backend"]


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")
def test_ray_on_a_local_instance_gives_the_same_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(
        "accounts = 200\nseconds = 120\nseed = 5\n"
        f"bot_config = {str(ROOT / 'examples' / 'bot.toml')!r}\n"  # every task a backtest
        '[commitments]\nminute_rate = ["150000", "400000"]\ncollateral = ["50000", "1000000"]\n'
        '[scenarios]\nnames = ["march-2020"]\nseeds = 3\n'
    )
    argv = ["plan", "-p", str(plan_file), "--json"]
    assert main([*argv, "--out", str(tmp_path / "pool")]) == 0
    pooled = capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "ray"), "--backend", "ray", "--workers", "2"]) == 0
    out = capsys.readouterr()
    assert "12 tasks: 0 cached, 12 to run on the ray backend" in out.err
    assert out.out == pooled
    assert (tmp_path / "ray" / "plan.json").read_text() == pooled
    assert '"runner": "backtest/1"' in pooled


def _plan_cmd(out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "blp_client.cli",
        "plan",
        "--out",
        str(out),
        "--workers",
        "2",
        "--accounts",
        "300",
        "--seconds",
        "300",
        "--seed",
        "9",
        "--minute-rate",
        "150000,300000",
        "--collateral",
        "100000,1000000",
        "--scenario",
        "crash,may-2021",
        "--seeds",
        "3",
    ]


def test_sigkilled_plan_resumes_without_redoing_finished_tasks(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "killed"
    cache = out / "cache"
    proc = subprocess.Popen(
        _plan_cmd(out),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its pool workers share its process group
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(cache.glob("*.json"))) < 4:
            assert proc.poll() is None, "the plan ended before it could be killed"
            assert time.monotonic() < deadline, "no task finished within 120 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.json")}
    assert 4 <= len(done) < 24, "the plan should have been killed mid-run"

    resumed = subprocess.run(_plan_cmd(out), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    found = re.search(r"24 tasks: (\d+) cached, (\d+) to run", resumed.stderr)
    assert found and int(found.group(1)) == len(done) and int(found.group(2)) == 24 - len(done)
    for name, mtime in done.items():  # the finished ones were not rewritten
        assert (cache / name).stat().st_mtime_ns == mtime
    assert len(list(cache.glob("*.json"))) == 24

    fresh = subprocess.run(
        _plan_cmd(tmp_path / "fresh"), env=env, capture_output=True, text=True, timeout=300
    )
    assert fresh.returncode == 0, fresh.stderr
    assert resumed.stdout == fresh.stdout
    assert (out / "plan.json").read_bytes() == (tmp_path / "fresh" / "plan.json").read_bytes()


def test_report_marks_liquidated_commitments_on_the_frontier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "plan",
        "--out",
        str(tmp_path),
        "--accounts",
        "1000",
        "--seconds",
        "600",
        "--scenario",
        "march-2020",
        "--seeds",
        "1",
        "--minute-rate",
        "400000",
        "--hour-rate",
        "2000000",
        "--collateral",
        "20000,3000000",
        "--workers",
        "1",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    html = (tmp_path / "report.html").read_text()
    frontier, safe = html.split('data-chart="frontier"')[1].split('data-chart="safe"')
    assert frontier.count('class="point liquidated"') == 1  # 20k of collateral does not survive
    assert frontier.count('class="point"') == 1
    assert 'class="recommended"' in frontier
    # the safe commitments again on their own scale, without the liquidated one
    assert safe.count('class="point"') == 1
    assert safe.count('class="point liquidated"') == 0
    assert "Recommended (*): min 400k / hr 2M / thr 1.5M / coll 3M" in text
    assert "<script" not in html


def test_with_a_bot_config_each_task_is_a_backtest(tmp_path: Path) -> None:
    plan = parse_plan(
        {
            "accounts": 300,
            "seconds": 300,
            "bot_config": str(ROOT / "examples" / "bot.toml"),
            "commitments": {"minute_rate": ["150000", "300000"]},
            "scenarios": {"names": ["crash", "march-2020"], "seeds": 1},
        }
    )
    pooled = run_plan(plan, tmp_path / "pool", workers=2)
    assert pooled["runner"] == "backtest/1"
    assert to_json(run_plan(plan, tmp_path / "one", workers=1)) == to_json(pooled)
