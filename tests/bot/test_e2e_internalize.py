"""Flipping on the exchange's own book (`Internalize`): orders go through the BLP API with the
bot's client ids, their fills come back on the BLP stream and are journaled once by trade id,
and the kept inventory stays within the strategy's limit."""

from __future__ import annotations

from decimal import Decimal

from .e2e_harness import INDEX, LOT, Stack, caught_up, wait_for

D = Decimal
LIMIT = D(2_000)  # keep at most 2000 USDT of net exposure: 0.04 BTC at 50k


async def test_internalize_flips_excess_on_the_exchange(stack: Stack) -> None:
    cfg = stack.write_config(
        "intern", strategy="internalize", params={"max_notional": str(LIMIT), "interval_ms": 300}
    )
    d = stack.daemon(cfg)
    await d.start()
    await d.ready()

    async def within_limit() -> bool:
        if not await caught_up(stack, d, flat=False):
            return False
        return abs(stack.position(stack.blp_account)) * INDEX <= LIMIT + LOT * INDEX

    await stack.force(10, qty="0.02", side="long")  # 0.2 BTC = 10k USDT: flip 0.16
    await wait_for(within_limit, 60, "the excess longs to be flipped")
    assert stack.position(stack.blp_account) == D("0.04")
    stack.requote()
    await stack.force(3, qty="0.03", side="short")  # to -0.05: buy back 0.01
    await wait_for(within_limit, 60, "the excess shorts to be flipped")
    assert stack.position(stack.blp_account) == D("-0.04")
    st = await d.status()
    assert st["fills"]["by_venue"].get("exchange", 0) > 0
    assert stack.position(stack.venue_account) == 0  # nothing hedged elsewhere
    acct = stack.engine.service.exchange.account(stack.blp_account)
    assert await d.terminate() == 0
    # every fill of the BLP's orders on the stream is in the journal exactly once
    engine_fills = stack.engine.service.log.read_type("e2e-blp-key-0001", "fill", 0, 10_000)
    journal_fills = d.journal("SELECT trade_id FROM fills WHERE venue = 'exchange'")
    assert len(journal_fills) == len(engine_fills) > 0
    ours = {r[0] for r in d.journal("SELECT client_order_id FROM orders")}
    engine_cids = [
        o.client_order_id
        for o in stack.engine.service.exchange.orders.values()
        if o.account_id == stack.blp_account
    ]
    assert engine_cids and set(engine_cids) <= ours
    assert len(engine_cids) == len(set(engine_cids))
    pos = d.journal("SELECT position FROM inventory WHERE venue = 'exchange'")
    assert D(pos[0][0]) == acct.positions["BTC-PERP"].qty
