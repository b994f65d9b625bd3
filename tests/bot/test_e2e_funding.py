"""End to end with funding times inside the run (the engine's interval shortened to 2 s): the
bot hedges assignments on the Binance venue through ccxt, the engine charges both legs, and
the bot's P&L shows the funding line per venue — the exchange's from the stream, the venue's
from ccxt's `fetch_funding_history` — each summing to exactly what the engine paid."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from blp_client.bot.config import load_config
from blp_client.bot.daemon import Bot, BotOptions, run_bot
from blp_client.engine.config import FundingSection

from .e2e_harness import LOT, SYM, Stack, start_stack, stop_stack, wait_for

D = Decimal
# interest 0.96 per 8 h is 0.96 · 2 / 28800 = 0.00006667 per 2 s interval; the book is
# symmetric around the index (no premium), so that is the rate
FUNDING = FundingSection(interval_s=2, interest_rate=D("0.96"))


def engine_net(stack: Stack, account_id: int) -> Decimal:
    acct = stack.engine.service.exchange.account(account_id)
    return acct.funding_received - acct.funding_paid


async def test_funding_line_matches_what_the_engine_paid(tmp_path: Path) -> None:
    stack = await start_stack(tmp_path, funding=FUNDING)
    try:
        config = load_config(stack.write_config("funding"))
        stop = asyncio.Event()
        running: list[Bot] = []
        opts = BotOptions(monitor_ms=200, funding_ms=200)
        task = asyncio.create_task(
            run_bot(config, stop=stop, env=stack.bot_env(), on_start=running.append, options=opts)
        )
        await wait_for(lambda: _true(bool(running)), 30, "the bot to start")
        bot = running[0]
        await stack.force(6, qty="0.01", side="long")  # the BLP is long 0.06, hedged short

        async def hedged() -> bool:
            st = bot.status()
            return st["assignments"]["count"] == 6 and abs(D(st["net_exposure"][SYM])) <= LOT

        await wait_for(hedged, 30, "the bot to hedge")
        seen: dict[str, Any] = {}

        async def both_legs_paid_and_journaled() -> bool:
            """The journal's funding per venue equals the engine's, both legs charged."""
            ex, ven = engine_net(stack, stack.blp_account), engine_net(stack, stack.venue_account)
            st = bot.status()
            by = st["pnl"]["by_venue"]
            if ex == 0 or ven == 0 or "binance" not in by:
                return False
            if D(by["exchange"]["funding"]) != ex or D(by["binance"]["funding"]) != ven:
                return False
            seen.update(status=st, exchange=ex, venue=ven)
            return True

        await wait_for(both_legs_paid_and_journaled, 30, "funding on both legs, journaled")
        st = seen["status"]
        # the long exchange leg pays and the short hedge receives (rate > 0: longs pay)
        assert seen["exchange"] < 0 < seen["venue"]
        lines = st["pnl"]["lines"]
        assert D(lines["funding"]) == seen["exchange"] + seen["venue"]
        # forced liquidations are taken over at zero equity: zero price = mark, no discount;
        # the hedge sold 0.06 at the 49995 bid against the assignments' 50000 mark
        assert D(lines["discount"]) == 0
        assert D(st["pnl"]["by_venue"]["binance"]["slippage"]) == D("0.06") * 5
        assert set(st["pnl"]["by_venue"]["exchange"]) == {
            "discount", "market_move", "slippage", "fees", "funding", "total",
        }  # fmt: skip
        # the P&L is the sum of its lines
        for row in st["pnl"]["by_venue"].values():
            parts = D(row["discount"]) + D(row["market_move"]) - D(row["slippage"])
            assert parts - D(row["fees"]) + D(row["funding"]) == D(row["total"])
        # what was paid and received, and the rates, are on the status
        pays = st["funding"]["payments"]
        assert D(pays[f"{SYM}@exchange"]["paid"]) > 0 and D(pays[f"{SYM}@binance"]["received"]) > 0
        rates = st["funding"]["rates"]
        assert D(rates[f"{SYM}@exchange"]["predicted"]) == D("0.00006667")
        assert rates[f"{SYM}@binance"]["predicted"] is not None
        metrics = bot.metrics.registry.render()
        assert (
            'blp_bot_funding_total{direction="paid",symbol="BTC-PERP",venue="exchange"}' in metrics
        )
        assert "blp_bot_funding_rate{" in metrics
        # every journaled payment id is unique per venue (the poller re-reads an overlap)
        ids = bot.journal.funding()
        assert len({(f.venue, f.id) for f in ids}) == len(ids)
        stop.set()
        await asyncio.wait_for(task, 30)
    finally:
        await stop_stack(stack)


async def _true(value: bool) -> bool:
    return value
