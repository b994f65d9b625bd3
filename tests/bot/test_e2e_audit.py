"""End to end, the live price audit and markouts: the engine (manual clock) and the bot daemon
as a subprocess hedging through ccxt. Real forced liquidations give assignments; each is
checked against the program's price rule (none mismatch) and the markouts at 1 s, 10 s and 60 s
show in /metrics and /status once engine time has passed them. With the engine's test-only
stream fault, tampered prices raise the alarm (log, metric, status) and are hedged all the
same."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from .e2e_harness import (
    INDEX,
    SYM,
    Stack,
    caught_up,
    check_guarantees,
    free_port,
    running_stack,
    wait_for,
)

D = Decimal

AUDITS = re.compile(r'^blp_bot_price_audits_total\{symbol="BTC-PERP"\} (\S+)$', re.M)
MISMATCHES = re.compile(
    r'^blp_bot_price_audit_mismatches_total\{kind="(\w+)",symbol="BTC-PERP"\} (\S+)$', re.M
)
MARKOUT = re.compile(r'^blp_bot_markout_bps\{horizon="(\w+)"\} (\S+)$', re.M)


@pytest.fixture
async def manual(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, clock="manual") as s:
        yield s


@pytest.mark.parametrize("paper", [False, True], ids=["live", "paper"])
async def test_audit_counts_and_markouts(manual: Stack, paper: bool) -> None:
    stack = manual
    d = stack.daemon(stack.write_config("audit", paper=paper), paper=paper)
    await d.start()
    await d.ready()
    for side, qty in (("long", "0.01"), ("short", "0.023"), ("alternate", "0.01")):
        assert await stack.force(8, qty=qty, side=side) == 8  # favorable, at mark
        stack.requote()
    for bps in ("40", "250"):  # toxic: at the zero price, then collared at 1 % off mark
        body = {"symbol": SYM, "count": 4, "qty": "0.01", "side": "alternate", "bankrupt_bps": bps}
        assert (await stack.admin("POST", "/liquidations/force", body))["assignments"] == 4
        stack.requote()
    await wait_for(lambda: caught_up(stack, d), 60, "the bot to hedge everything")
    n = len(stack.engine_assignment_seqs())
    metrics = await d.metrics()
    assert [float(v) for v in AUDITS.findall(metrics)] == [n]
    assert MISMATCHES.findall(metrics) == []  # no mismatch: no sample at all
    assert "blp_bot_price_audit_mismatches_total counter" in metrics
    assert MARKOUT.findall(metrics) == []  # no engine time has passed yet
    st = await d.status()
    audit = st["alarms"]["price_audit"]
    assert (audit["checked"], audit["mismatches"], audit["unchecked"]) == (n, 0, 0)
    assert st["markouts"]["bps"] == {"1s": None, "10s": None, "60s": None}

    # engine time 2 s on at the same market: the 1 s markouts close at this mark, the others
    # wait; then the market moves 1 % up (index and book) and 61 s on: the 10 s and 60 s ones
    # close at the moved mark, so the horizons differ
    await stack.admin("POST", "/clock/advance", {"ms": 2_000})
    still = stack.engine.service.exchange.marks[SYM]

    async def due(horizons: set[str]) -> bool:
        return {h for h, _ in MARKOUT.findall(await d.metrics())} == horizons

    await wait_for(lambda: due({"1s"}), 30, "the 1 s markout gauge")
    moved = INDEX * D("1.01")
    await stack.admin("POST", "/index", {"symbol": SYM, "price": str(moved)})
    stack.requote(mid=moved)
    mark = stack.engine.service.exchange.marks[SYM]
    assert mark == moved
    await stack.admin("POST", "/clock/advance", {"ms": 61_000})
    await wait_for(lambda: due({"1s", "10s", "60s"}), 30, "the markout gauges")
    st = await d.status()
    assert st["markouts"]["count"] == {"1s": n, "10s": n, "60s": n}
    payloads = [
        json.loads(text)
        for (text,) in d.journal("SELECT payload FROM events WHERE kind = 'assignment'")
    ]

    def markout(at: D) -> D:
        """What markouts.py computes, from the journaled assignments: Σ notional·bps / Σ
        notional, every assignment marked at `at`."""
        weighted = notional = D(0)
        for a in payloads:
            side = 1 if a["side"] == "buy" else -1
            price, value = D(a["price"]), D(a["qty"]) * D(a["price"])
            weighted += value * side * (at - price) / price * 10_000
            notional += value
        return (weighted / notional).quantize(D("0.01"))

    one, want = markout(still), markout(mark)
    assert want != 0 and one != want  # buys gain the move, sells lose it, in unequal amounts
    assert st["markouts"]["bps"] == {"1s": str(one), "10s": str(want), "60s": str(want)}
    assert sorted(MARKOUT.findall(await d.metrics())) == [
        ("10s", str(float(want))), ("1s", str(float(one))), ("60s", str(float(want))),
    ]  # fmt: skip
    kinds = {k for (k,) in d.journal("SELECT json_extract(payload, '$.kind') FROM events")}
    assert {"favorable", "toxic"} <= kinds
    assert await d.terminate() == 0
    if not paper:
        check_guarantees(stack, d)
    assert "price_audit_mismatch" not in {e.get("event") for e in d.log_events()}


async def test_tampered_prices_raise_the_alarm_and_are_hedged(manual: Stack) -> None:
    stack = manual
    page_port = free_port()
    d = stack.daemon(stack.write_config("tampered", top={"status_port": page_port}))
    await d.start()
    await d.ready()
    state = await stack.admin(
        "PUT", "/faults/stream", {"assignment_price_bps": "-30", "assignments": 3}
    )
    assert state["assignments_left"] == 3
    assert await stack.force(10, side="alternate") == 10
    stack.requote()
    await wait_for(lambda: caught_up(stack, d), 60, "the bot to hedge everything")

    async def alarmed() -> bool:
        return [(k, float(v)) for k, v in MISMATCHES.findall(await d.metrics())] == [
            ("favorable", 3.0)
        ]

    await wait_for(alarmed, 10, "the mismatch counter")
    metrics = await d.metrics()
    assert [float(v) for v in AUDITS.findall(metrics)] == [10]
    st = await d.status()
    audit = st["alarms"]["price_audit"]
    assert (audit["checked"], audit["mismatches"]) == (10, 3)
    recent = audit["recent_mismatches"]
    assert [r["symbol"] for r in recent] == [SYM] * 3
    for r in recent:  # 30 bps under the program's price (the mark: zero-equity takeovers)
        assert float(r["price"]) == pytest.approx(float(r["expected"]) * (1 - 0.003))
        assert r["reason"].startswith(f"price {r['price']} is not the program's")
    warned = [e for e in d.log_events() if e.get("event") == "price_audit_mismatch"]
    assert [e["id"] for e in warned] == [r["assignment_id"] for r in recent]
    assert all(e["level"] == "warning" and e["expected"] and e["reason"] for e in warned)
    # the status page's first paint (server-rendered) shows the alarm and each mismatch
    async with stack.session.get(f"http://127.0.0.1:{page_port}/") as r:
        html = await r.text()
    shown = re.search(r'data-field="alarms.price_audit.mismatches"[^>]*>([^<]*)<', html)
    assert shown is not None and shown.group(1) == "3"
    initial = re.search(r'id="initial-status">(.*?)</script>', html, re.S)
    assert initial is not None
    page = json.loads(initial.group(1))
    assert page["alarms"]["price_audit"]["recent_mismatches"] == recent
    assert await d.terminate() == 0
    check_guarantees(stack, d)  # an alarm, not a refusal: every assignment hedged
