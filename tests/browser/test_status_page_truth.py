"""What the status page shows is the truth (issue 13), in headless Chromium against a real bot
(real engine and venue facade on 127.0.0.1, the bot in this event loop, ccxt to the venue):

- assignments hedged by a netted order, offset by opposite ones, or hedged by a timer retry
  say so (never "not hedged" while net exposure is 0); each row has its kind;
- the strategy's own state is shown (`dump_state`);
- IMF and the "exchange" venue row are filled in;
- times are wall time, with the engine's shown where it differs;
- the first paint is the server's: the HTML already shows the current state (with scripts
  off, and with /events blocked);
- at 1280 px nothing overflows (no sideways scrollbar in any panel) and risk reasons are listed
  once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from blp_client.bot.config import load_config
from blp_client.bot.daemon import Bot, BotOptions
from blp_client.bot.status_html import fmt
from blp_client.bot.statuspage import start_status_page

from .cdp import Browser, Page

HERE = Path(__file__).resolve().parent

NO_OVERFLOW_JS = """
Array.from(document.querySelectorAll('main > section'), s => [s.id, s.scrollWidth, s.clientWidth])
  .filter(([, sw, cw]) => sw > cw + 1)
  .concat(document.documentElement.scrollWidth > window.innerWidth
          ? [['document', document.documentElement.scrollWidth, window.innerWidth]] : [])
"""


async def until(check: Callable[[], Awaitable[bool] | bool], timeout: float, what: str) -> None:
    """Poll `check` (every 50 ms) until true, or fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = check()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def bot_with_page(tmp: Path) -> AsyncIterator[tuple[Any, Bot, str]]:
    from bot.e2e_harness import running_stack

    async with running_stack(tmp) as stack:
        spec = f"{HERE / 'page_strategy.py'}:TargetHedge"
        params = {"venues": ["binance"], "retry_ms": 300}
        config = load_config(stack.write_config("truth", strategy=spec, params=params))
        bot = Bot(
            config,
            env=stack.bot_env(),
            options=BotOptions(market_refresh_ms=100, monitor_ms=500, reconcile_ms=500),
        )
        await bot.start()
        sp = await start_status_page(bot.status, interval_s=0.1)
        try:
            yield stack, bot, sp.url
        finally:
            await sp.stop()
            await bot.stop()


def flow_done(stack: Any, bot: Bot, count: int) -> Callable[[], bool]:
    def done() -> bool:
        st = bot.status()
        return (
            st["assignments"]["count"] >= count
            and st["last_seq"] >= stack.blp_last_seq()
            and st["orders"]["open"] == 0
            and abs(Decimal(st["net_exposure"].get("BTC-PERP", "0"))) < Decimal("0.001")
        )

    return done


async def rows_by_seq(page: Page) -> dict[int, dict[str, str]]:
    got = await page.evaluate(
        """Array.from(document.querySelectorAll('#assignments tbody tr'), tr => {
             const td = Array.from(tr.children, c => c.textContent);
             return {seq: td[0], time: td[1], kind: td[4], state: td[10], by: td[11]};
           })"""
    )
    return {int(r["seq"].replace(",", "")): r for r in got}


