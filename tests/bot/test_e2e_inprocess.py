"""`run_bot`: the daemon in the caller's event loop (how `blp demo` runs it), with `status()`
live while it runs and after it stops."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from blp_client.bot.config import load_config
from blp_client.bot.daemon import Bot, BotOptions, run_bot
from blp_client.bot.refusal import Refusal
from blp_client.bot.venues import local_binance
from blp_client.errors import StreamError

from .e2e_harness import LOT, SYM, Stack, wait_for

D = Decimal


async def test_run_bot_in_process(stack: Stack) -> None:
    config = load_config(stack.write_config("inproc"))
    env = stack.bot_env()
    stop = asyncio.Event()
    running: list[Bot] = []
    task = asyncio.create_task(
        run_bot(
            config, stop=stop, env=env, on_start=running.append, options=BotOptions(monitor_ms=200)
        )
    )
    await wait_for(lambda: _true(bool(running)), 30, "the bot to start")
    bot = running[0]
    await stack.force(6, qty="0.01", side="long")

    async def hedged() -> bool:
        st = bot.status()
        return (
            st["assignments"]["count"] == 6
            and st["orders"]["open"] == 0
            and abs(D(st["net_exposure"][SYM])) <= LOT
        )

    await wait_for(hedged, 30, "the in-process bot to hedge")
    live = bot.status()
    assert live["running"] is True and live["hedge_latency_ms"]["count"] == 6
    assert set(live["recent_assignments"][0]) >= {"seq", "discount", "hedges"}
    stop.set()
    done = await asyncio.wait_for(task, 30)
    assert done is bot
    final = bot.status()
    assert final["running"] is False and final["assignments"]["count"] == 6
    assert D(final["max_net_exposure"][SYM]["positions_only"]) >= D("0.01")


async def _true(value: bool) -> bool:
    return value


async def test_positions_reconciled_with_the_venue(stack: Stack) -> None:
    """A trade the journal never saw (someone used the hedge account by hand) is found by the
    periodic position reconciliation, and ImmediateHedge then offsets it."""
    config = load_config(stack.write_config("recon"))
    env = stack.bot_env()
    stop = asyncio.Event()
    running: list[Bot] = []
    opts = BotOptions(reconcile_ms=200, position_reconcile_every=1)
    task = asyncio.create_task(
        run_bot(config, stop=stop, env=env, on_start=running.append, options=opts)
    )
    await wait_for(lambda: _true(bool(running)), 30, "the bot to start")
    bot = running[0]
    ex = local_binance(stack.url, stack.venue_key, stack.venue_secret, rate_limit_ms=1)
    try:
        await ex.create_order(
            "BTC/USDT:USDT", "market", "buy", 0.02, None, {"newClientOrderId": "by-hand-1"}
        )
    finally:
        await ex.close()
    assert stack.position(stack.venue_account) == D("0.02")

    async def offset() -> bool:
        st = bot.status()
        return (
            stack.position(stack.venue_account) == 0
            and st["orders"]["open"] == 0
            and D(st["inventory"][SYM]["binance"]["position"]) == 0
        )

    await wait_for(offset, 30, "the stray position to be found and hedged")
    assert bot.metrics.reconcile.get(kind="position_corrected") >= 1
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_refuses_to_resume_from_another_event_log(stack: Stack) -> None:
    """The journal's seqs belong to the engine log they came from: after a first run the log's
    id is saved; a journal from another log (say an engine restarted without --data-dir) stops
    the bot with `log_changed` rather than silently skipping that log's first seqs."""
    config = load_config(stack.write_config("epoch"))
    env = stack.bot_env()
    stop = asyncio.Event()
    running: list[Bot] = []
    task = asyncio.create_task(run_bot(config, stop=stop, env=env, on_start=running.append))
    await wait_for(lambda: _true(bool(running)), 30, "the bot to start")
    await stack.force(2, qty="0.01", side="long")
    await wait_for(
        lambda: _true(running[0].status()["assignments"]["count"] == 2), 30, "two assignments"
    )
    stop.set()
    await asyncio.wait_for(task, 30)
    assert running[0].failed is False

    from blp_client.bot.journal import Journal

    journal = Journal(config.journal)
    assert journal.get_state("log_id")  # saved with the seqs
    journal.set_state("log_id", "a-log-that-is-not-this-engines")
    journal.close()
    bot = await asyncio.wait_for(run_bot(config, env=env), 30)  # ends by itself: it failed
    # an expected failure: a Refusal (one line, its remedy), the stream's error its cause
    assert isinstance(bot.failure, Refusal) and bot.failure.event == "log_changed"
    assert isinstance(bot.failure.__cause__, StreamError)
    assert "restart it with the same --data-dir" in bot.failure.message
