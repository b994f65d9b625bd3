"""The journal on real SQLite files: exactly-once events, idempotent fills, crash recovery."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from blp_client.bot.journal import (
    Committed,
    FillRecord,
    Journal,
    JournalError,
    OrderRecord,
    OrderState,
    PositionDelta,
)
from blp_client.bot.journal_schema import ORDER_COLS, order_from_row
from blp_client.bot.risk import Denied, DenyReason
from blp_client.bot.strategy import EXCHANGE, Hedge, Holding, SetThreshold

D = Decimal
SYM = "BTC-PERP"
HEDGES = [
    Hedge(SYM, "a", D("-0.6"), D("99.8"), reason="assignment a1"),
    Hedge(SYM, "b", D("-0.4"), D("99.7"), reason="assignment a1"),
]


def record_assignment(j: Journal, seq: int = 1) -> Committed | None:
    return j.record_event(
        seq=seq,
        event_id=f"e{seq}",
        kind="assignment",
        ts=1000,
        payload={"qty": "1"},
        now_ms=2000,
        positions=[PositionDelta(SYM, EXCHANGE, D(1), D(100))],
        intents=HEDGES,
        state={"strategy": {"k": seq}},
    )


def test_an_event_is_recorded_once_with_its_orders(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        assert j.last_seq == 0
        c = record_assignment(j)
        assert c is not None
        assert [o.client_order_id for o in c.orders] == ["blp-1-0", "blp-1-1"]
        assert j.orders() == c.orders == j.open_orders()  # the rows as written, and the mirror
        assert all(o.state is OrderState.PENDING for o in j.open_orders())
        assert record_assignment(j) is None  # replay: nothing changes
        assert j.last_seq == 1 and j.processed(1) and not j.processed(2)
        assert len(j.orders()) == 2
        assert j.get_state("strategy") == {"k": 1}
        # position 1 on the exchange, 1 in flight to be sold: net 0 (no over-hedging)
        inv = j.inventory()
        assert inv.get(SYM, EXCHANGE) == Holding(D(1), D(0))
        assert inv.get(SYM, "a") == Holding(D(0), D("-0.6"))
        assert inv.net(SYM) == 0 and inv.net(SYM, in_flight=False) == 1


def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        record_assignment(j)
        j.mark_order("blp-1-0", OrderState.SENT, now_ms=1)
    with Journal(path) as j:
        assert j.last_seq == 1
        assert [(o.client_order_id, o.state) for o in j.open_orders()] == [
            ("blp-1-0", OrderState.SENT),
            ("blp-1-1", OrderState.PENDING),
        ]
        assert record_assignment(j) is None


def test_fills_are_idempotent_by_trade_id(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        record_assignment(j)
        j.mark_order("blp-1-0", OrderState.ACKED, now_ms=1, venue_order_id="77")
        f1 = FillRecord("a", "t1", SYM, D("-0.2"), D(100), D("0.01"), 5, "blp-1-0")
        f2 = FillRecord("a", "t2", SYM, D("-0.4"), D(99), D("0.02"), 6, "blp-1-0")
        assert j.record_fill(f1, now_ms=10)
        assert not j.record_fill(f1, now_ms=11)  # same trade seen again (stream + REST)
        o = j.order("blp-1-0")
        assert o is not None and o.state is OrderState.ACKED and o.filled_qty == D("-0.2")
        assert j.open_orders() == j.orders()  # the in-memory mirror agrees with the rows
        assert j.record_fill(f2, now_ms=12)
        o = j.order("blp-1-0")
        assert o is not None and o.state is OrderState.FILLED and o.venue_order_id == "77"
        # avg = (0.2×100 + 0.4×99) / 0.6 = 59.6 / 0.6
        assert o.avg_price == D("59.6") / D("0.6") and o.fees == D("0.03")
        assert j.inventory().get(SYM, "a") == Holding(D("-0.6"), D(0))
        assert len(j.fills("a")) == 2
        pos, cost, fees = j.positions()[(SYM, "a")]
        assert (pos, cost, fees) == (D("-0.6"), D("-59.6"), D("0.03"))


def test_a_failed_transaction_changes_nothing_in_memory_either(tmp_path: Path) -> None:
    def hook(point: str) -> None:
        if point == "before_commit":
            raise RuntimeError("boom")

    with Journal(tmp_path / "j.sqlite", fault_hook=hook) as j:
        with pytest.raises(RuntimeError):
            record_assignment(j)
        assert j.last_seq == 0 and not j.processed(1)
        assert j.open_orders() == [] and j.positions() == {}


def test_a_committed_transaction_moves_every_mirror_together(tmp_path: Path) -> None:
    def hook(point: str) -> None:
        if point == "after_commit":
            raise RuntimeError("boom after the commit")

    with Journal(tmp_path / "j.sqlite", fault_hook=hook) as j:
        with pytest.raises(RuntimeError):
            record_assignment(j)
        # the rows are committed: the processed seq, the open order and the position agree
        assert j.last_seq == 1 and j.processed(1)
        assert [o.client_order_id for o in j.open_orders()] == ["blp-1-0", "blp-1-1"]
        assert j.positions() != {}


def test_order_state_machine(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        record_assignment(j)
        j.mark_order("blp-1-0", OrderState.SENT, now_ms=1)
        j.mark_order("blp-1-0", OrderState.UNKNOWN, now_ms=2, error="timeout")
        j.mark_order("blp-1-0", OrderState.SENT, now_ms=3)  # resent after "not found"
        j.mark_order("blp-1-0", OrderState.CANCELLED, now_ms=4)
        with pytest.raises(JournalError):
            j.mark_order("blp-1-0", OrderState.ACKED, now_ms=5)
        j.mark_order("blp-1-1", OrderState.REJECTED, now_ms=5, error="min notional")
        assert j.open_orders() == []
        assert j.inventory().net(SYM) == 1  # nothing in flight any more: exposed again
        with pytest.raises(JournalError):
            j.mark_order("nope", OrderState.SENT, now_ms=6)


def test_orders_are_returned_as_recorded_without_reading_them_back(tmp_path: Path) -> None:
    """`mark_order` and `record_order_fill` return the order as its row now reads, built from
    the open-order mirror and the transaction's own writes: the journal's part of a filled
    hedge (sent, acked, filled) reads no order row."""
    path = tmp_path / "j.sqlite"
    rows = sqlite3.connect(path)  # what is committed, on a connection of its own

    def row(cid: str) -> OrderRecord:
        sql = f"SELECT {ORDER_COLS} FROM orders WHERE client_order_id = ?"
        return order_from_row(rows.execute(sql, (cid,)).fetchone())

    with Journal(path) as j:
        record_assignment(j)
        reads: list[str] = []
        j._db.set_trace_callback(lambda sql: reads.append(sql) if "FROM orders" in sql else None)
        sent = j.mark_order("blp-1-0", OrderState.SENT, now_ms=1, error="slow")
        assert sent == row("blp-1-0") and sent.error == "slow"
        acked = j.mark_order("blp-1-0", OrderState.ACKED, now_ms=2, venue_order_id="77")
        assert acked == row("blp-1-0") and (acked.error, acked.venue_order_id) == ("slow", "77")
        fill, filled = j.record_order_fill(
            "blp-1-0", filled=D("0.6"), avg_price=D(99), fees=D("0.1"), ts=3, now_ms=4
        )
        assert fill is not None and filled == row("blp-1-0") and filled.is_open is False
        assert reads == []
        j._db.set_trace_callback(None)
        assert j.record_order_fill(  # the same totals again: nothing new
            "blp-1-0", filled=D("0.6"), avg_price=D(99), fees=D("0.1"), ts=3, now_ms=5
        ) == (None, filled)
        assert j.mark_order("blp-1-0", OrderState.FILLED, now_ms=6) == row("blp-1-0")
        # two fills of one order in one transaction: the second sees what the first wrote
        f1 = FillRecord("b", "t1", SYM, D("-0.1"), D(100), D("0.01"), 5, "blp-1-1")
        f2 = FillRecord("b", "t2", SYM, D("-0.3"), D(98), D("0.02"), 6, "blp-1-1")
        j.record_event(
            seq=2, event_id="e2", kind="fill", ts=7, payload={}, now_ms=8, fills=[f1, f2]
        )
        o = row("blp-1-1")
        assert o.state is OrderState.FILLED and o.filled_qty == D("-0.4") and o.fees == D("0.03")
        assert j.order("blp-1-1") == o and j.open_orders() == []
    rows.close()


def test_timer_decisions_get_fresh_ids_and_denials_are_kept(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        d = Denied(Hedge(SYM, "a", D(5)), DenyReason.NET_EXPOSURE, "600 > 500")
        c1 = j.record_decision(now_ms=1, intents=[HEDGES[0]], denied=[d])
        c2 = j.record_decision(now_ms=2, intents=[HEDGES[1], SetThreshold(SYM, D(0), "lev")])
        assert [o.client_order_id for o in c1.orders] == ["blp-t1-0"]
        assert [o.client_order_id for o in c2.orders] == ["blp-t2-0"]
        assert [(a.symbol, a.value) for a in c2.actions] == [(SYM, D(0))]
        assert j.pending_actions() == c2.actions
        j.mark_action(c2.actions[0].id, "done")
        assert j.pending_actions() == []
        rows = j.intents("t1")
        assert [(r[2], r[3], r[4]) for r in rows] == [
            (HEDGES[0], True, ""),
            (d.intent, False, "net_exposure: 600 > 500"),
        ]


def test_reconciliation_overwrites_positions(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        record_assignment(j)
        assert j.set_position(SYM, EXCHANGE, D("0.5"), now_ms=3) == D("-0.5")
        assert j.set_position(SYM, EXCHANGE, D("0.5"), now_ms=4) == 0
        assert j.inventory().get(SYM, EXCHANGE).position == D("0.5")


def test_exchange_fill_events_are_exactly_once_even_if_seen_by_rest_first(
    tmp_path: Path,
) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        fill = FillRecord(EXCHANGE, "900", SYM, D(-1), D(100), D(0), 5, None)
        assert j.record_fill(fill, now_ms=1)  # from the REST answer
        c = j.record_event(
            seq=1, event_id="f1", kind="fill", ts=5, payload={}, now_ms=2, fills=[fill]
        )
        assert c is not None and j.last_seq == 1
        assert j.inventory().get(SYM, EXCHANGE).position == D(-1)  # counted once


CRASH_POINTS = ["event", "positions", "intent", "order", "state", "before_commit", "after_commit"]

_CHILD = textwrap.dedent("""
    import os, signal, sys
    from decimal import Decimal as D
    from blp_client.bot.journal import Journal, PositionDelta
    from blp_client.bot.strategy import EXCHANGE, Hedge
    path, point = sys.argv[1], sys.argv[2]
    armed = False
    def hook(name):
        if armed and name == point:
            os.kill(os.getpid(), signal.SIGKILL)
    j = Journal(path, fault_hook=hook)
    armed = True
    j.record_event(
        seq=1, event_id="e1", kind="assignment", ts=1000, payload={"qty": "1"}, now_ms=2000,
        positions=[PositionDelta("BTC-PERP", EXCHANGE, D(1), D(100))],
        intents=[Hedge("BTC-PERP", "a", D("-0.6"), D("99.8"), reason="assignment a1"),
                 Hedge("BTC-PERP", "b", D("-0.4"), D("99.7"), reason="assignment a1")],
        state={"strategy": {"k": 1}})
    print("survived")
