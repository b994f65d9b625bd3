"""The price audit: hand-computed prices, a tampered one flagged, and silence on every
assignment the engine core makes over a whole crash."""

from __future__ import annotations

from decimal import Decimal

import pytest

from blp_client.bot.core.audit import PriceAudit, audit, expected_price
from blp_client.engine import wire
from blp_client.engine.core import Exchange
from blp_client.engine.core import events as ev
from blp_client.engine.market import build_scenario
from blp_client.models import Assignment, AssignmentEvent

D = Decimal
TICK = D("0.1")


def assignment(side: str, kind: str, price: str, zp: str, mark: str = "50000") -> Assignment:
    return Assignment.model_validate(
        {
            "id": "as-1", "seq": 1, "ts": 0, "symbol": "BTC-PERP", "side": side, "qty": "1",
            "price": price, "mark_price": mark, "zero_price": zp, "kind": kind,
            "discount_bps": "0", "liquidation_id": 1,
            "remaining": {"minute": "1", "hour": "1", "threshold": "1"},
        }
    )  # fmt: skip


@pytest.mark.parametrize(
    ("side", "favorable", "zp", "want"),
    [
        (1, True, "49000", "49333.3"),  # (2·49000 + 50000)/3 = 49333.33… down for a buyer
        (-1, True, "51000", "50666.7"),  # 50666.66… up for a seller
        (1, False, "51000", "50500.0"),  # toxic long: ZP collared at mark + 1%
        (1, False, "50200", "50200"),  # within the collar: ZP itself
        (-1, False, "49000", "49500.0"),  # toxic short: collared at mark − 1%
        (-1, False, "49800.05", "49800.1"),  # ZP rounded up for a seller
    ],
)
def test_the_programs_price_by_hand(side: int, favorable: bool, zp: str, want: str) -> None:
    assert expected_price(side, favorable, D(zp), D(50000), TICK) == D(want)


def test_a_tampered_price_is_flagged_and_an_honest_one_passes() -> None:
    assert audit(assignment("buy", "favorable", "49333.3", "49000"), TICK).ok
    bad = audit(assignment("buy", "favorable", "49333.4", "49000"), TICK)
    assert not bad.ok
    assert bad.expected == D("49333.3")
    assert "not the program's 49333.3" in bad.reason
    collar = audit(assignment("buy", "toxic", "50600", "51000"), TICK)  # beyond the 1% collar
    assert not collar.ok and collar.expected == D("50500.0")
    kind = audit(assignment("buy", "favorable", "50666.6", "51000"), TICK)  # ZP above mark
    assert not kind.ok and "kind favorable" in kind.reason
    totals = PriceAudit()
    totals.check(assignment("buy", "favorable", "49333.4", "49000"), TICK)
    totals.check(assignment("buy", "favorable", "49333.3", "49000"), TICK)
    totals.check(assignment("buy", "favorable", "49333.3", "49000"), None)
    assert (totals.checked, totals.mismatches, totals.unchecked) == (2, 1, 1)
    assert totals.as_json()["recent_mismatches"][0]["price"] == "49333.4"  # type: ignore[index]


def test_silent_on_every_engine_price_over_a_whole_crash() -> None:
    x = Exchange()
    sc = build_scenario("crash", x, seed=1, accounts=5000)
    keys = {aid: name for name, aid in sc.blps.items()}
    seqs: dict[str, int] = {}

    def number(key: str) -> tuple[int, int]:
        seqs[key] = seqs.get(key, 0) + 1
        return seqs[key], sum(seqs.values())

    checks = PriceAudit()
    kinds: set[str] = set()
    for t in range(1, sc.seconds + 1):
        now = sc.start_ms + t * 1000
        sc.step(now)
        x.advance(now)
        for e in x.events:
            if isinstance(e, ev.Assignment):
                for out in wire.protocol_events(e, keys, number):
                    assert isinstance(out.msg, AssignmentEvent)
                    a = out.msg.data
                    kinds.add(a.kind)
                    checks.check(a, x.instruments[a.symbol].tick)
        x.events.clear()
    assert checks.checked > 1000
    assert kinds == {"favorable", "toxic"}
    assert checks.mismatches == 0, checks.as_json()
