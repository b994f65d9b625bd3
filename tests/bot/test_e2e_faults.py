"""Venue faults on (5xx, 429 bursts, lost responses, partial fills): the same guarantees as a
clean run, with the retries visible in the daemon's logs and metrics."""

from __future__ import annotations

from .e2e_harness import Stack, caught_up, check_guarantees, wait_for


def metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


async def test_faults_do_not_break_exactly_once(stack: Stack) -> None:
    # every hedge goes to the venue, where the faults strike (no budget spills to the exchange)
    d = stack.daemon(stack.write_config("faults", execution={"spill_wait_ms": 0}))
    await d.start()
    await d.ready()
    faults = await stack.admin(
        "PUT",
        "/venue/faults",
        {
            "seed": 7,
            "error_5xx_rate": 0.08,
            "burst_429_rate": 0.02,
            "burst_429_length": 2,
            "lost_response_rate": 0.2,
            "lost_mode": "drop",
            "partial_fill_rate": 0.3,
        },
    )
    assert faults["lost_response_rate"] == 0.2
    # netting makes a batch cost few orders: batches until every kind of fault has struck
    # (bounded; the seeded fault stream makes the count the same on every run)
    sides = ("long", "short", "alternate", "long")
    for i in range(40):
        await stack.force(10, qty="0.02", side=sides[i % 4])
        stack.requote()
        await wait_for(lambda: caught_up(stack, d), 120, "the bot to hedge everything")
        counts = (await stack.admin("GET", "/venue"))["fault_counts"]
        events = {e.get("event") for e in d.log_events()}
        retried = "venue_retry" in events or "venue_order_refused_retry" in events
        if retried and all(
            counts.get(k, 0) for k in ("lost_response", "partial_fill", "server_error")
        ):
            break
    assert counts.get("lost_response", 0) > 0 and counts.get("partial_fill", 0) > 0
    assert counts.get("server_error", 0) > 0
    text = await d.metrics()
    assert metric(text, "blp_bot_venue_retries_total") > 0
    await stack.admin("DELETE", "/venue/faults")
    assert await d.terminate() == 0
    check_guarantees(stack, d)
    events = [e.get("event") for e in d.log_events()]
    assert "venue_order_unknown" in events  # lost answers to placements, then looked up
    assert "venue_retry" in events or "venue_order_refused_retry" in events  # 5xx / 429
    # partial fills left IOC remainders that later decisions hedged: more orders than batches
    rows = d.journal("SELECT state, COUNT(*) FROM orders GROUP BY state")
    states = dict(rows)
    assert states.get("cancelled", 0) > 0, states
