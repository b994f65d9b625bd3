"""The pure parts composed by hand: journal → view → strategy → gate → journal.

No venue, no network: fills are fed by hand. It pins what the journal guarantees to any caller:
a crash-and-replay of an assignment gives the same client order ids and no double hedge. The
daemon's own composition (`bot.handlers.handle_event`) is tested end to end in `test_e2e_*`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from blp_client.bot.config import RiskConfig
from blp_client.bot.journal import FillRecord, Journal, OrderState, PositionDelta
from blp_client.bot.risk import RiskGate
from blp_client.bot.strategy import EXCHANGE, AssignmentReceived, Strategy, Timer, View
from blp_client.models import Assignment
from strategies.immediate_hedge import ImmediateHedge, ImmediateHedgeParams

from ._views import SYM, assignment, market

D = Decimal
B = market("b", bids=[("99.9", "5")], asks=[("100.1", "5")], taker="0.0002")


def on_assignment(
    j: Journal, strategy: Strategy[ImmediateHedgeParams], gate: RiskGate, a: Assignment, now: int
) -> list[str]:
    """A minimal caller of the journal (the daemon's is `handle_event`): returns the client
    ids to send."""
    if j.processed(a.seq):
        return []
    delta = PositionDelta.of_assignment(a)
    inv = j.inventory().changed(delta.symbol, delta.venue, position=delta.qty)
    view = View(now, inv, View.index([B]))
    strategy.load_state(j.get_state("strategy") or {})
    intents = strategy.decide(view, AssignmentReceived(a))
    res = gate.filter(intents, view)
    c = j.record_event(
        seq=a.seq,
        event_id=a.id,
        kind="assignment",
        ts=a.ts,
        payload=a.model_dump(mode="json"),
        now_ms=now,
        positions=[delta],
        intents=res.allowed,
        denied=res.denied,
        state={"strategy": strategy.dump_state()},
    )
    return [] if c is None else [o.client_order_id for o in c.orders]


def test_assignments_hedged_once_across_a_replay(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    s = ImmediateHedge(ImmediateHedgeParams(venues=["b"]))
    gate = RiskGate(RiskConfig())
    with Journal(path) as j:
        assert on_assignment(j, s, gate, assignment(1, "buy", "1.5"), 10) == ["blp-1-0"]
        # the stream replays seq 1 after a reconnect: nothing new
        assert on_assignment(j, s, gate, assignment(1, "buy", "1.5"), 11) == []
        # the executor sends, the venue fills 1.2 of the IOC 1.5 and expires the rest
        j.mark_order("blp-1-0", OrderState.SENT, now_ms=12)
        j.record_fill(
            FillRecord("b", "t1", SYM, D("-1.2"), D("99.9"), D("0.02"), 13, "blp-1-0"), now_ms=13
        )
        j.mark_order("blp-1-0", OrderState.CANCELLED, now_ms=14)
    with Journal(path) as j:  # restart
        inv = j.inventory()
        assert inv.net(SYM) == D("0.3")  # 1.5 assigned − 1.2 sold
        # the timer hedges the IOC remainder under a fresh id
        view = View(20, inv, View.index([B]))
        intents = s.decide(view, Timer(20))
        c = j.record_decision(now_ms=20, intents=gate.filter(intents, view).allowed)
        assert [(o.client_order_id, o.qty) for o in c.orders] == [("blp-t1-0", D("-0.3"))]
        # a second assignment: hedged net of the 0.3 already in flight
        ids = on_assignment(j, s, gate, assignment(2, "sell", "0.5"), 30)
        assert ids == ["blp-2-0"]
        o = j.order("blp-2-0")
        assert o is not None and o.qty == D("0.5")  # short 0.5 more → buy 0.5
        assert j.inventory().net(SYM) == 0
        positions = j.positions()
        assert positions[(SYM, EXCHANGE)][0] == D(1)  # 1.5 − 0.5
