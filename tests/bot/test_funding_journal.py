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
from blp_client.bot.venues import FundingFee, VenueFunding
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


class _Venue:
    """A venue's funding answers, as ccxt returns them (the external side; the poller, the
    journal and the metrics are the real ones), recording every payments read."""

    def __init__(self) -> None:
        self.next_ms: int | None = 28_800_000
        self.reads: list[int] = []
        self.fees: list[FundingFee] = []

    async def funding_rate(self, symbol: str) -> VenueFunding | None:
        return VenueFunding(symbol, D("0.0001"), D("0.0001"), self.next_ms)

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingFee]:
        self.reads.append(since_ms)
        return [f for f in self.fees if f.timestamp_ms >= since_ms]


async def test_venue_payments_are_read_when_they_can_have_changed_and_the_bot_is_idle(
    tmp_path: Path,
) -> None:
    """Binance's income read costs 30 weight (1.5 s of the control lane the margin reads
    share): it is read at start, once a funding time passed (the venue's next funding time
    moved on), and every `history_ms`; while orders are open it waits, up to
    `max_defer_ms`."""
    from blp_client.bot.funding import FundingPoller
    from blp_client.bot.metrics import BotMetrics

    venue, now, busy = _Venue(), [0], [True]
    journal = Journal(tmp_path / "j.sqlite")
    poller = FundingPoller(
        {"binance": venue}, [SYM], journal, {}, BotMetrics(), lambda: now[0],  # type: ignore[dict-item]
        busy=lambda: busy[0], history_ms=3_600_000, max_defer_ms=600_000,
    )  # fmt: skip

    async def poll_at(t: int) -> int:
        """Poll at `t`; how many payments reads it made."""
        now[0], before = t, len(venue.reads)
        await poller.poll()
        return len(venue.reads) - before

    assert await poll_at(0) == 1  # at start, busy or not
    assert await poll_at(60_000) == 0  # nothing can have changed: no 30-weight read a minute
    venue.next_ms = 57_600_000  # a funding time passed...
    venue.fees = [FundingFee(SYM, "7", D("-1.5"), 28_800_000)]
    assert await poll_at(28_860_000) == 0  # ... but orders are open
    assert await poll_at(29_000_000) == 0
    assert await poll_at(29_460_000) == 1  # waited max_defer_ms: read anyway
    assert [f.id for f in journal.funding("binance")] == ["7"]
    busy[0] = False
    assert await poll_at(29_600_000) == 0
    assert await poll_at(33_060_000) == 1  # history_ms later, idle: for late postings
    assert venue.reads[-1] == 28_800_000  # from the last payment journaled
    venue.next_ms = None  # the venue stopped giving a next funding time
    assert await poll_at(33_120_000) == 1
    assert [f.id for f in journal.funding("binance")] == ["7"]  # read twice, counted once