async def test_page_shows_how_each_assignment_was_hedged(browser: Browser, tmp_path: Path) -> None:
    from bot.e2e_harness import SYM

    async with bot_with_page(tmp_path) as (stack, bot, url):
        svc = stack.engine.service
        # 3 buys at once: their queued orders are netted into one
        await stack.force(3, qty="0.02", side="long")
        await until(flow_done(stack, bot, 3), 30, "the first three hedged")
        # no book: 2 sells then 2 bigger buys offset each other, the rest waits for a retry
        svc.exchange.replace_quotes(svc.house, SYM, [], [])
        svc.settle()

        def book_gone() -> bool:
            m = bot.core.readings.markets.get((SYM, "binance"))
            return m is not None and not m.bids and not m.asks

        await until(book_gone, 10, "the bot to see the empty book")
        await stack.force(2, qty="0.02", side="short")
        await stack.force(2, qty="0.03", side="long")
        await until(lambda: bot.status()["assignments"]["count"] >= 7, 30, "seven assignments")
        stack.requote()  # the book is back: a timer retry hedges what is open
        await until(flow_done(stack, bot, 7), 30, "everything hedged")

        st = bot.status()
        recent = {a["seq"]: a for a in st["recent_assignments"]}
        assert len(recent) == 7
        page = await browser.new_page(width=1280, height=1024)
        await page.navigate(url)
        await page.wait_for("window.blpStatusPage && window.blpStatusPage.updates > 0", 20)
        rows = await rows_by_seq(page)
        assert set(rows) == set(recent)
        assert all(r["state"] != "not hedged" for r in rows.values()), rows
        first3, sells, buys = sorted(recent)[:3], sorted(recent)[3:5], sorted(recent)[5:]
        for seq in first3:
            assert rows[seq]["state"] == "hedged"
            assert rows[seq]["by"].startswith("netted (3 orders): binance sell 0.06/0.06 @ ")
        for seq in sells:
            assert rows[seq]["state"] == "offset"
            assert rows[seq]["by"].startswith("offset by #")
        # 0.06 bought against 0.04 sold: the first buy is offset, the second hedged 0.02 by
        # a timer retry (its own order could not trade on an empty book)
        assert rows[buys[0]]["state"] == "offset"
        assert rows[buys[1]]["state"] == "hedged", rows[buys[1]]
        assert "timer: binance sell 0.02/0.02 @ " in rows[buys[1]]["by"], rows[buys[1]]
        # a kind per row, as the assignment says
        assert {seq: r["kind"] for seq, r in rows.items()} == {
            seq: a["kind"] for seq, a in recent.items()
        }
        assert {r["kind"] for r in rows.values()} <= {"favorable", "toxic"}

        # the strategy's own state
        state_rows = await page.evaluate(
            "Array.from(document.querySelectorAll('#strategy-state tbody tr'),"
            " tr => Array.from(tr.children, c => c.textContent))"
        )
        assert state_rows == [["assignments_seen", "7"], ["target.BTC-PERP", "0"]]

        # IMF filled in; the exchange row shows the BLP account
        imf = st["risk"]["exchange_imf"]
        assert imf is not None
        assert await page.text('[data-field="risk.exchange_imf"]') == f"{Decimal(imf):f}"
        venues = await page.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('#venues tbody tr'),"
            " tr => [tr.children[0].textContent, Array.from(tr.children, c => c.textContent)]))"
        )
        assert set(venues) == {"binance", "exchange"}
        exchange = venues["exchange"]
        assert exchange[1:3] == ["0", "0"]  # ok / errors: no order went there
        assert exchange[6] == fmt(st["risk"]["exchange_equity"])  # equity, as the page formats
        assert "—" not in (exchange[6], exchange[7])

        # one time base: wall time (when the bot got it), the engine's under it where it differs
        for seq, a in recent.items():
            wall = await page.evaluate(
                f"""(() => {{ const tr = Array.from(document.querySelectorAll(
                  '#assignments tbody tr')).find(t => t.children[0].textContent === '{seq}');
                  return tr.children[1].dataset.value; }})()"""
            )
            assert wall == str(a["received_ms"])
            assert abs(a["received_ms"] - a["ts"]) < 60_000  # same clock here: real engine
        assert page.errors == [], page.errors

        # at 1280 px no panel scrolls sideways
        assert await page.evaluate(NO_OVERFLOW_JS) == []


