"""The decider on hand-made inputs: the threshold is lowered on the assignment itself (before
any re-read), and stale venue data makes the monitor fail-safe (it only lowers)."""

from __future__ import annotations

from decimal import Decimal

from blp_client.bot.config import BotConfig
from blp_client.bot.core.decider import Decider
from blp_client.bot.strategy import EXCHANGE, Inventory, SetThreshold, VenueMargin
from blp_client.models import AssignmentEvent, Profile, Remaining, Window
from strategies.immediate_hedge import ImmediateHedge, ImmediateHedgeParams

from .._views import account, assignment, market, profile

D = Decimal
CONFIG = BotConfig.model_validate(
    {
        "venues": {"binance": {"ccxt_id": "binanceusdm"}},
        "risk": {"venue_stale_ms": 2000, "lower_threshold_leverage": "5"},
    }
)


def prof(threshold: str) -> Profile:
    """100,000 a minute and 300,000 an hour still to come: more than 20,000 can carry."""
    left = Window(minute=D(100_000), hour=D(300_000))
    return profile({"BTC-PERP": threshold}).model_copy(update={"remaining": left})


def decider(now: int = 0) -> Decider:
    d = Decider(ImmediateHedge(ImmediateHedgeParams(venues=["binance"])), CONFIG)
    ex = market(EXCHANGE, bids=[("49990", "10")], asks=[("50010", "10")], mark="50000")
    vb = market("binance", bids=[("49990", "10")], asks=[("50010", "10")])
    d.readings.markets = {("BTC-PERP", EXCHANGE): ex, ("BTC-PERP", "binance"): vb}
    d.observe_account(now, prof("1000000"), account(equity="20000", notional="0"))
    d.observe_margins(now, {"binance": VenueMargin("binance", D(1_000_000))})
    return d


def event(seq: int, qty: str) -> AssignmentEvent:
    a = assignment(seq, "buy", qty, price="50000")
    a = a.model_copy(
        update={"remaining": Remaining(minute=D(75_000), hour=D(275_000), threshold=D(0))}
    )
    return AssignmentEvent(seq=seq, id=a.id, ts=0, data=a)


def thresholds(intents: object) -> list[SetThreshold]:
    return [i for i in intents if isinstance(i, SetThreshold)]  # type: ignore[attr-defined]


def test_an_assignment_lowers_the_threshold_in_its_own_decision() -> None:
    d = decider()
    out = d.on_event(event(1, "0.5"), Inventory(), 100, lambda _cid: None)
    assert out.record is not None
    # 0.5 BTC at 50,000 = 25,000 held on 20,000 equity: room (100,000 − 25,000) / 1.05
    [lower] = thresholds(out.record.intents)
    assert lower.value == D(96_428) and lower.reason.startswith("lower")
    hedges = [i for i in out.record.intents if not isinstance(i, SetThreshold)]
    assert [(h.venue, h.qty) for h in hedges] == [("binance", D("-0.5"))]
    assert out.record.state is not None and "monitor" in out.record.state


def test_stale_venue_data_only_lowers() -> None:
    d = decider(now=0)
    held = Inventory().changed("BTC-PERP", EXCHANGE, position=D("0.5"))
    first = d.assess(500, held)
    assert first is not None and thresholds(first.record.intents)[0].value == D(96_428)  # type: ignore[union-attr]
    # the position is gone: the controller would raise back to the ceiling...
    d.observe_account(600, prof("96428"), account(equity="20000", notional="0"))
    assert d.assess(5_000, Inventory()) is None  # ...but venue data is 5 s old: no raise
    assert "venue data stale: lowering only" in d.risk_reasons
    # while still lowering on the exchange side alone: equity fell to 10,000 with 1.5 held
    d.observe_account(5_050, prof("96428"), account(equity="10000", notional="75000"))
    big = Inventory().changed("BTC-PERP", EXCHANGE, position=D("1.5"))
    low = d.assess(5_100, big)
    assert low is not None
    assert thresholds(low.record.intents)[0].value == D(75_000)  # type: ignore[union-attr]
    # fresh venue data, and the capacity left (10,000) fits in the room: back to the ceiling
    d.observe_margins(5_200, {"binance": VenueMargin("binance", D(1_000_000))})
    small = prof("75000").model_copy(update={"remaining": Window(minute=D(10_000), hour=D(1))})
    d.observe_account(5_200, small, account(equity="20000", notional="0"))
    up = d.assess(5_300, Inventory())
    assert up is not None
    assert thresholds(up.record.intents)[0].value == D(1_000_000)  # type: ignore[union-attr]
    assert d.staleness_ms == 100


def test_staleness_is_the_oldest_input() -> None:
    d = decider(now=0)
    d.observe_account(900, None, account(equity="20000", notional="0"))
    d.assess(1_000, Inventory())
    assert d.staleness_ms == 1_000  # venue margins read at 0, the account at 900
