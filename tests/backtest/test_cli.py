"""`blp backtest` from the command line: byte-identical JSON across processes, and one-line
errors with their remedy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from blp_client.engine.market import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
KEYS = (
    "assignments", "assigned_notional", "discount_captured", "hedge_costs", "pnl",
    "markouts_bps", "max_net_exposure", "max_exchange_leverage", "max_venue_leverage",
    "in_program_fraction", "liquidated", "max_drawdown",
)  # fmt: skip


def blp(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "random"}
    return subprocess.run(
        [sys.executable, "-m", "blp_client.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_same_seed_same_bytes_in_two_processes() -> None:
    args = ("backtest", "-c", "examples/bot.toml", "--seed", "1", "--json")
    first, second = blp(*args), blp(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    report = json.loads(first.stdout)
    for key in KEYS:
        assert key in report, key
    assert report["assignments"]["total"] > 100
    assert set(report["hedge_costs"]) == {"fees", "slippage", "market_move"}


def test_report_dir_and_bad_flags(tmp_path: Path) -> None:
    ok = blp(
        "backtest", "-c", "examples/bot.toml", "--accounts", "300", "--seconds", "120",
        "--report", str(tmp_path / "r"),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    html = (tmp_path / "r" / "report.html").read_text()
    assert "P&amp;L (exchange + venues, USDT)" in html and "<svg" in html
    assert json.loads((tmp_path / "r" / "report.json").read_text())["seconds"] == 120
    bad = blp("backtest", "-c", "examples/bot.toml", "--scenario", "nope")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"blp backtest: unknown scenario 'nope': choose one of {', '.join(SCENARIOS)}"
        " (see blp backtest --help)"
    ]
    low = blp("backtest", "-c", "examples/bot.toml", "--minute-rate", "10", "--seconds", "5")
    assert low.returncode == 2 and "Traceback" not in low.stderr
    assert "below the program minimum" in low.stderr
    missing = blp("backtest", "-c", str(tmp_path / "none.toml"))
    assert missing.returncode == 2 and missing.stderr.startswith("blp backtest: ")
    # an option's bound, and what a scenario needs, are named by their flags
    long = blp("backtest", "-c", "examples/bot.toml", "--seconds", "99999999")
    assert long.returncode == 2
    assert long.stderr.strip() == (
        "blp backtest: --seconds must be an integer in [1, 604800] (see blp backtest --help)"
    )
    csv = blp("backtest", "-c", "examples/bot.toml", "--scenario", "csv")
    assert csv.returncode == 2
    assert csv.stderr.strip().startswith("blp backtest: the csv scenario needs --csv FILE")
