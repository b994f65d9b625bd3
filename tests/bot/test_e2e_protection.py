"""Protection: flow the program obliges the BLP to absorb would overleverage it. Collateral
20,000 and batches of 10 × 0.05 BTC (25,000 notional, 1.25× a batch). With the risk monitor
on, the threshold comes down before the exchange leverage passes `reducing_leverage` plus one
batch, and the engine never liquidates the BLP; with it off, the same flow liquidates it.

The unwind (ImmediateHedge's, which also lowers the exchange leverage) and budget spills
(reduce-only flips on the exchange's book, which do too) are off in both runs, so this
measures the monitor alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from .e2e_harness import KEY, SYM, Daemon, Stack, running_stack, wait_for

D = Decimal
BATCH, QTY = 10, "0.05"
BATCH_LEVERAGE = D(25_000) / D(20_000)
BATCHES = 50  # 1.25M notional: liquidated well before, with nothing to stop the flow
CEILING = D(5_000_000)
RISK = {"lower_threshold_leverage": "5", "reducing_leverage": "8"}
PARAMS = {"venues": ["binance"], "retry_ms": 300, "unwind": False}
EXECUTION = {"spill_wait_ms": 0}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, collateral="20000", threshold=str(CEILING)) as s:
        yield s


async def settled(stack: Stack, d: Daemon) -> bool:
    """The bot processed every event and its monitor saw the account after them."""
    try:
        st = await d.status()
    except (aiohttp.ClientError, OSError):
        return False
    last = stack.blp_last_seq()
    return (
        st["last_seq"] >= last and st["risk"]["assessed_seq"] >= last and not st["pending_actions"]
    )


def liquidated(stack: Stack) -> bool:
    return stack.engine.service.exchange.stats.blp_liquidations > 0


def leverage(stack: Stack) -> Decimal:
    """The exchange account's notional over equity, as the engine computes them."""
    m = stack.engine.service.exchange.margin(stack.blp_account)
    return m.notional / m.equity if m.notional else D(0)


def threshold(stack: Stack) -> Decimal:
    return D(stack.engine.service.exchange.blps[stack.blp_account].thresholds[SYM])


async def run_flow(stack: Stack, d: Daemon) -> list[tuple[Decimal, Decimal]]:
    """(exchange leverage, threshold) after each batch the bot has seen."""
    seen = []
    for _ in range(BATCHES):
        await stack.force(BATCH, qty=QTY, side="long")
        stack.requote(size="5")
        if liquidated(stack):
            break
        await wait_for(lambda: settled(stack, d), 30, "the bot to see the account")
        seen.append((leverage(stack), threshold(stack)))
    return seen


async def test_monitor_lowers_threshold_in_time(stack: Stack) -> None:
    d = stack.daemon(
        stack.write_config("on", params=PARAMS, risk={"monitor": True, **RISK}, execution=EXECUTION)
    )
    await d.start()
    await d.ready()
    seen = await run_flow(stack, d)
    assert not liquidated(stack)
    first_lowered = next(lev for lev, t in seen if t < CEILING)
    assert first_lowered < D(8) + BATCH_LEVERAGE
    assert max(lev for lev, _t in seen) < D(8) + BATCH_LEVERAGE
    st = await d.status()
    assert st["risk"]["liquidation_state"] == "none"
    assert D(st["threshold"][SYM]) < CEILING
    acct = stack.engine.service.exchange.account(stack.blp_account)
    assert acct.positions[SYM].qty > 0  # it did absorb flow before the threshold came down
    assert await d.terminate() == 0


async def test_without_monitor_the_engine_liquidates(stack: Stack) -> None:
    d = stack.daemon(
        stack.write_config(
            "off", params=PARAMS, risk={"monitor": False, **RISK}, execution=EXECUTION
        )
    )
    await d.start()
    await d.ready()
    await run_flow(stack, d)
    assert liquidated(stack)
    assert threshold(stack) == CEILING  # nobody lowered it
    margin = stack.engine.service.log.read_type(KEY, "margin", 0, 1000)
    assert any('"liquidation_started"' in msg for _, msg in margin)

    async def tracks_the_liquidation() -> bool:
        # the engine's liquidation orders fill on the BLP's account and reach the bot as
        # fills on the stream: the journal follows the account between liquidation rounds
        st = await d.status()
        pos = st["inventory"].get(SYM, {}).get("exchange", {}).get("position", "0")
        return st["last_seq"] >= stack.blp_last_seq() and D(pos) == stack.position(
            stack.blp_account
        )

    await wait_for(tracks_the_liquidation, 30, "the journal to follow the liquidation")
    assert await d.terminate() == 0
