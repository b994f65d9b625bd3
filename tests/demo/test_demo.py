"""`blp demo` end to end, as a newcomer runs it (a subprocess, everything over 127.0.0.1),
shortened: fewer accounts and a faster engine clock. Checks the guarantees the demo reports, the
real conditions it runs in (the engine in a process of its own, venue limits and ccxt's throttle
on), and that no process of it outlives it: not when it returns, is cancelled, interrupted with
Ctrl-C or killed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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
    "venue_limits",
    "ccxt_throttle",
    "orders_per_assignment",
    "in_program_fraction",
    "blp_liquidated",
    "engine_pid",
    "demo_pid",
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


def test_real_conditions(demo: tuple[dict[str, object], Path, str]) -> None:
    data, _, stderr = demo
    assert data["venue_limits"] is True
    assert data["ccxt_throttle"] is True
    # the engine served from a process of its own: not the demo's, not this test's
    engine, demo_pid = data["engine_pid"], data["demo_pid"]
    assert isinstance(engine, int) and isinstance(demo_pid, int)
    assert len({engine, demo_pid, os.getpid()}) == 3
    assert f"(pid {engine})" in stderr
    assert not _alive(engine)  # and gone once the demo returned
    assignments, opa = data["assignments_at_engine"], data["orders_per_assignment"]
    assert isinstance(assignments, int) and assignments > 0 and isinstance(opa, float)
    sent = data["hedge_orders"], data["exchange_orders"]
    assert all(isinstance(n, int) for n in sent)
    assert opa == round(sum(sent) / assignments, 4)  # type: ignore[arg-type]
    fraction = data["in_program_fraction"]
    assert isinstance(fraction, float) and 0 <= fraction <= 1
    assert data["blp_liquidated"] is False


def test_readme_lists_every_json_key(demo: tuple[dict[str, object], Path, str]) -> None:
    data, _, _ = demo
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("**`blp demo --json`**")
    table = text[start : text.index("\n## ", start)]
    documented = {
        k for row in re.findall(r"^\| (.+?) \|", table, re.M) for k in re.findall(r"`(\w+)`", row)
    }
    assert documented == set(data)


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
    assert "live run our BLP is the bot" in html  # why the live and simulated columns differ
    assert ">False<" not in html and ">True<" not in html
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


# ---- no process outlives the demo ----------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state, ppid, pgrp, session, ...)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def _pids(match: Callable[[list[str], str], bool]) -> list[int]:
    """Live processes whose (stat fields, command line) match."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if st is not None and st[0] != "Z" and match(st, cmd):
            out.append(int(entry.name))
    return out


def _in_session(sid: int) -> list[int]:
    return _pids(lambda st, _: int(st[3]) == sid)


def _wait_gone(probe: Callable[[], list[int]], timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := probe()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _start_demo(*extra: str) -> tuple[subprocess.Popen[str], int]:
    """A short demo in a session of its own (as a terminal would run it); returns it and its
    engine's pid, once the bot is running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "blp_client.cli", "demo", "--accounts", "300",
         "--seconds", "60", "--json", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    engine = None
    for line in proc.stderr:
        if m := re.match(r"engine: http://127\.0\.0\.1:\d+ \(pid (\d+)\)", line):
            engine = int(m[1])
        if line.startswith("live status page:"):
            break
    else:
        raise AssertionError(f"the demo ended before its bot started (exit {proc.wait()})")
    assert engine is not None and _alive(engine) and engine != proc.pid
    assert len(_in_session(proc.pid)) >= 3  # the demo, its engine, its simulation
    return proc, engine


def test_a_killed_demo_leaves_no_process() -> None:
    proc, engine = _start_demo()
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _wait_gone(lambda: _in_session(proc.pid)) == []
        assert not _alive(engine)
    finally:
        for pid in _in_session(proc.pid):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_reports_and_leaves_no_process() -> None:
    proc, engine = _start_demo()
    try:
        time.sleep(2)  # a few ticks of the crash
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        data = json.loads(out)
        assert data["aborted"] is True and data["engine_pid"] == engine
        assert data["venue_limits"] is True  # read from the engine after the Ctrl-C
        assert _wait_gone(lambda: _in_session(proc.pid)) == []
    finally:
        for pid in _in_session(proc.pid):
            os.kill(pid, signal.SIGKILL)


async def test_a_cancelled_demo_leaves_no_child() -> None:
    from blp_client.demo import DemoOptions, run_demo

    me = os.getpid()

    def children() -> list[int]:
        return _pids(lambda st, cmd: int(st[1]) == me and "blp_client.demo_" in cmd)

    task = asyncio.create_task(run_demo(DemoOptions(accounts=200, seconds=60)))
    try:
        deadline = time.monotonic() + 60
        while len(children()) < 2 and not task.done():  # the engine and the simulation
            assert time.monotonic() < deadline, "the demo's children did not start"
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # the engine ready, the bot starting or running
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert children() == []


def test_the_live_frame_counts_orders_after_netting() -> None:
    """The journal keeps every queued hedge, also those netted or spilled into a later order:
    the frame shows the orders that went out, and the journal's count beside."""
    from blp_client.demo_view import live_lines

    status = {
        "assignments": {"count": 391, "notional": "678297.24", "discount": "1134.55"},
        "capacity": {"use_minute": "0", "use_hour": "0.226"},
        "risk": {"state": "active", "exchange_leverage": "1.11"},
        "orders": {"total": 404, "open": 0, "by_state": {}},
        "execution": {"orders_sent": 33},
        "hedge_latency_ms": {"p50": 66.9, "p99": 107.9},
        "net_exposure": {"BTC-PERP": "0"},
        "fills": {"count": 32},
        "pnl": {"total": "116.45", "fees": "218.53"},
        "threshold": {"BTC-PERP": "1500000"},
        "threshold_history": [],
    }
    snap = {
        "status": status, "index": {"BTC-PERP": "47041.8"}, "phase": "crash", "t": 441,
        "seconds": 3600, "speed": 48.0, "wall": 9.2, "max_net": {"BTC-PERP": "5.667"},
    }  # fmt: skip
    hedges = live_lines(snap)[3]
    assert hedges.split()[:6] == ["hedges", "33", "sent", "(404", "journaled),", "0"]
