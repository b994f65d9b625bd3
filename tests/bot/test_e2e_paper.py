"""Paper mode and a user's own strategy, end to end.

`--paper`: the same flow places no order on the venue (the facade's request log shows only
public market data) yet the bot reports paper fills, hedged inventory and PnL.
`examples/custom_strategy.py`: the daemon loads it from the config and runs it."""

from __future__ import annotations

from decimal import Decimal

from .e2e_harness import (
    LOT,
    ROOT,
    SYM,
    Stack,
    caught_up,
    wait_for,
)

D = Decimal


async def test_paper_places_no_venue_order(stack: Stack) -> None:
    await stack.admin("DELETE", "/venue/requests")
    d = stack.daemon(stack.write_config("paper", paper=True), paper=True)
    await d.start()
    await d.ready()
    for side in ("long", "short", "long"):
        await stack.force(8, qty="0.02", side=side)
    await wait_for(lambda: caught_up(stack, d), 60, "the paper bot to hedge everything")
    st = await d.status()
    assert st["paper"] is True
    assert st["fills"]["by_venue"].get("binance", 0) > 0
    assert D(st["inventory"][SYM]["binance"]["position"]) == -D(
        st["inventory"][SYM]["exchange"]["position"]
    )
    assert abs(D(st["net_exposure"][SYM])) <= LOT
    assert "total" in st["pnl"] and D(st["pnl"]["fees"]) > 0
    assert st["assignments"]["count"] == len(stack.engine_assignment_seqs())
    assert await d.terminate() == 0
    [summary] = [e for e in d.log_events() if e.get("event") == "bot_stopping"]
    assert summary["paper"] is True and summary["fills"]["by_venue"]["binance"] > 0
    assert "total" in summary["pnl"]
    assert any(e.get("event") == "paper_order" for e in d.log_events())
    requests = await stack.venue_requests()
    assert requests, "the paper venue reads the real books"
    assert not [r for r in requests if r["private"] or r["signed"]], "paper mode traded"
    assert not [r for r in requests if r["path"] == "/fapi/v1/order"]
    assert stack.venue_orders() == []
    assert stack.position(stack.venue_account) == 0


async def test_custom_strategy_example_runs(stack: Stack) -> None:
    spec = f"{ROOT / 'examples' / 'custom_strategy.py'}:HedgeFraction"
    # the example's own venue hedges, exactly: budget spills (on by default) would move part
    # of them to the exchange's book as flips (same net; see test_e2e_spill)
    cfg = stack.write_config(
        "custom",
        strategy=spec,
        params={"fraction": "0.5", "venues": ["binance"]},
        execution={"spill_wait_ms": 0},
    )
    d = stack.daemon(cfg)
    await d.start()
    await d.ready()
    await stack.force(10, qty="0.02", side="long")  # 0.2 assigned: keep 0.1, hedge 0.1

    async def venue_at(qty: str) -> bool:
        return await caught_up(stack, d, flat=False) and stack.position(stack.venue_account) == D(
            qty
        )

    await wait_for(lambda: venue_at("-0.1"), 60, "half of the longs hedged")
    assert stack.position(stack.blp_account) == D("0.2")
    await stack.force(4, qty="0.05", side="short")  # 0.2 back: flat overall
    await wait_for(lambda: venue_at("0"), 60, "the hedge unwound")
    st = await d.status()
    assert st["strategy"] == "HedgeFraction"
    assert stack.position(stack.blp_account) == 0
    hedges = [h for a in st["recent_assignments"] for h in a["hedges"]]
    assert hedges and all(h["venue"] == "binance" for h in hedges)
    first = st["recent_assignments"][0]
    h = first["hedges"][0]  # half of each 0.02 long: its own order, or the netted one of them
    assert D(h["qty"]) == D("-0.01") * max(h["joined"], 1), h
    assert await d.terminate() == 0


async def test_paper_latency_and_partial_fills_in_a_real_bot(stack: Stack) -> None:
    """Issue 13: `--paper` fills had no latency and no partial fills. With `[paper]`
    latency 150 ± 50 ms every paper fill is stamped at least 100 ms after its order was
    journaled, and with partial fills on some hedges fill only in part (the bot then hedges
    the rest: escalation and retries), ending hedged."""
    paper = {
        "latency_ms": 150,
        "latency_jitter_ms": 50,
        "partial_fill_probability": "0.5",
        "partial_fill_ratio": "0.5",
        "seed": 1,
    }
    # every hedge on the paper venue, where the models act (no budget spills while its
    # 150 ms latency holds the lane)
    cfg = stack.write_config("paper-latency", paper=paper, execution={"spill_wait_ms": 0})
    d = stack.daemon(cfg, paper=True)
    await d.start()
    await d.ready()
    # netting decides how many orders a batch costs, so batches until one filled in part
    # (bounded: each taker order is partial with probability 0.5)
    sides = ("long", "short", "long", "long")
    for i in range(12):
        await stack.force(4, qty="0.02", side=sides[i % 4])
        await wait_for(lambda: caught_up(stack, d), 90, "the paper bot to hedge everything")
        rows = d.journal(
            "SELECT f.venue, f.ts, o.created_ms, o.qty, o.filled_qty FROM fills f "
            "JOIN orders o ON o.client_order_id = f.client_order_id"
        )
        if i >= 3 and any(0 < abs(D(r[4])) < abs(D(r[3])) for r in rows):
            break
    assert rows and {r[0] for r in rows} >= {"binance"}
    for venue, ts, created, _, _ in rows:
        assert ts >= created + 100, (venue, ts, created)  # latency − jitter at least
    partial = [r for r in rows if 0 < abs(D(r[4])) < abs(D(r[3]))]
    assert partial, "no hedge was filled in part"
    st = await d.status()
    assert abs(D(st["net_exposure"][SYM])) <= LOT
    assert await d.terminate() == 0
    assert stack.venue_orders() == []  # still paper: nothing reached the venue
