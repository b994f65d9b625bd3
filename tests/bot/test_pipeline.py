"""The daemon's own decision path, without sockets: `Bot.handle` (journal → decider → journal)
and the timer's `Bot.carry.apply(core.on_timer(...))`, on a bot that is built but not started (no
executor: nothing is sent; market data is set by hand).

It pins what the journal guarantees to the daemon: a crash-and-replay of an assignment gives
the same client order ids and no double hedge, and a queued hedge counts in net exposure.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from blp_client.bot.config import BotConfig
from blp_client.bot.daemon import Bot
from blp_client.bot.journal import FillRecord, Journal, OrderState
from blp_client.bot.strategy import EXCHANGE
from blp_client.models import AssignmentEvent

from ._views import SYM, assignment, market

D = Decimal
B = market("b", bids=[("99.9", "5")], asks=[("100.1", "5")], taker="0.0002")
ENV = {"BLP_API_KEY": "k", "BLP_API_SECRET": "s"}


def bot(path: Path) -> Bot:
    config = BotConfig.model_validate(
        {
            "journal": str(path),
            "metrics_port": False,
            "strategy": {"class": "immediate_hedge", "params": {"venues": ["b"]}},
            "risk": {"monitor": False},
        }
    )
    b = Bot(config, env=ENV)
    b.journal.prefix = "blp"
    b.market.markets[(SYM, "b")] = B
    b.core.load(b.journal.get_state)
    return b


def event(seq: int, side: str, qty: str) -> AssignmentEvent:
    a = assignment(seq, side, qty)
    return AssignmentEvent(seq=seq, id=a.id, ts=0, data=a)


def ids(j: Journal) -> list[tuple[str, Decimal]]:
    return [(o.client_order_id, o.qty) for o in j.orders()]


def test_assignments_hedged_once_across_a_replay(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    b = bot(path)
    b.handle(event(1, "buy", "1.5"))
    assert ids(b.journal) == [("blp-1-0", D("-1.5"))]
    b.handle(event(1, "buy", "1.5"))  # the stream replays seq 1 after a reconnect
    assert ids(b.journal) == [("blp-1-0", D("-1.5"))]
    # the executor sends, the venue fills 1.2 of the IOC 1.5 and expires the rest
    j = b.journal
    j.mark_order("blp-1-0", OrderState.SENT, now_ms=12)
    j.record_fill(
        FillRecord("b", "t1", SYM, D("-1.2"), D("99.9"), D("0.02"), 13, "blp-1-0"), now_ms=13
    )
    j.mark_order("blp-1-0", OrderState.CANCELLED, now_ms=14)
    j.close()

    b = bot(path)  # restart
    assert b.journal.inventory().net(SYM) == D("0.3")  # 1.5 assigned − 1.2 sold
    b.carry.apply(b.core.on_timer(20, b.journal.inventory()))  # the timer hedges the remainder
    assert ids(b.journal)[-1] == ("blp-t1-0", D("-0.3"))
    # a second assignment: hedged net of the 0.3 queued
    b.handle(event(2, "sell", "0.5"))
    assert ids(b.journal)[-1] == ("blp-2-0", D("0.5"))  # short 0.5 more → buy 0.5
    assert b.journal.inventory().net(SYM) == 0
    assert b.journal.positions()[(SYM, EXCHANGE)][0] == D(1)  # 1.5 − 0.5
    assert b.metrics.assignments.get(symbol=SYM) == 1  # counted once in this process
    b.journal.close()


def test_an_assignment_outside_engine_symbols_raises_the_alarm(tmp_path: Path) -> None:
    b = bot(tmp_path / "bot.sqlite")
    a = assignment(1, "buy", "1", symbol="ETH-PERP")
    b.handle(AssignmentEvent(seq=1, id=a.id, ts=0, data=a))
    assert b.metrics.unhedged.get(symbol="ETH-PERP") == 1
    b.journal.close()
