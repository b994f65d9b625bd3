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
