"""`blp simulate`: the report's shape, byte-identical determinism, the CLI's errors, and the
program's headline effect on the default crash."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from blp_client.cli import main
from blp_client.engine import simulate as sim
from blp_client.engine.core import Exchange, ExchangeConfig
from blp_client.engine.core import events as ev
from blp_client.engine.market import build_scenario

REQUIRED = (
    "liquidations",
    "book_reduced_notional",
    "takeover_notional",
    "blp_assigned_notional",
    "blp_favorable_notional",
    "blp_toxic_notional",
    "insurance_fund_start",
    "insurance_fund_end",
    "adl_count",
    "adl_notional",
    "socialized_loss",
    "clawback_rate",
    "blp_liquidations",
    "blps",
)
SMALL = ["--accounts", "400", "--seconds", "600", "--seed", "11"]


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "blp_client.cli", "simulate", *args],
        capture_output=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def small_compare() -> bytes:
    """`blp simulate --compare --json` on the small market (run once for the module)."""
    out = _cli(*SMALL, "--compare", "--json")
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


def test_same_seed_gives_byte_identical_json(small_compare: bytes) -> None:
    second = _cli(*SMALL, "--compare", "--json")
    assert small_compare == second.stdout
    other = _cli("--accounts", "400", "--seconds", "600", "--seed", "12", "--compare", "--json")
    assert other.stdout != small_compare  # the seed matters


def test_report_keys_and_decimal_strings(small_compare: bytes) -> None:
    data = json.loads(small_compare)
    assert set(data) == {"with_blp", "without_blp"}
    for name in ("with_blp", "without_blp"):
        report = data[name]
        for key in REQUIRED:
            assert key in report, key
        for key in ("book_reduced_notional", "adl_notional", "socialized_loss"):
            assert isinstance(report[key], str)
            Decimal(report[key])  # exact decimal text, never a float
    assert set(data["with_blp"]["blps"]) == {"blp-a", "blp-b", "blp-c"}
    assert data["without_blp"]["blps"] == {}
    assert Decimal(data["without_blp"]["blp_assigned_notional"]) == 0
    with_blp = data["with_blp"]
    per_blp = sum(Decimal(b["assigned_notional"]) for b in with_blp["blps"].values())
    assert per_blp == Decimal(with_blp["blp_assigned_notional"])
    assert Decimal(with_blp["blp_favorable_notional"]) + Decimal(
        with_blp["blp_toxic_notional"]
    ) == Decimal(with_blp["blp_assigned_notional"])


def test_default_crash_program_cuts_adl_and_socialised_loss() -> None:
    """The README's table: the default scenario (5,000 accounts, 20% over an hour, seed 1)."""
    result = sim.compare(sim.SimulationConfig())
    with_blp, without = result["with_blp"], result["without_blp"]
    assert with_blp["liquidations"] == without["liquidations"]  # same market, same traders
    assert with_blp["blp_assigned_notional"] > 0
    assert with_blp["blp_toxic_notional"] > 0  # flash gaps make bankrupt accounts
    assert sim.saving(result) > 0
    assert with_blp["adl_plus_socialized"] < without["adl_plus_socialized"]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "$ blp simulate --compare\n" + sim.compare_text(result) + "\n```" in readme


def test_table_is_readable(capsys: object) -> None:
    assert main(["simulate", *SMALL]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "Liquidations" in out and "ADL notional" in out and "with BLPs" in out


def test_bad_flags_are_named() -> None:
    bad = _cli("--drop", "1.5")
    assert bad.returncode == 2 and b"--drop must be between 0 and 1" in bad.stderr
    bad = _cli("--accounts", "0")
    assert bad.returncode == 2 and b"must be > 0" in bad.stderr
    bad = _cli("--scenario", "csv")
    assert bad.returncode == 2 and b"--csv FILE" in bad.stderr
    bad = _cli("--scenario", "moon")
    assert bad.returncode == 2 and b"invalid choice: 'moon'" in bad.stderr


def test_csv_scenario_replays_a_file(tmp_path: object) -> None:

    path = Path(str(tmp_path)) / "btc.csv"
    rows = ["timestamp,price"] + [f"{t * 1000},{50000 - 40 * t}" for t in range(0, 301)]
    path.write_text("\n".join(rows) + "\n")
    out = _cli(
        "--scenario", "csv", "--csv", str(path), "--accounts", "300", "--seconds", "300", "--json"
    )
    assert out.returncode == 0, out.stderr.decode()
    report = json.loads(out.stdout)
    assert Decimal(report["final_index"]["BTC-PERP"]) == Decimal("38000")  # 50000 − 40·300
    assert report["liquidations"] > 0  # a 24% fall liquidates the leveraged longs


def test_run_opens_the_blps_it_is_given() -> None:
    """`run(cfg, blps=...)` (the demo's own BLP set) instead of the default three; the timeline
    is sampled every `sample_every_s` engine seconds from 0 to the end."""
    from blp_client.engine.market import DEFAULT_BLPS

    cfg = sim.SimulationConfig(accounts=200, seconds=95, seed=4, sample_every_s=10)
    result = sim.run(cfg, blps=DEFAULT_BLPS[1:2])
    assert set(result.report["blps"]) == {DEFAULT_BLPS[1].name}
    assert [p["t"] for p in result.timeline] == [*range(0, 95, 10), 95]
    assert set(sim.run(cfg).report["blps"]) == {b.name for b in DEFAULT_BLPS}


def test_run_pauses_the_collector_and_restores_it() -> None:
    import gc

    cfg = sim.SimulationConfig(accounts=200, seconds=5)
    during: list[bool] = []
    sim.run(cfg, lambda done, total: during.append(gc.isenabled()))
    assert during == [False] * 5 and gc.isenabled()
    gc.disable()  # a caller that manages collection itself keeps it off
    try:
        sim.run(cfg)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_market_step_stamps_its_events_with_its_own_second() -> None:
    """The index move and the liquidations it starts happen at the step's time, not at the
    previous second's (the engine streams these events)."""
    x = Exchange(ExchangeConfig())
    scenario = build_scenario("crash", x, seed=3, accounts=300, seconds=600, drop=0.3)
    x.drain_events()
    stamps: set[int] = set()
    kinds: set[type] = set()
    for t in range(1, 601):
        now = scenario.start_ms + t * 1000
        scenario.step(now)
        step_events = x.drain_events()
        stamps |= {e.ts for e in step_events} - {now}
        kinds |= {type(e) for e in step_events}
        x.advance(now)
        x.drain_events()
    assert ev.MarkPrice in kinds and ev.LiquidationStarted in kinds  # the step did start some
    assert stamps == set()  # and every event of a step carries the step's time
