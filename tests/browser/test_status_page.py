"""The live status page in headless Chromium: it fills in from /events, its values change as
assignments arrive and are hedged (no reload), and every field shown matches /status.json
fetched at the same moment. Nothing outside the page's own server is fetched and no CSP
violation or script error happens.

It runs during `blp demo --status-port N` (a subprocess: engine, crash scenario, the bot hedging
through ccxt), as a newcomer would see it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from blp_client.bot.statuspage import start_status_page

from .cdp import Browser, Page

ROOT = Path(__file__).resolve().parents[2]

# the page's copy of a snapshot is the one /status.json just returned: fetching it makes the
# server push that same snapshot on /events, so wait until the page rendered it, then read
SAME_MOMENT_JS = """
(async () => {
  const r = await fetch("/status.json", {cache: "no-store"});
  const text = await r.text();
  const want = JSON.stringify(JSON.parse(text));
  const until = Date.now() + 3000;
  while (JSON.stringify(window.blpStatusPage.last) !== want && Date.now() < until)
    await new Promise(ok => setTimeout(ok, 10));
  return {json: JSON.parse(text), same: JSON.stringify(window.blpStatusPage.last) === want,
          fields: Array.from(document.querySelectorAll("[data-field]"),
                             e => [e.dataset.field, e.dataset.value, e.textContent])};
})()
"""


def lookup(obj: Any, path: str) -> Any:
    for key in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and key.isdigit() and int(key) < len(obj):
            obj = obj[int(key)]
        else:
            return None
    return obj


def raw(value: Any) -> str:
    """What the page keeps in data-value (its `raw`): strings as they are, the rest JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


