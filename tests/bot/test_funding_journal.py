"""Funding in the journal (a real SQLite file): payments deduplicated by (venue, id), the
exchange's journaled with its stream event exactly once, and the P&L's funding line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from blp_client.bot.config import BotConfig
from blp_client.bot.core.decider import Decider
from blp_client.bot.journal import FundingRecord, Journal
from blp_client.bot.pnl import pnl_lines, summarize
from blp_client.bot.strategy import EXCHANGE
from blp_client.models import FundingData, FundingEvent
from strategies.immediate_hedge import ImmediateHedge, ImmediateHedgeParams

from ._views import SYM, market, view

D = Decimal


def test_venue_payments_are_deduplicated_by_id(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    first = [
        FundingRecord("b", "11", SYM, D("0.5"), 1000),
        FundingRecord("b", "12", SYM, D("-0.2"), 2000),
    ]
    assert j.record_funding(first, now_ms=5) == first
    again = [first[1], FundingRecord("b", "13", SYM, D("0.1"), 3000)]
    assert [f.id for f in j.record_funding(again, now_ms=6)] == ["13"]  # 12 was known
    assert j.funding_totals() == {(SYM, "b"): (D("0.2"), D("0.6"))}
    assert j.last_funding_ms("b") == 3000 and j.last_funding_ms("c") == 0
    j.close()
    reopened = Journal(tmp_path / "j.sqlite")  # durable
    assert [f.id for f in reopened.funding("b")] == ["11", "12", "13"]
    reopened.close()


def test_exchange_funding_event_is_journaled_once_and_shows_in_the_pnl(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    core = Decider(ImmediateHedge(ImmediateHedgeParams()), BotConfig())
    data = FundingData(
        payment_id=7, symbol=SYM, qty=D("0.06"), mark_price=D(50000), rate=D("0.0001"),
        amount=D("-0.3"), funding_time=8000,
    )  # fmt: skip
    ev = FundingEvent(seq=3, id="ev-3", ts=8000, data=data)
    d = core.on_event(ev, j.inventory(), 9000, j.order)
    assert d.record is not None and d.record.intents == ()  # cash only: nothing to trade
    assert j.record(d.record, now_ms=9000) is not None
    assert j.record(d.record, now_ms=9001) is None  # a replay after a reconnect
    assert j.processed(3) and j.funding_totals() == {(SYM, EXCHANGE): (D("0.3"), D(0))}
    # the P&L: no position change, a funding line of −0.3 on the exchange
    v = view(markets=[market(EXCHANGE, mark="50000")])
    out = summarize(pnl_lines(j.positions(), j.funding_totals(), v))
    assert out["by_venue"][EXCHANGE]["funding"] == D("-0.3")
    assert out["total"] == D("-0.3") and out["funding"] == D("-0.3")
    j.close()


def test_venue_payments_are_read_when_they_can_have_changed_and_the_bot_is_idle(
    tmp_path: Path,
) -> None:
    """Binance's income read costs 30 weight (1.5 s of the control lane the margin reads
    share): it is read at start, once a funding time passed (the venue's next funding time
    moved on), and every `history_ms`; while orders are open it waits, up to
    `max_defer_ms`."""
    from blp_client.bot.funding import FundingPoller
    from blp_client.bot.metrics import BotMetrics

    busy = [True]
    poller = FundingPoller(
        {}, [SYM], Journal(tmp_path / "j.sqlite"), {}, BotMetrics(), lambda: 0,
        busy=lambda: busy[0], history_ms=3_600_000, max_defer_ms=600_000,
    )  # fmt: skip
    key, next_ms = ("binance", SYM), 28_800_000

    def due(now: int, nxt: int | None = next_ms) -> bool:
        if not poller.history_due(key, nxt, now):
            return False
        poller._read[key] = (now, nxt)  # what a payments read records
        poller._due_since.pop(key, None)
        return True

    assert due(0)  # at start, busy or not
    assert not due(60_000)  # nothing can have changed: no 30-weight read every minute
    assert not due(28_860_000, 57_600_000)  # a funding time passed, but orders are open
    assert not due(29_000_000, 57_600_000)
    assert due(28_860_000 + 600_000, 57_600_000)  # ... waited max_defer_ms: read anyway
    busy[0] = False
    assert not due(29_600_000, 57_600_000)
    assert due(29_460_000 + 3_600_000, 57_600_000)  # history_ms later, idle: late postings
    assert due(40_000_000, None)  # the venue stopped giving a next funding time