""")


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_killed_mid_transaction_is_all_or_nothing(tmp_path: Path, point: str) -> None:
    path = tmp_path / "j.sqlite"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), point], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "survived" not in proc.stdout
    with Journal(path) as j:  # reopen the file the dead process abandoned
        committed = point == "after_commit"
        assert j.processed(1) is committed
        assert len(j.orders()) == (2 if committed else 0)
        assert j.inventory().net(SYM, in_flight=False) == (1 if committed else 0)
        assert j.get_state("strategy") == ({"k": 1} if committed else None)
        # the daemon then replays the event from the stream: same seq, same client ids
        again = record_assignment(j)
        if committed:
            assert again is None
        else:
            assert again is not None
        assert [o.client_order_id for o in j.orders()] == ["blp-1-0", "blp-1-1"]
        assert j.inventory().net(SYM) == 0


def test_netting_replaces_the_queue_atomically(tmp_path: Path) -> None:
    from blp_client.bot.core.netting import plan

    path = tmp_path / "j.sqlite"

    def crash(point: str) -> None:
        if point == "netted":
            raise RuntimeError("killed")

    with Journal(path, fault_hook=crash) as j:
        j.record_decision(
            now_ms=1,
            intents=[
                Hedge(SYM, "b", D("-0.5"), D("99")),
                Hedge(SYM, "b", D("-0.2"), D("98")),
                Hedge(SYM, "b", D("0.1"), D("101")),
            ],
        )
        p = plan(j.queued("b", SYM))
        assert p is not None and p.qty == D("-0.6")
        with pytest.raises(RuntimeError):
            j.net_orders(p, now_ms=2)  # dies inside: the queue is as it was
        assert [o.qty for o in j.queued("b", SYM)] == [D("-0.5"), D("-0.2"), D("0.1")]
    with Journal(path) as j:
        assert [o.qty for o in j.queued("b", SYM)] == [D("-0.5"), D("-0.2"), D("0.1")]
        netted = j.net_orders(plan(j.queued("b", SYM)), now_ms=3)  # type: ignore[arg-type]
        assert netted is not None and netted.client_order_id == "blp-n1-0"
        assert (netted.qty, netted.limit_price) == (D("-0.6"), D("98"))  # the newest sell cap
        assert [o.client_order_id for o in j.queued("b", SYM)] == ["blp-n1-0"]
        assert j.inventory().get(SYM, "b").in_flight == D("-0.6")  # counted once, not twice
        joined = [o.client_order_id for o in j.orders(states=[OrderState.CANCELLED])]
        assert j.netted_into(joined) == dict.fromkeys(joined, "blp-n1-0")


def test_a_strategy_orders_escalation_step_comes_from_its_intent(tmp_path: Path) -> None:
    from blp_client.bot.core.escalation import Step

    with Journal(tmp_path / "j.sqlite") as j:
        c = j.record_decision(
            now_ms=1, intents=[Hedge(SYM, "b", D("-0.5"), D("99"), "IOC", D("20"))]
        )
        assert j.step(c.orders[0].client_order_id) == Step(0, D("20"), ("b",), "strategy")
        e = j.record_decision(
            now_ms=2,
            intents=[Hedge(SYM, "c", D("-0.1"), D("98"), "IOC", D("75"))],
            steps={0: Step(2, D("75"), ("b", "c"), "spill")},
            source="e",
        )
        assert j.step(e.orders[0].client_order_id) == Step(2, D("75"), ("b", "c"), "spill")
