"""End to end, ccxt's default throttle on: a burst of assignments on one contract outruns the
venue's order budget (one order per ~200 ms), so what waits `execution.spill_wait_ms` spills
to the exchange's own book as reduce-only flips. Everything ends hedged, once."""

from __future__ import annotations

from decimal import Decimal

from blp_client.bot.strategy import EXCHANGE

from .e2e_harness import Stack, caught_up, check_guarantees, wait_for

D = Decimal


async def burst(stack: Stack, name: str, execution: dict[str, object]) -> list[tuple[str, ...]]:
    d = stack.daemon(stack.write_config(name, execution=execution))
    await d.start()
    await d.ready()
    for _ in range(3):
        assert await stack.force(20, qty="0.01", side="long") > 0
        stack.requote()
    await wait_for(lambda: caught_up(stack, d), 60, "the bot to hedge the burst")
    metrics = await d.metrics()
    assert await d.terminate() == 0
    check_guarantees(stack, d)
    flips = d.journal(
        "SELECT client_order_id, qty, reduce_only, reason FROM orders WHERE venue = ?", EXCHANGE
    )
    spilled = [
        line
        for line in metrics.splitlines()
        if line.startswith("blp_bot_orders_spilled_total{") and not line.endswith(" 0.0")
    ]
    return [*(tuple(map(str, f)) for f in flips), *((line,) for line in spilled)]


async def test_a_burst_spills_to_reduce_only_flips_on_the_exchange(stack: Stack) -> None:
    rows = await burst(stack, "spill", {"spill_wait_ms": 50})
    flips = [r for r in rows if len(r) == 4]
    assert flips, "nothing spilled: the whole burst waited for the venue's budget"
    for _cid, qty, reduce_only, reason in flips:
        assert D(qty) < 0 and reduce_only == "1" and reason.startswith("spilled ")
    assert any(len(r) == 1 and 'venue="binance"' in r[0] for r in rows)
    # the assigned longs were partly flipped, the rest hedged on the venue: net 0 (checked)
    assert stack.position(stack.blp_account) < D("0.6")
    assert stack.position(stack.venue_account) > D("-0.6")


async def test_with_spills_off_every_hedge_waits_for_its_venue(stack: Stack) -> None:
    rows = await burst(stack, "nospill", {"spill_wait_ms": 0})
    assert [r for r in rows if len(r) == 4] == []
    assert stack.position(stack.blp_account) == D("0.6")