@contextlib.asynccontextmanager
async def demo_page(tmp: Path) -> AsyncIterator[str]:
    """`blp demo --status-port N` as a subprocess; the page's URL once it answers."""
    from bot.e2e_harness import free_port, wait_for

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = (tmp / "demo.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "blp_client.cli",
        "demo",
        "--status-port",
        str(port),
        "--accounts",
        "2000",
        "--seconds",
        "60",
        cwd=str(tmp),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    try:
        async with aiohttp.ClientSession() as s:

            async def up() -> bool:
                if proc.returncode is not None:
                    raise AssertionError(
                        f"demo exited {proc.returncode}: " + (tmp / "demo.log").read_text()[-2000:]
                    )
                try:
                    async with s.get(url + "status.json") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(up, 120, "the demo's status page")
        yield url
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


async def same_moment(page: Page) -> dict[str, Any]:
    """The page's fields and /status.json at one moment (retried while the bot moves on)."""
    for _ in range(50):
        got: dict[str, Any] = await page.evaluate(SAME_MOMENT_JS)
        if got["same"]:
            return got
    raise AssertionError("the page never showed the snapshot /status.json returned")


async def check_same_moment(page: Page) -> dict[str, Any]:
    """Every field and table on the page shows /status.json fetched at the same moment;
    that snapshot."""
    got = await same_moment(page)
    st: dict[str, Any] = got["json"]
    fields = got["fields"]
    assert len(fields) > 40, len(fields)
    for path, value, text in fields:
        want = lookup(st, path)
        assert value == raw(want), (path, value, want)
        assert (text == "—") == (want in (None, "", [])), (path, text, want)
    assert await page.text('[data-field="last_seq"]') == f"{st['last_seq']:,}"
    assert await page.text("#running") == ("running" if st["running"] else "stopped")
    # the tables a desk reads: rows and order from that snapshot
    symbols = sorted(st["inventory"])
    assert await page.texts("#net tbody tr td:first-child") == symbols
    venues = [v for s in symbols for v in sorted(st["inventory"][s])]
    assert await page.texts("#inventory tbody tr td:nth-child(2)") == venues
    assert await page.texts("#venues tbody tr td:first-child") == sorted(st["venues"])
    shown = await page.texts("#assignments tbody tr td:first-child")
    assert shown == [f"{a['seq']:,}" for a in reversed(st["recent_assignments"])][:20]
    # how each assignment was hedged: one "[via: ]venue side filled/qty @ price state" per
    # order, "offset by #seq qty" per opposite assignment, and its hedge state
    hedged = await page.texts("#assignments tbody td.hedges")
    states = await page.texts("#assignments tbody td.hedge-state")
    for a, text, state in zip(reversed(st["recent_assignments"]), hedged, states, strict=False):
        assert state == a["hedge_state"]
        offsets = [f"offset by #{o['seq']} " for o in a["offsets"]]
        want = ["" if h["via"] == "own" else h["via"] for h in a["hedges"]]
        parts = text.split("; ") if offsets or want else [text]
        assert len(parts) == max(len(offsets) + len(want), 1), (a, text)
        for part, start in zip(parts, offsets, strict=False):
            assert part.startswith(start), (part, a)
        for part, start, h in zip(parts[len(offsets) :], want, a["hedges"], strict=False):
            side = "sell" if h["qty"].startswith("-") else "buy"
            assert part.startswith(start) and f"{h['venue']} {side} " in part, (part, h)
            assert part.endswith(h["state"]), (part, h)
        assert offsets or want or text == a["hedge_state"]
    assert await page.text('[data-field="risk.state"]') == st["risk"]["state"]
    meter = await page.evaluate("document.querySelector('#use-minute').value")
    assert meter == pytest.approx(float(st["capacity"]["use_minute"]))
    return st


async def test_status_page_live_in_chromium(browser: Browser, tmp_path: Path) -> None:
    source = demo_page  # the page of a running `blp demo` (issue 6)
    async with source(tmp_path) as url:
        page = await browser.new_page()
        await page.navigate(url)
        await page.wait_for("window.blpStatusPage && window.blpStatusPage.updates > 0", 20)
        # the first render is the server's state; then /events connects
        await page.wait_for("document.getElementById('conn').dataset.state === 'live'", 20)
        await page.evaluate("window.notReloaded = true")
        assert await page.text("#conn") == "live"
        first_seq = int(await page.evaluate("document.body.dataset.seq"))
        first_count = await page.text('[data-field="assignments.count"]')

        # live values change without a reload
        await page.wait_for(f"Number(document.body.dataset.seq) > {first_seq} + 5", 60)
        await page.wait_for(
            "document.querySelector('[data-field=\"assignments.count\"]').textContent"
            f" !== {json.dumps(first_count)}",
            30,
        )
        await page.wait_for(
            "document.querySelectorAll('#assignments tbody tr td.hedges').length > 0", 30
        )
        assert await page.evaluate("window.notReloaded === true")
        assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
        updates = await page.evaluate("window.blpStatusPage.updates")
        assert updates >= 3

        # what is shown is /status.json at the same moment (twice, some flow apart)
        for _ in range(2):
            st = await check_same_moment(page)
            await page.wait_for(f"Number(document.body.dataset.seq) > {st['last_seq']}", 30)
        assert st["running"] is True

        # self-contained and clean: only this server, no CSP report, no script error
        assert all(r.startswith(url) for r in page.requests), page.requests
        assert {r[len(url) :] for r in page.requests} >= {
            "",
            "static/status.js",
            "static/status.css",
            "events",
        }
        assert page.errors == [], page.errors
        assert not [c for c in page.console if c.startswith("error")], page.console


@pytest.fixture
def no_flow_status() -> dict[str, Any]:
    return {"running": True, "last_seq": 7, "risk": {"state": "halted"}}


async def test_missing_keys_show_dashes(browser: Browser, no_flow_status: dict[str, Any]) -> None:
    """A status with almost nothing in it (an older bot, a fresh journal) renders dashes."""
    sp = await start_status_page(lambda: no_flow_status, interval_s=0.05)
    try:
        page = await browser.new_page()
        await page.navigate(sp.url)
        await page.wait_for("window.blpStatusPage && window.blpStatusPage.updates > 0")
        assert await page.text('[data-field="last_seq"]') == "7"
        assert await page.text('[data-field="risk.state"]') == "halted"
        assert await page.text('[data-field="risk.exchange_equity"]') == "—"
        assert await page.text('[data-field="capacity.use_hour"]') == "—"
        assert await page.text("#mf-mmf") == "—"
        assert await page.texts("#assignments tbody td") == ["none"]
        no_flow_status["last_seq"] = 8  # and it follows a change without a reload
        await page.wait_for(
            "document.querySelector('[data-field=\"last_seq\"]').textContent === '8'"
        )
        assert page.errors == [], page.errors
    finally:
        await sp.stop()
