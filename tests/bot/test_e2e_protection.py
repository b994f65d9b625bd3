"""Protection: flow the program obliges the BLP to absorb would overleverage it. With the risk
monitor on, the bot lowers its Max Position Notional Threshold in time and the engine never
liquidates it; with the monitor off, the same flow gets the BLP auto-liquidated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from .e2e_harness import KEY, SYM, Daemon, Stack, running_stack, wait_for

D = Decimal
STEP_QTY = "0.4"  # 20k notional per forced liquidation; collateral 10k: liquidated near 530k
STEPS = 40


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, collateral="10000", threshold="5000000") as s:
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


async def run_flow(stack: Stack, d: Daemon) -> None:
    for _ in range(STEPS):
        await stack.force(1, qty=STEP_QTY, side="long")
        stack.requote(size="5")
        if liquidated(stack):
            return
        await wait_for(lambda: settled(stack, d), 30, "the bot to see the account")


async def test_monitor_lowers_threshold_in_time(stack: Stack) -> None:
    d = stack.daemon(stack.write_config("on", risk={"monitor": True}))
    await d.start()
    await d.ready()
    await run_flow(stack, d)
    assert not liquidated(stack)
    blp = stack.engine.service.exchange.blps[stack.blp_account]
    assert blp.thresholds[SYM] == 0  # lowered to lowered_threshold_fraction (0) of 5M
    st = await d.status()
    assert st["risk"]["thresholds_lowered"] is True
    assert st["threshold"][SYM] == "0"
    assert any(h["max_position_notional"].get(SYM) == "0" for h in st["threshold_history"])
    acct = stack.engine.service.exchange.account(stack.blp_account)
    assert acct.positions[SYM].qty > 0  # it did absorb flow before the threshold came down
    assert st["risk"]["liquidation_state"] == "none"
    assert await d.terminate() == 0


async def test_without_monitor_the_engine_liquidates(stack: Stack) -> None:
    d = stack.daemon(stack.write_config("off", risk={"monitor": False}))
    await d.start()
    await d.ready()
    await run_flow(stack, d)
    assert liquidated(stack)
    blp = stack.engine.service.exchange.blps[stack.blp_account]
    assert blp.thresholds[SYM] == D(5_000_000)  # nobody lowered it
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