async def test_first_paint_is_server_rendered(browser: Browser, tmp_path: Path) -> None:
    async with bot_with_page(tmp_path) as (stack, bot, url):
        await stack.force(4, qty="0.02", side="long")
        await until(flow_done(stack, bot, 4), 30, "four assignments hedged")
        st = bot.status()

        async with aiohttp.ClientSession() as s, s.get(url) as r:
            html = await r.text()
        assert f'data-field="last_seq" data-value="{st["last_seq"]}">{st["last_seq"]}<' in html
        assert '<script type="application/json" id="initial-status">' in html
        block = html.split('id="initial-status">', 1)[1].split("</script>", 1)[0]
        assert json.loads(block)["last_seq"] == st["last_seq"]

        # scripts off: what the server rendered is what shows
        page = await browser.new_page(width=1280, height=1024)
        await page.send("Emulation.setScriptExecutionDisabled", {"value": True})
        await page.navigate(url)
        assert await page.text('[data-field="last_seq"]') == str(st["last_seq"])
        assert await page.text('[data-field="strategy"]') == "TargetHedge"
        assert await page.text('[data-field="risk.state"]') == st["risk"]["state"]
        assert await page.text('[data-field="assignments.count"]') == "4"
        assert await page.text('[data-field="paper"]') == "live"
        assert await page.text('[data-field="risk.exchange_imf"]') != "—"

        # scripts on, /events never answering: the tables are there from the HTML alone
        page2 = await browser.new_page(width=1280, height=1024)
        await page2.send("Network.setBlockedURLs", {"urls": ["*/events"]})
        await page2.navigate(url)
        assert await page2.evaluate("window.blpStatusPage.updates") == 1
        assert await page2.text("#conn") != "live"
        seqs = await page2.texts("#assignments tbody tr td:first-child")
        assert seqs == [str(a["seq"]) for a in reversed(st["recent_assignments"])]
        assert await page2.texts("#venues tbody tr td:first-child") == ["binance", "exchange"]


async def test_long_reasons_and_denies_fit_at_1280(browser: Browser) -> None:
    """A status with long texts (as a stressed bot has): each reason once, nothing overflows."""
    long = "leverage 12.50 >= 8"
    status: dict[str, Any] = {
        "running": True,
        "last_seq": 9,
        "risk": {
            "state": "reducing",
            "reasons": [long, long, "binance margin ratio 0.93", "mf below imf"],
            "last_denies": [
                {
                    "ms": "1796671218539",
                    "reason": "max_order_notional",
                    "intent": "Hedge",
                    "detail": "Hedge BTC-PERP -123.456 on binance: notional 6,172,800.00 > "
                    + "limit 2,000,000 " * 6,
                }
            ]
            * 10,
        },
        "capacity": {
            "minute_rate": "100000000000",
            "hour_rate": "1000000000000",
            "used": {"minute": "99999999999.99", "hour": "999999999999.99"},
            "remaining": {"minute": "0.01", "hour": "0.01"},
            "use_minute": "0.9999999",
            "use_hour": "0.9999999",
            "threshold_headroom": {"BTC-PERP": "123456789012.34"},
            "opted_in": True,
        },
        "venues": {
            "a-venue-with-a-rather-long-name": {
                "ok": 123456,
                "errors": 7890,
                "last_ok_ms": 1796671218539,
                "last_error": "ExchangeNotAvailable: binanceusdm GET https://127.0.0.1/fapi/v1/"
                "order 503 Service Unavailable " * 3,
                "market_data_error": "NetworkError: " + "x" * 120,
                "margin": {"equity": "123456789.123", "notional": "987654321.987"},
            }
        },
    }
    sp = await start_status_page(lambda: status, interval_s=0.05)
    try:
        page = await browser.new_page(width=1280, height=1024)
        await page.navigate(sp.url)
        await page.wait_for("window.blpStatusPage && window.blpStatusPage.updates > 0")
        assert await page.texts("#risk-reasons li") == [
            long,
            "binance margin ratio 0.93",
            "mf below imf",
        ]
        assert await page.evaluate(NO_OVERFLOW_JS) == []
        assert page.errors == [], page.errors
    finally:
        await sp.stop()
