"""`blp demo` end to end, as a newcomer runs it (a subprocess, everything over 127.0.0.1),
shortened: fewer accounts and a faster engine clock. Checks the guarantees the demo reports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from report.test_html_report import CHARTS

ROOT = Path(__file__).resolve().parents[2]
LOTS = {"BTC-PERP": Decimal("0.001"), "ETH-PERP": Decimal("0.01")}
KEYS = {
    "assignments",
    "hedge_orders",
    "duplicate_client_ids",
    "net_exposure_end",
    "max_net_exposure",
    "pnl",
    "hedge_latency_ms",
    "discount_captured",
    "hedge_costs",
    "assigned_notional",
    "threshold_changes",
    "clawback",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Path, str]:
    report = tmp_path_factory.mktemp("demo") / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "blp_client.cli",
            "demo",
            "--accounts",
            "2000",
            "--seconds",
            "30",
            "--json",
            "--report",
            str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), report, proc.stderr


def test_report_keys(demo: tuple[dict[str, object], Path, str]) -> None:
    data, _, _ = demo
    assert set(data) >= KEYS
    lat = data["hedge_latency_ms"]
    assert isinstance(lat, dict) and {"p50", "p99"} <= set(lat)
    claw = data["clawback"]
    assert isinstance(claw, dict) and {"with_blp", "without_blp", "avoided"} <= set(claw)
    # the saving is the difference of the two simulated runs' ADL + socialised loss
    lost = {run: Decimal(claw[run]["adl_plus_socialized"]) for run in ("with_blp", "without_blp")}
    assert Decimal(claw["avoided"]) == lost["without_blp"] - lost["with_blp"]


def test_guarantees(demo: tuple[dict[str, object], Path, str]) -> None:
    data, _, stderr = demo
    assert isinstance(data["assignments"], int) and data["assignments"] > 0
    assert data["assignments"] == data["assignments_at_engine"]  # every one journaled
    assert isinstance(data["hedge_orders"], int) and data["hedge_orders"] > 0
    assert data["duplicate_client_ids"] == 0
    net = data["net_exposure_end"]
    assert isinstance(net, dict) and set(net) == set(LOTS)
    for symbol, qty in net.items():
        assert abs(Decimal(qty)) <= LOTS[symbol], (symbol, qty)
    assert data["settled"] is True
    assert "Traceback" not in stderr


# the scenario's six charts (as `blp simulate --report`) and the bot's three
DEMO_CHARTS = CHARTS | {
    "extra-bot-net-exposure-contracts",
    "extra-bot-max-position-notional-threshold-usdt",
    "extra-bot-pnl-usdt",
}


def test_html_report(demo: tuple[dict[str, object], Path, str]) -> None:
    _, report, stderr = demo
    html = (report / "report.html").read_text()
    assert set(re.findall(r'data-chart="([^"]+)"', html)) == DEMO_CHARTS
    assert html.count("<svg") == len(DEMO_CHARTS)
    assert json.loads((report / "report.json").read_text())["assignments"] > 0
    assert "report:" in stderr


def test_bad_report_dir_fails_fast(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "blp_client.cli", "demo", "--report", str(blocker)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "not a directory" in proc.stderr


async def test_demo_report_charts_render_in_chromium(
    demo: tuple[dict[str, object], Path, str],
) -> None:
    """The demo's report opens in headless Chromium and every chart draws (issue 6)."""
    from browser.cdp import launch, require_chromium
    from browser.test_report import CHARTS_JS

    _, report, _ = demo
    url = (report / "report.html").as_uri()
    async with launch(require_chromium()) as browser:
        page = await browser.new_page()
        await page.navigate(url)
        charts = await page.evaluate(CHARTS_JS)
        assert sorted(c["id"] for c in charts) == sorted(DEMO_CHARTS)
        for c in charts:
            assert c["w"] > 300 and c["h"] > 200, c["id"]
            assert c["lines"], c["id"]
            assert any(line["points"] >= 2 and line["length"] > 0 for line in c["lines"]), c
        assert page.requests == [url] and page.errors == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("seconds", 0), ("seconds", -5.0), ("accounts", 0), ("sample_s", 0), ("drop", 1.0)],
)
def test_demo_options_refuse_bad_values(field: str, value: float) -> None:
    from blp_client.demo import DemoOptions

    with pytest.raises(ValueError, match=rf"DemoOptions\.{field} must be"):
        DemoOptions(**{field: value})  # type: ignore[arg-type]
