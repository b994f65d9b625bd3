"""The status page's P&L and funding section in headless Chromium: the lines per venue, each
contract's rates and what it paid and received on each venue, from a fixed status."""

from __future__ import annotations

from typing import Any

from blp_client.bot.statuspage import start_status_page

from .cdp import Browser

STATUS: dict[str, Any] = {
    "running": True,
    "last_seq": 9,
    "pnl": {
        "total": "-1.79985",
        "fees": "1.49985",
        "by_venue": {
            "binance": {"discount": "0", "market_move": "0", "slippage": "0.3",
                        "fees": "1.49985", "funding": "0.20001", "total": "-1.59984"},
            "exchange": {"discount": "0", "market_move": "0", "slippage": "0", "fees": "0",
                         "funding": "-0.20001", "total": "-0.20001"},
        },
    },
    "funding": {
        "rates": {"BTC-PERP@exchange": {"current": "0.0001", "predicted": "0.00006667",
                                        "next_ms": 1795617781000}},
        "payments": {"BTC-PERP@exchange": {"paid": "0.20001", "received": "0"},
                     "BTC-PERP@binance": {"paid": "0", "received": "0.20001"}},
    },
}  # fmt: skip


async def test_pnl_and_funding_tables(browser: Browser) -> None:
    sp = await start_status_page(lambda: STATUS, interval_s=0.05)
    try:
        page = await browser.new_page()
        await page.navigate(sp.url)
        await page.wait_for("window.blpStatusPage && window.blpStatusPage.updates > 0")
        venues = await page.texts("#pnl-venues tbody td")
        # numbers of 1 or more show 4 decimals, smaller ones 8 (the page's `num`)
        assert venues[:7] == ["binance", "0", "0", "0.3", "1.4999", "0.20001", "-1.5998"]
        assert venues[7] == "exchange" and venues[12] == "-0.20001"
        rows = await page.texts("#funding tbody td")
        assert rows[:2] == ["BTC-PERP", "binance"] and rows[5:7] == ["0", "0.20001"]
        assert rows[7:11] == ["BTC-PERP", "exchange", "0.0001", "0.00006667"]
        assert rows[12:14] == ["0.20001", "0"]
        assert page.errors == [], page.errors
    finally:
        await sp.stop()
