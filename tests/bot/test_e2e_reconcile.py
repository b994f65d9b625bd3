"""Reconciliation of both sides in one round, through a real engine restart.

The BLP's exchange runs on one engine and the hedge venue (the Binance facade) on another, so
restarting the first (same data dir and port: its event log and BLP survive, its positions do
not) resets the exchange account while the venue keeps the hedges. Meanwhile someone trades on
the venue by hand. The bot (a real `blp bot` process, real ccxt `binanceusdm`) must raise the
alarm naming each contract and both figures, correct both sides in the same round, and hedge
only the true net exposure: the real positions (BLP API + venue) end within one lot of zero.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from blp_client.engine.admin_client import admin_request
from blp_client.engine.server import RunningEngine, start_engine

from .e2e_harness import INDEX, LOT, SYM, Stack, engine_config, running_stack, wait_for

D = Decimal


def requote(engine: RunningEngine) -> None:
    svc = engine.service
    bids = [(INDEX - 5 * (i + 1), D(2)) for i in range(40)]
    asks = [(INDEX + 5 * (i + 1), D(2)) for i in range(40)]
    svc.exchange.replace_quotes(svc.house, SYM, bids, asks)
    svc.settle()


def position(engine: RunningEngine, account_id: int) -> Decimal:
    p = engine.service.exchange.account(account_id).positions.get(SYM)
    return p.qty if p is not None else D(0)


def bot_orders(venue: RunningEngine, account_id: int) -> list[Any]:
    return [o for o in venue.service.exchange.orders.values() if o.account_id == account_id]


async def test_an_engine_restart_is_reconciled_on_both_sides_and_only_the_true_net_hedged(
    tmp_path: Path,
) -> None:
    venue = await start_engine(port=0, config=engine_config(), venue_api="binance")
    try:
        async with running_stack(tmp_path) as stack:
            await _restart_flow(stack, venue, tmp_path)
    finally:
        await venue.stop()


async def _restart_flow(stack: Stack, venue: RunningEngine, tmp_path: Path) -> None:
    requote(venue)
    keys = await admin_request(
        stack.session, venue.url, venue.admin_token, "POST", "/venue/keys",
        {"collateral": "10000000"},
    )  # fmt: skip
    va = int(keys["account_id"])
    stack.venue_url, stack.venue_key, stack.venue_secret = (
        venue.url,
        keys["api_key"],
        keys["api_secret"],
    )
    # every hedge on the venue (no budget spills to the exchange): the figures below are exact
    d = stack.daemon(stack.write_config("restart", execution={"spill_wait_ms": 0}))
    await d.start()
    await d.ready()

    assert await stack.force(6, qty="0.05", side="long") == 6  # the BLP takes +0.30

    async def hedged() -> bool:
        st = await d.status()
        return (
            position(venue, va) == D("-0.3")
            and st["last_seq"] >= stack.blp_last_seq()
            and not st["orders"]["open"]
        )

    await wait_for(hedged, 30, "the +0.30 hedged on the venue")
    assert position(stack.engine, stack.blp_account) == D("0.3")
    sent_before = len(bot_orders(venue, va))

    # restart the exchange: same data dir and port, so the log and the BLP survive; its
    # positions are reset. And someone buys 0.10 on the venue by hand meanwhile.
    port = stack.engine.port
    await stack.engine.stop()
    vsvc = venue.service
    vsvc.exchange.seed_position(va, vsvc.house, SYM, D("0.1"), INDEX)
    vsvc.settle()
    stack.engine = await start_engine(
        port=port, config=engine_config(), venue_api="binance", data_dir=tmp_path / "engine"
    )
    stack.requote()
    assert position(stack.engine, stack.blp_account) == 0
    # true net exposure now: exchange 0 + venue −0.20 = −0.20, while the journal says 0

    async def reconciled() -> bool:
        real = position(stack.engine, stack.blp_account) + position(venue, va)
        st = await d.status()
        return (
            abs(real) <= LOT
            and not st["orders"]["open"]
            and any(e.get("event") == "positions_reconciled" for e in d.log_events())
        )

    await wait_for(reconciled, 45, "both sides reconciled and the true net hedged")

    events = d.log_events()
    alarms = {
        (e["venue"], e["symbol"], D(e["journal"]), D(e["actual"]))
        for e in events
        if e.get("event") == "position_mismatch"
    }
    assert ("exchange", SYM, D("0.3"), D(0)) in alarms  # journal and actual, by contract
    assert ("binance", SYM, D("-0.3"), D("-0.2")) in alarms
    # both sides corrected in one round, before any hedge of the stale state
    rounds = [e for e in events if e.get("event") == "positions_reconciled"]
    assert rounds[0]["corrected"] == 2 and rounds[0]["sides"] == ["binance", "exchange"]
    [(sym, where, qty)] = rounds[0]["hedges"]
    assert (sym, where, D(qty)) == (SYM, "binance", D("0.2"))
    # only the true net was hedged: one buy of 0.20 on the venue since the restart
    after = bot_orders(venue, va)[sent_before:]
    assert sum((o.filled for o in after), D(0)) == D("0.2")
    assert all(o.side.value == "buy" or str(o.side) == "buy" for o in after)

    st = await d.status()
    assert D(st["net_exposure"][SYM]) == 0
    outcomes = {(m["venue"], m["outcome"]) for m in st["alarms"]["position_mismatches"]}
    assert ("exchange", "corrected") in outcomes and ("binance", "corrected") in outcomes
    assert position(venue, va) == 0 and position(stack.engine, stack.blp_account) == 0
