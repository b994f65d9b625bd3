"""Funding in `blp simulate`: a crash where the perp trades below the index, with the interval
shortened for a 10-minute scenario — the report says it was shortened and shows what funding
moved between traders, BLPs, the makers and the fund, netting to exactly zero."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from decimal import Decimal

from blp_client.engine import simulate as sim
from blp_client.engine.funding_report import net_total

D = Decimal
SMALL = sim.SimulationConfig(accounts=400, seconds=600, seed=3)


def test_crash_below_the_index_moves_funding_to_the_long_blps() -> None:
    cfg = sim.SimulationConfig(
        accounts=400, seconds=600, seed=3, funding_interval_s=120, perp_discount_bps=40
    )
    rep = sim.run(cfg).report
    f = rep["funding"]
    assert f["shortened"] is True and f["interval_s"] == 120 and "instead of" in f["note"]
    assert f["settlements"] == 2 * 5  # two contracts, at 120, 240, ..., 600 s
    # the perp quoted below a falling index: the premium, and so the rate, is negative
    assert all(D(r["min"]) < 0 for r in f["rates"].values())
    # BLPs took over the liquidated longs, and longs receive when the rate is negative
    assert D(f["received"]["blp"]) > 0 and all(D(v) > 0 for v in f["blps"].values())
    assert D(rep["funding_to_blps"]) == D(f["received"]["blp"])
    # zero-sum: every kind's net plus the rounding residue the fund took is exactly 0
    assert net_total(f) == 0
    assert sum((D(v) for v in f["blps"].values()), D(0)) == D(f["received"]["blp"])


def test_without_shortening_a_short_run_sees_no_funding_time() -> None:
    f = sim.run(SMALL).report["funding"]
    assert f["shortened"] is False and f["interval_s"] == 28_800 and f["settlements"] == 0
    assert "shorter than 8 h" in f["note"]
    assert all(D(v) == 0 for v in f["received"].values())


def test_cli_flags_and_note() -> None:
    cmd = [sys.executable, "-m", "blp_client.cli", "simulate", "--accounts", "300", "--seconds",
           "300", "--funding-interval", "60", "--perp-discount", "30"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, check=True)
    assert b"Funding to BLPs (net)" in out.stdout and b"funding every 60 s" in out.stdout
    data = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, check=True).stdout)
    assert data["funding"]["settlements"] == 10
    bad = subprocess.run([*cmd[:-2], "--perp-discount", "5000"], capture_output=True)
    assert bad.returncode == 2 and b"--perp-discount must be between 0 and 1000" in bad.stderr
    bad = subprocess.run([*cmd[:6], "--funding-interval", "0"], capture_output=True)
    assert bad.returncode == 2 and b"must be > 0" in bad.stderr


def test_html_report_has_a_funding_table() -> None:
    from blp_client.report import render_html

    cfg = sim.SimulationConfig(accounts=300, seconds=300, seed=2, funding_interval_s=60)
    shortened = sim.run(cfg)
    html = render_html(title="t", reports={"with_blp": shortened.report}, timelines={})
    assert '<table id="funding">' in html and "funding every 60 s" in html
    plain = sim.run(dataclasses.replace(cfg, funding_interval_s=None)).report
    assert '<table id="funding">' not in render_html(
        title="t", reports={"with_blp": plain}, timelines={}
    )
