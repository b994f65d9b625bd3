"""Journal compaction on real SQLite files: old history goes, what resume and open orders
need stays (`blp_client.bot.journal_compaction`)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from blp_client.bot.core.netting import plan
from blp_client.bot.journal import Journal, OrderState, PositionDelta
from blp_client.bot.journal_compaction import DAY_MS, Retention, compact
from blp_client.bot.strategy import EXCHANGE, Hedge, SetThreshold

D = Decimal
SYM = "BTC-PERP"


def assign(j: Journal, seq: int, now_ms: int, *, hedge: bool = True) -> str | None:
    """One assignment of 1 lot at 100 and (optionally) its hedge; returns the hedge's id."""
    c = j.record_event(
        seq=seq,
        event_id=f"e{seq}",
        kind="assignment",
        ts=now_ms,
        payload={"qty": "1"},
        now_ms=now_ms,
        positions=[PositionDelta(SYM, EXCHANGE, D(1), D(100))],
        intents=[Hedge(SYM, "v", D(-1), D(99))] if hedge else [],
        state={"strategy": {"seq": seq}},
    )
    assert c is not None
    return c.orders[0].client_order_id if c.orders else None


def hedge_filled(j: Journal, cid: str, now_ms: int, qty: int = 1) -> None:
    j.mark_order(cid, OrderState.SENT, now_ms=now_ms)
    j.record_order_fill(cid, filled=D(qty), avg_price=D(99), fees=D(0), ts=now_ms, now_ms=now_ms)
    o = j.order(cid)
    assert o is not None and o.state is OrderState.FILLED


def rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_old_hedged_assignments_go_and_open_ones_stay(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        for seq in range(1, 9):  # seqs 1..8 at t = seq days, all hedged and filled
            cid = assign(j, seq, seq * DAY_MS)
            assert cid is not None
            hedge_filled(j, cid, seq * DAY_MS)
        open_cid = assign(j, 9, 9 * DAY_MS)  # its hedge stays open
        assert open_cid is not None
        j.mark_order(open_cid, OrderState.SENT, now_ms=9 * DAY_MS)
        before = j.positions()
        # keep 3 days at t = 40 days: everything is old, only the open work and the top stay
        done = compact(path, Retention(days=3), now_ms=40 * DAY_MS)
        assert done.compacted_seq == 8
        assert done.deleted["events"] == 8 and done.deleted["orders"] == 8
        assert done.deleted["fills"] == 8 and done.deleted["intents"] == 8
        assert rows(path, "events") == 1  # seq 9: open hedge (and the latest seq)
        assert [o.client_order_id for o in j.orders()] == [open_cid]
        assert j.open_orders()[0].client_order_id == open_cid
        assert j.positions() == before  # the inventory is never touched
        assert j.get_state("strategy") == {"seq": 9} and j.last_seq == 9
        assert j.step(open_cid).attempt == 0  # its intent survived
        # every deleted seq still counts as processed: a replay changes nothing
        assert all(j.processed(s) for s in range(1, 10))
    with Journal(path) as j:  # and after reopening
        assert j.record_event(
            seq=3, event_id="e3", kind="assignment", ts=0, payload={}, now_ms=41 * DAY_MS,
            positions=[PositionDelta(SYM, EXCHANGE, D(1), D(100))],
        ) is None  # fmt: skip
        assert j.positions() == before
        assert j.open_orders()[0].client_order_id == open_cid


def test_a_count_retention_keeps_the_latest_assignments(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        for seq in range(1, 21):
            cid = assign(j, seq, 1000 + seq)
            assert cid is not None
            hedge_filled(j, cid, 1000 + seq)
        done = compact(path, Retention(days=None, events=5), now_ms=2000)
        assert done.compacted_seq == 15
        with sqlite3.connect(path) as db:
            seqs = [r[0] for r in db.execute("SELECT seq FROM events ORDER BY seq")]
        assert seqs == [16, 17, 18, 19, 20]
        assert len(j.orders()) == 5 and len(j.fills()) == 5
        assert compact(path, Retention(days=None, events=5), now_ms=2000).total == 0  # idempotent


def test_netted_parts_of_an_open_order_and_pending_actions_stay(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        for seq in (1, 2):
            assign(j, seq, seq)  # two queued hedges on lane (v, BTC-PERP)
        netted = j.net_orders(plan(j.queued("v", SYM)), now_ms=3)  # type: ignore[arg-type]
        assert netted is not None
        j.record_decision(now_ms=4, intents=[SetThreshold(SYM, D(0), reason="test")])
        assign(j, 3, 5, hedge=False)
        compact(path, Retention(days=1), now_ms=10 * DAY_MS)
        parts = [o.client_order_id for o in j.orders(states=[OrderState.CANCELLED])]
        assert j.netted_into(parts) == dict.fromkeys(parts, netted.client_order_id)
        assert len(parts) == 2 and rows(path, "events") == 3  # seqs 1, 2 (netted), 3 (top)
        assert len(j.pending_actions()) == 1
        # once the netted order is done, its parts may go too
        hedge_filled(j, netted.client_order_id, 11 * DAY_MS, qty=2)
        compact(path, Retention(days=1), now_ms=13 * DAY_MS)
        assert j.orders() == [] and rows(path, "netted") == 0
        assert len(j.pending_actions()) == 1


def test_keeping_everything_deletes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        assign(j, 1, 1)
    assert compact(path, Retention(days=None, events=None), now_ms=10**15).total == 0
    assert rows(path, "events") == 1


def test_the_file_stops_growing_once_the_retention_is_full(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    sizes = []
    with Journal(path) as j:
        seq = 0
        for _round in range(6):
            for _ in range(300):
                seq += 1
                cid = assign(j, seq, seq)
                assert cid is not None
                hedge_filled(j, cid, seq)
            compact(path, Retention(days=None, events=300), now_ms=seq)
            j.checkpoint()
            sizes.append(path.stat().st_size)
    assert max(sizes[2:]) <= sizes[1] * 1.1  # freed pages are reused: bounded


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(["filled", "open", "none"]), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=10),
)
def test_compaction_never_loses_open_orders_positions_or_the_last_seq(
    outcomes: list[str], keep: int
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "j.sqlite"
        with Journal(path) as j:
            for seq, what in enumerate(outcomes, start=1):
                cid = assign(j, seq, seq, hedge=what != "none")
                if what == "filled" and cid is not None:
                    hedge_filled(j, cid, seq)
            before = (j.positions(), j.open_orders(), j.last_seq, j.inventory())
            compact(path, Retention(days=None, events=keep), now_ms=10**6)
        # what a restarted bot reads back from the file (the figures above live in memory)
        with Journal(path) as j:
            assert (j.positions(), j.open_orders(), j.last_seq, j.inventory()) == before
            assert all(j.processed(s) for s in range(1, len(outcomes) + 1))
            with sqlite3.connect(path) as db:
                left = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
                opened = sum(1 for w in outcomes if w == "open")
                assert left <= keep + opened + 1
                kept = {o.client_order_id for o in j.orders()}
                assert all(f.client_order_id in kept for f in j.fills())  # none outlives its order
