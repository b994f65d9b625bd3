"""End to end: engine + Binance facade + the bot daemon as a subprocess, ImmediateHedge
through ccxt. Every assignment journaled once; real net exposure ends within one lot; no client
order id twice at the venue; the daemon stops gracefully on SIGTERM and resumes."""

from __future__ import annotations

from .e2e_harness import Stack, caught_up, check_guarantees, wait_for


async def test_hedges_every_assignment_once(stack: Stack) -> None:
    d = stack.daemon(stack.write_config("flow"))
    await d.start()
    await d.ready()
    for i, side in enumerate(["long", "short", "alternate", "long", "long"]):
        assert await stack.force(12, qty="0.01" if i % 2 else "0.023", side=side) > 0
        if i == 2:  # graceful stop and restart mid-flow
            assert await d.terminate() == 0
            await d.start()
            await d.ready()
        stack.requote()
    await wait_for(lambda: caught_up(stack, d), 60, "the bot to hedge everything")
    st = await d.status()
    assert st["assignments"]["count"] == len(stack.engine_assignment_seqs())
    assert st["hedge_latency_ms"]["p50"] is not None
    metrics = await d.metrics()
    assert "blp_bot_assignments_total" in metrics
    assert "blp_bot_hedge_latency_ms_bucket" in metrics
    assert await d.terminate() == 0
    check_guarantees(stack, d)
    events = {e.get("event") for e in d.log_events()}
    assert {"bot_started", "bot_stopped", "assignment", "order_acked"} <= events
