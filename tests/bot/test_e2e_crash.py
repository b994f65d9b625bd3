"""Crash safety: the daemon is SIGKILLed at random moments (and at the worst named points:
right after a journal commit, just before and just after an order is sent) while assignments
keep coming, and restarted each time. Nothing is missed, nothing is done twice."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal

from .e2e_harness import Stack, caught_up, check_guarantees, wait_for


async def test_sigkill_at_random_moments(stack: Stack) -> None:
    rng = random.Random(5)
    d = stack.daemon(stack.write_config("crash"))
    await d.start()
    await d.ready()
    exits: list[int] = []  # each run's exit code: -SIGKILL, by us or by its own crash hook
    for i in range(12):
        await stack.force(
            rng.randint(4, 12),
            qty=rng.choice(["0.01", "0.017", "0.03"]),
            side=rng.choice(["long", "short", "alternate"]),
        )
        # a random moment: during start-up, reconciliation, or processing the batch
        await asyncio.sleep(rng.uniform(0.0, 1.2))
        exits.append(await d.kill())
        stack.requote()
        await d.start()
        if i % 4 == 3:
            await d.ready()
    # the worst places: committed but not sent, sent but the answer not recorded
    for point in ("after_commit:3", "before_send:2", "after_send:2", "before_commit:4"):
        await d.ready()
        exits.append(await d.kill())
        await d.start(BLP_BOT_CRASH_AT=point)
        assert d.proc is not None
        # flow in batches until it kills itself at `point` (netting joins a batch's orders,
        # so how many sends a batch costs depends on timing)
        for _ in range(10):
            await stack.force(6, qty="0.01", side="long")
            with contextlib.suppress(TimeoutError):
                exits.append(await asyncio.wait_for(d.proc.wait(), 3))
                break
        else:
            raise AssertionError(f"the bot never reached {point}")
        await d.start()
    await d.ready()
    await wait_for(lambda: caught_up(stack, d), 90, "the bot to hedge everything")
    # every run died by SIGKILL (none exited on its own first, e.g. failing at start-up)
    assert exits == [-signal.SIGKILL] * 20 and d.starts == 21
    assert await d.terminate() == 0
    check_guarantees(stack, d)
    events = [e.get("event") for e in d.log_events()]
    assert events.count("crash_hook") == 4
