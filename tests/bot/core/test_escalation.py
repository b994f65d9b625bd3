"""Escalation steps for an IOC that expired with a remainder (pure, hand-made views)."""

from __future__ import annotations

from decimal import Decimal

from blp_client.bot.config import ExecutionConfig
from blp_client.bot.core.escalation import Step, next_intent
from blp_client.bot.journal_schema import OrderRecord, OrderState
from blp_client.bot.strategy import EXCHANGE, FlipOnExchange, Hedge

from .._views import market, view

D = Decimal
CFG = ExecutionConfig(escalation_step_bps=D(25), max_slippage_bps=D(75), fallback="flip")
A = market("a", bids=[("99.9", "1")], asks=[("100", "0.1"), ("100.5", "5")])
B = market("b", bids=[("99.8", "1")], asks=[("100.1", "3"), ("100.4", "3")])
C = market("c", bids=[("99.8", "1")], asks=[("100.2", "1")])
EX = market(EXCHANGE, bids=[("99.5", "10")], asks=[("100.5", "10")], mark="100")


def expired(venue: str = "a", qty: str = "1", filled: str = "0.1") -> OrderRecord:
    return OrderRecord(
        "c-1",
        "7",
        0,
        venue,
        "BTC-PERP",
        D(qty),
        D("100.2"),
        "IOC",
        False,
        OrderState.CANCELLED,
        "v1",
        D(filled),
        D("100"),
        D(0),
        0,
        0,
        None,
        "assignment a7",
    )


def v(**holdings: str):  # type: ignore[no-untyped-def]
    return view(markets=[A, B, C, EX], holdings={("BTC-PERP", EXCHANGE): holdings.get("ex", "-1")})


def test_first_the_cap_widens_on_the_same_venue() -> None:
    got = next_intent(expired(), Step(0, D(20), ("a",)), v(), CFG)
    assert got is not None
    intent, step = got
    # 0.9 left, 20 + 25 = 45 bps through the touch 100 → 100.45, rounded down to the tick
    assert intent == Hedge("BTC-PERP", "a", D("0.9"), D("100.4"), "IOC", D(45), intent.reason)
    assert step == Step(1, D(45), ("a",), "widen")
    _intent2, step2 = next_intent(expired(), step, v(), CFG) or (None, None)
    assert step2 == Step(2, D(70), ("a",), "widen")


def test_past_the_cap_it_spills_to_the_deepest_untried_venue() -> None:
    got = next_intent(expired(), Step(2, D(70), ("a",), "widen"), v(), CFG)
    assert got is not None
    intent, step = got
    assert isinstance(intent, Hedge) and intent.venue == "b"  # 6 within 75 bps, c shows 1
    assert intent.limit_price == D("100.8")  # 100.1 × 1.0075 = 100.85… → 100.8
    assert step == Step(3, D(75), ("a", "b"), "spill")
    intent, step = next_intent(expired(), step, v(), CFG) or (None, None)
    assert isinstance(intent, Hedge) and intent.venue == "c"


def test_then_the_fallback_flips_the_remainder_on_the_exchange() -> None:
    last = Step(4, D(75), ("a", "b", "c"), "spill")
    got = next_intent(expired(), last, v(ex="-1"), CFG)
    assert got is not None
    intent, step = got
    # buy 0.9 back on the exchange's book, reduce-only (the assigned short is -1)
    assert intent == FlipOnExchange(
        "BTC-PERP", D("0.9"), D("101.2"), "IOC", D(75), True, intent.reason
    )
    assert step.stage == "fallback"
    assert next_intent(expired(), step, v(), CFG) is None  # nothing after the fallback


def test_a_flip_that_cannot_reduce_rests_instead_and_none_stops() -> None:
    last = Step(4, D(75), ("a", "b", "c"), "spill")
    got = next_intent(expired(), last, v(ex="0"), CFG)  # nothing to reduce on the exchange
    assert got is not None
    assert got[0] == Hedge("BTC-PERP", "a", D("0.9"), D("99.9"), "GTC", None, got[0].reason)
    stop = ExecutionConfig(fallback="none", spill=False, max_slippage_bps=D(25))
    assert next_intent(expired(), Step(1, D(25), ("a",), "widen"), v(), stop) is None


def test_nothing_left_nothing_to_do() -> None:
    assert next_intent(expired(filled="1"), Step(), v(), CFG) is None


def test_a_timed_out_resting_fallback_starts_over_on_fresh_books() -> None:
    from dataclasses import replace

    resting = replace(expired(), tif="GTC", limit_price=D("99.9"))
    done = Step(5, D(75), ("a", "b", "c"), "fallback")
    got = next_intent(resting, done, v(), CFG)
    assert got is not None
    intent, step = got
    # 0.9 left, back on its first venue a, 25 bps through the touch 100 → 100.25 → 100.2
    assert intent == Hedge("BTC-PERP", "a", D("0.9"), D("100.2"), "IOC", D(25), intent.reason)
    assert step == Step(6, D(25), ("a",), "widen")
    # an IOC that reached the fallback stage is done (the exposure alarm watches the rest)
    assert next_intent(expired(), done, v(), CFG) is None
