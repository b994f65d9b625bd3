"""The funding-aware parameter of `internalize` and `band_hedge` on hand-made views, numbers
worked in comments: hedge the kept inventory when its expected funding cost over the horizon
exceeds the limit."""

from __future__ import annotations

from decimal import Decimal

from blp_client.bot.strategy import EXCHANGE, FlipOnExchange, FundingRate, Hedge, Timer
from strategies.band_hedge import BandHedge, BandHedgeParams
from strategies.funding_guard import FundingGuardParams, expected_cost, funding_times
from strategies.internalize import Internalize, InternalizeParams

from ._views import SYM, market, view

D = Decimal
H8 = 8 * 3_600_000
EX = market(EXCHANGE, bids=[("99.9", "10")], asks=[("100.1", "10")], mark="100")
B = market("b", bids=[("99.8", "5")], asks=[("100.2", "5")])


def rate(venue: str, predicted: str | None, current: str | None = None) -> FundingRate:
    p = None if predicted is None else D(predicted)
    c = None if current is None else D(current)
    return FundingRate(venue, SYM, c, p, next_ms=1000, interval_ms=H8)


def test_funding_times_in_the_horizon() -> None:
    r = rate(EXCHANGE, "0.001")  # next at 1 s, then every 8 h
    assert funding_times(r, 0, 999) == 0
    assert funding_times(r, 0, 1000) == 1
    assert funding_times(r, 0, H8) == 1  # (1 s, 8 h + 1 s): just the first
    assert funding_times(r, 0, 2 * H8) == 2
    assert funding_times(FundingRate(EXCHANGE, SYM, D("0.001")), 0, H8) == 1  # no time known


def test_expected_cost_sums_the_legs_at_their_own_rates() -> None:
    # exchange long 1 at mark 100, rate 0.001: pays 0.1; venue b short 0.5 at 0.003: the
    # short receives 0.15; the kept inventory (net 0.5) is expected to receive 0.05
    v = view(
        holdings={(SYM, EXCHANGE): "1", (SYM, "b"): "-0.5"},
        markets=[EX, B],
        funding=[rate(EXCHANGE, "0.001"), rate("b", "0.003")],
    )
    assert expected_cost(v, SYM, H8) == D("-0.05")
    assert v.funding(SYM, "b") is not None and v.funding(SYM, "c") is None
    # the last rate stands in for a missing prediction
    v2 = view(
        holdings={(SYM, EXCHANGE): "1"}, markets=[EX], funding=[rate(EXCHANGE, None, "0.002")]
    )
    assert expected_cost(v2, SYM, H8) == D("0.2")
    assert expected_cost(view(holdings={(SYM, EXCHANGE): "1"}, markets=[EX]), SYM, H8) is None


def test_internalize_flips_the_kept_inventory_when_funding_costs_too_much() -> None:
    guard = FundingGuardParams(horizon_ms=H8, max_cost=D("0.05"))
    s = Internalize(InternalizeParams(max_notional=D(1000), funding=guard))
    # long 1 at 100 is inside the 1000 limit; rate 0.001 over one funding time costs
    # 1 · 100 · 0.001 = 0.1 > 0.05: flip all of it (99.9 capped 20 bps → 99.8)
    v = view(holdings={(SYM, EXCHANGE): "1"}, markets=[EX], funding=[rate(EXCHANGE, "0.001")])
    assert s.decide(v, Timer(0)) == [
        FlipOnExchange(SYM, D("-1"), D("99.8"), "IOC", D(20), True, "funding cost over limit")
    ]
    # at 0.1 the cost is not over the limit; a negative rate pays the long; no rate, no guard
    at_limit = Internalize(InternalizeParams(max_notional=D(1000), funding=guard.model_copy(
        update={"max_cost": D("0.1")})))  # fmt: skip
    assert at_limit.decide(v, Timer(0)) == []
    paid = view(holdings={(SYM, EXCHANGE): "1"}, markets=[EX], funding=[rate(EXCHANGE, "-0.001")])
    assert s.decide(paid, Timer(0)) == []
    assert s.decide(view(holdings={(SYM, EXCHANGE): "1"}, markets=[EX]), Timer(0)) == []
    # a 16 h horizon sees two funding times: 0.2 > 0.1
    longer = Internalize(
        InternalizeParams(max_notional=D(1000), funding=FundingGuardParams(
            horizon_ms=2 * H8, max_cost=D("0.1")))
    )  # fmt: skip
    assert [i.qty for i in longer.decide(v, Timer(0))] == [D("-1")]
    # without the parameter: nothing (inside the limit)
    assert Internalize(InternalizeParams(max_notional=D(1000))).decide(v, Timer(0)) == []


def test_band_hedge_hedges_inside_the_band_when_funding_costs_too_much() -> None:
    guard = FundingGuardParams(max_cost=D("0.1"))
    s = BandHedge(
        BandHedgeParams(band_notional=D(100), venues=["b"], slippage_bps=D(0), funding=guard)
    )
    # net 0.9 · 100 = 90 is inside the band; at 0.002 it costs 0.9 · 100 · 0.002 = 0.18 > 0.1
    v = view(holdings={(SYM, EXCHANGE): "0.9"}, markets=[EX, B], funding=[rate(EXCHANGE, "0.002")])
    assert s.decide(v, Timer(0)) == [
        Hedge(SYM, "b", D("-0.9"), D("99.8"), "IOC", D(0), "funding cost over limit")
    ]
    # 0.001 costs 0.09: inside the band and under the limit
    cheap = view(
        holdings={(SYM, EXCHANGE): "0.9"}, markets=[EX, B], funding=[rate(EXCHANGE, "0.001")]
    )
    assert s.decide(cheap, Timer(0)) == []
    # a hedged leg that receives more than the kept one pays: no hedge
    hedged = view(
        holdings={(SYM, EXCHANGE): "1.4", (SYM, "b"): "-0.5"},
        markets=[EX, B],
        funding=[rate(EXCHANGE, "0.002"), rate("b", "0.006")],
    )  # 1.4·100·0.002 − 0.5·100·0.006 = 0.28 − 0.3 = −0.02
    assert s.decide(hedged, Timer(0)) == []
