"""Built-in strategies' decisions on hand-made views, numbers worked in comments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from blp_client.bot.strategy import (
    EXCHANGE,
    AssignmentReceived,
    FlipOnExchange,
    Hedge,
    RiskChanged,
    RiskState,
    Timer,
)
from strategies.band_hedge import BandHedge, BandHedgeParams
from strategies.immediate_hedge import ImmediateHedge, ImmediateHedgeParams
from strategies.internalize import Internalize, InternalizeParams
from strategies.twap_hedge import TwapHedge, TwapHedgeParams

from ._views import SYM, assignment, market, view

D = Decimal

# two hedge venues around 100; "a" is cheaper at the touch, "b" deeper and with a lower fee
A = market("a", bids=[("99.9", "0.5"), ("99.5", "2")], asks=[("100.1", "0.5")], taker="0.0005")
B = market("b", bids=[("99.8", "5")], asks=[("100.2", "5")], taker="0.0002")
EX = market(EXCHANGE, bids=[("99.9", "10")], asks=[("100.1", "10")], mark="100")


def test_immediate_hedge_splits_by_fee_adjusted_depth() -> None:
    s = ImmediateHedge()
    v = view(holdings={(SYM, EXCHANGE): "1"}, markets=[A, B, EX])
    out = s.decide(v, AssignmentReceived(assignment(1, "buy", "1")))
    # sell 1: a@99.9 → 99.9×0.9995 = 99.85005 ; b@99.8 → 99.8×0.9998 = 99.78004 ;
    # a@99.5 → 99.45025. Take a 0.5, then b 0.5. Limits: 20 bps through each touch:
    # a: 99.9 × 0.998 = 99.7002 → ceil to 0.1 = 99.8 ; b: 99.8 × 0.998 = 99.6004 → 99.7
    assert out == [
        Hedge(SYM, "a", D("-0.5"), D("99.8"), "IOC", D(20), "assignment a1"),
        Hedge(SYM, "b", D("-0.5"), D("99.7"), "IOC", D(20), "assignment a1"),
    ]


def test_immediate_hedge_counts_in_flight_orders() -> None:
    s = ImmediateHedge()
    # long 1 on the exchange, 0.5 already being sold on a: only 0.5 more to sell.
    # a@99.9 is still the best fee-adjusted bid in the book we see, and 0.5 deep: a takes it
    v = view(holdings={(SYM, EXCHANGE): "1", (SYM, "a"): ("0", "-0.5")}, markets=[A, B])
    out = s.decide(v, AssignmentReceived(assignment(2, "buy", "1")))
    assert [(i.venue, i.qty) for i in out if isinstance(i, Hedge)] == [("a", D("-0.5"))]


def test_immediate_hedge_keeps_sub_lot_residual_until_tradable() -> None:
    s = ImmediateHedge(ImmediateHedgeParams(venues=["b"]))
    # lot 0.001: 0.0004 cannot trade: nothing now
    v1 = view(holdings={(SYM, EXCHANGE): "0.0004"}, markets=[B])
    assert s.decide(v1, AssignmentReceived(assignment(1, "buy", "0.0004"))) == []
    # another 0.0008: net 0.0012 → sell 0.001, 0.0002 stays for later
    v2 = view(holdings={(SYM, EXCHANGE): "0.0012"}, markets=[B])
    out = s.decide(v2, AssignmentReceived(assignment(2, "buy", "0.0008")))
    assert [i.qty for i in out if isinstance(i, Hedge)] == [D("-0.001")]


def test_immediate_hedge_timer_rehedges_what_is_left() -> None:
    s = ImmediateHedge(ImmediateHedgeParams(venues=["b"], slippage_bps=D(0)))
    assert s.timer_ms() == 1000
    # an IOC sold only 0.7 of 1: still long 0.3 → sell 0.3 at the touch (cap 0 bps)
    v = view(holdings={(SYM, EXCHANGE): "1", (SYM, "b"): "-0.7"}, markets=[B])
    out = s.decide(v, Timer(1000))
    assert out == [Hedge(SYM, "b", D("-0.3"), D("99.8"), "IOC", D(0), "residual")]
    flat = view(holdings={(SYM, EXCHANGE): "1", (SYM, "b"): "-1"}, markets=[B])
    assert s.decide(flat, Timer(2000)) == []


def test_immediate_hedge_can_flip_on_the_exchange_when_it_is_best() -> None:
    s = ImmediateHedge(ImmediateHedgeParams(include_exchange=True, slippage_bps=D(10)))
    ex = market(EXCHANGE, bids=[("100", "10")], asks=[("100.2", "10")], mark="100")
    v = view(holdings={(SYM, EXCHANGE): "-2"}, markets=[ex, B])
    # short 2 → buy 2: exchange ask 100.2 (fee 0) vs b 100.2 × 1.0002: exchange wins.
    # limit 100.2 × 1.001 = 100.3002 → floor to tick 0.1 = 100.3
    out = s.decide(v, AssignmentReceived(assignment(3, "sell", "2")))
    assert out == [FlipOnExchange(SYM, D(2), D("100.3"), "IOC", D(10), True, "assignment a3")]


def test_internalize_flips_only_the_excess_rounded_up_to_a_lot() -> None:
    s = Internalize(InternalizeParams(max_notional=D(150)))
    # limit 150 at mark 100 = 1.5; long 2.0004 → excess 0.5004 → up to lot 0.001 = 0.501
    v = view(holdings={(SYM, EXCHANGE): "2.0004"}, markets=[EX, A])
    out = s.decide(v, AssignmentReceived(assignment(1, "buy", "1")))
    # sold on the exchange's book at 99.9 capped 20 bps: 99.7002 → 99.8
    assert out == [
        FlipOnExchange(SYM, D("-0.501"), D("99.8"), "IOC", D(20), True, "over limit after a1")
    ]
    inside = view(holdings={(SYM, EXCHANGE): "1.5"}, markets=[EX, A])
    assert s.decide(inside, AssignmentReceived(assignment(2, "buy", "1"))) == []


def test_internalize_per_contract_limits_and_timer() -> None:
    s = Internalize(InternalizeParams(max_notional=D(1000), limits={SYM: D(50)}))
    # limit 50 at 100 = 0.5; short 0.8 → buy 0.3
    v = view(holdings={(SYM, EXCHANGE): "-0.8"}, markets=[EX])
    out = s.decide(v, Timer(0))
    assert [(i.venue, i.qty) for i in out if isinstance(i, FlipOnExchange)] == [
        (EXCHANGE, D("0.3"))
    ]


def test_twap_slices_and_catches_up() -> None:
    s = TwapHedge(TwapHedgeParams(horizon_ms=60_000, slices=4, venues=["b"]))
    assert s.timer_ms() == 15_000
    # t=0: assigned 1 long; slice 1 of 4 = 0.25 at once
    v0 = view(now_ms=0, holdings={(SYM, EXCHANGE): "1"}, markets=[B])
    out = s.decide(v0, AssignmentReceived(assignment(1, "buy", "1")))
    assert [i.qty for i in out if isinstance(i, Hedge)] == [D("-0.25")]
    # t=10s: still in slice 1 → nothing (0.25 in flight is counted, no over-hedging)
    v10 = view(
        now_ms=10_000, holdings={(SYM, EXCHANGE): "1", (SYM, "b"): ("0", "-0.25")}, markets=[B]
    )
    assert s.decide(v10, Timer(10_000)) == []
    # t=15s: slice 2 → cumulative 0.5, sent 0.25 → 0.25 more
    v15 = view(now_ms=15_000, holdings={(SYM, EXCHANGE): "1", (SYM, "b"): "-0.25"}, markets=[B])
    assert [i.qty for i in s.decide(v15, Timer(15_000)) if isinstance(i, Hedge)] == [D("-0.25")]
    # the schedule survives a restart through dump/load
    state = s.dump_state()
    s2 = TwapHedge(s.params)
    s2.load_state(state)
    # t=45s: last slice (4 of 4): target 1, sent 0.5 → 0.5; the schedule then ends
    v45 = view(now_ms=45_000, holdings={(SYM, EXCHANGE): "1", (SYM, "b"): "-0.5"}, markets=[B])
    assert [i.qty for i in s2.decide(v45, Timer(45_000)) if isinstance(i, Hedge)] == [D("-0.5")]
    assert s2.programs == {}
    # after the schedule: catch up whatever is left (say 0.1 of the last slice did not fill)
    v60 = view(now_ms=60_000, holdings={(SYM, EXCHANGE): "1", (SYM, "b"): "-0.9"}, markets=[B])
    assert [i.qty for i in s2.decide(v60, Timer(60_000)) if isinstance(i, Hedge)] == [D("-0.1")]


def test_twap_never_trades_past_flat() -> None:
    s = TwapHedge(TwapHedgeParams(horizon_ms=4000, slices=2, venues=["b"]))
    s.decide(
        view(now_ms=0, holdings={(SYM, EXCHANGE): "1"}, markets=[B]),
        AssignmentReceived(assignment(1, "buy", "1")),
    )  # sends 0.5
    # meanwhile an opposite assignment of 0.8 left net at 1 - 0.5 - 0.8 = -0.3:
    # the due 0.5 sell would go further short → nothing
    v = view(now_ms=2000, holdings={(SYM, EXCHANGE): "0.2", (SYM, "b"): "-0.5"}, markets=[B])
    assert s.decide(v, Timer(2000)) == []


def test_twap_params_validate() -> None:
    with pytest.raises(ValueError, match="horizon_ms"):
        TwapHedgeParams(horizon_ms=3, slices=4)


def test_band_hedge_trades_back_to_the_band_edge() -> None:
    s = BandHedge(BandHedgeParams(band_notional=D(100), venues=["b"], slippage_bps=D(0)))
    assert s.timer_ms() == 5000
    # mark 100 (exchange), net 1.6 → 160 > band 100 → target 1.0 → sell 0.6
    v = view(holdings={(SYM, EXCHANGE): "1.6"}, markets=[EX, B])
    assert s.decide(v, Timer(0)) == [
        Hedge(SYM, "b", D("-0.6"), D("99.8"), "IOC", D(0), "outside band")
    ]
    # inside the band → nothing, and assignments alone never trade
    inside = view(holdings={(SYM, EXCHANGE): "0.9"}, markets=[EX, B])
    assert s.decide(inside, Timer(0)) == []
    assert s.decide(v, AssignmentReceived(assignment(1, "buy", "1"))) == []


def test_band_hedge_rebalance_to_flat() -> None:
    s = BandHedge(BandHedgeParams(band_notional=D(100), rebalance_to=D(0), venues=["b"]))
    # short 1.2 (120 > 100) → target 0 → buy 1.2
    v = view(holdings={(SYM, EXCHANGE): "-1.2"}, markets=[EX, B])
    assert [i.qty for i in s.decide(v, Timer(0)) if isinstance(i, Hedge)] == [D("1.2")]


def test_no_price_no_order() -> None:
    s = ImmediateHedge()
    v = view(holdings={(SYM, EXCHANGE): "1"}, markets=[market("a")])  # empty book, no mark
    assert s.decide(v, AssignmentReceived(assignment(1, "buy", "1"))) == []


def test_risk_changed_is_ignored_by_default() -> None:
    s = ImmediateHedge()
    v = view(holdings={(SYM, EXCHANGE): "1"}, markets=[B])
    assert s.decide(v, RiskChanged(RiskState.ACTIVE, RiskState.REDUCING)) == []
