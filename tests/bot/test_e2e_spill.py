"""End to end, ccxt's default throttle on: a burst of assignments on one contract outruns the
venue's order budget (one order per ~200 ms), so what waits `execution.spill_wait_ms` spills
to the exchange's own book as reduce-only flips. Everything ends hedged, once."""

from __future__ import annotations

from decimal import Decimal

from blp_client.bot.strategy import EXCHANGE

from .e2e_harness import Stack, caught_up, check_guarantees, wait_for

D = Decimal


FLIPS = "SELECT client_order_id, qty, reduce_only, reason FROM orders WHERE venue = ?"


async def burst(
    stack: Stack, name: str, execution: dict[str, object], *, batches: int, until_spilled: bool
) -> tuple[int, list[tuple[str, ...]], list[str]]:
    """Batches of 20 assigned longs of 0.01 (up to `batches`, fewer once a flip is journaled
    when `until_spilled`: whether a hedge waited depends on how fast the batches arrive).
    Returns the batches sent, the exchange's orders and the non-zero spill counters."""
    d = stack.daemon(stack.write_config(name, execution=execution))
    await d.start()
    await d.ready()
    sent = 0
    for _ in range(batches):
        assert await stack.force(20, qty="0.01", side="long") > 0
        sent += 1
        stack.requote()
        if until_spilled and d.journal(FLIPS, EXCHANGE):
            break
    await wait_for(lambda: caught_up(stack, d), 60, "the bot to hedge the burst")
    metrics = await d.metrics()
    assert await d.terminate() == 0
    check_guarantees(stack, d)
    flips = [tuple(map(str, f)) for f in d.journal(FLIPS, EXCHANGE)]
    spilled = [
        line
        for line in metrics.splitlines()
        if line.startswith("blp_bot_orders_spilled_total{") and not line.endswith(" 0.0")
    ]
    return sent, flips, spilled


async def test_a_burst_spills_to_reduce_only_flips_on_the_exchange(stack: Stack) -> None:
    sent, flips, spilled = await burst(
        stack, "spill", {"spill_wait_ms": 1}, batches=10, until_spilled=True
    )
    assert flips, "nothing spilled: the whole burst waited for the venue's budget"
    for _cid, qty, reduce_only, reason in flips:
        # a flip is a spill, or the exchange lane's netting of flips queued behind its budget
        assert D(qty) < 0 and reduce_only == "1" and reason.startswith(("spilled ", "netted "))
    assert any(reason.startswith("spilled ") for *_, reason in flips)
    assert any('venue="binance"' in line for line in spilled)
    # the assigned longs were partly flipped, the rest hedged on the venue: net 0 (checked)
    assigned = D("0.2") * sent
    assert stack.position(stack.blp_account) < assigned
    assert stack.position(stack.venue_account) > -assigned


async def test_with_spills_off_every_hedge_waits_for_its_venue(stack: Stack) -> None:
    sent, flips, spilled = await burst(
        stack, "nospill", {"spill_wait_ms": 0}, batches=3, until_spilled=False
    )
    assert (sent, flips, spilled) == (3, [], [])
    assert stack.position(stack.blp_account) == D("0.6")
