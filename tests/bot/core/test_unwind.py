"""The unwind (ImmediateHedge): both legs reduced when exchange leverage keeps the threshold
down (pure, hand-made views)."""

from __future__ import annotations

from decimal import Decimal

from blp_client.bot.strategy import EXCHANGE, FlipOnExchange, Hedge, Timer
from strategies.immediate_hedge import ImmediateHedge, ImmediateHedgeParams
from strategies.unwind import UnwindParams, unwind

from .._views import account, market, view

D = Decimal
EX = market(EXCHANGE, bids=[("99.9", "50")], asks=[("100.1", "50")], mark="100")
VB = market("binance", bids=[("99.9", "50")], asks=[("100.1", "50")])


def hedged(ex: str, venue: str, equity: str = "1000"):  # type: ignore[no-untyped-def]
    notional = str(abs(D(ex)) * 100)
    return view(
        markets=[EX, VB],
        holdings={("BTC-PERP", EXCHANGE): ex, ("BTC-PERP", "binance"): venue},
        account=account(equity=equity, notional=notional),
    )


def test_unwind_flips_and_closes_down_to_the_target_leverage() -> None:
    # 40 long on the exchange at 100 = 4,000 on 1,000 equity: 4x >= 3x; target 2x → cut 2,000
    got = unwind(hedged("40", "-40"), UnwindParams(), ["binance"])
    assert len(got) == 2
    flip, close = got
    assert isinstance(flip, FlipOnExchange) and flip.reduce_only and flip.qty == D(-20)
    assert isinstance(close, Hedge) and close.venue == "binance" and close.qty == D(20)
    # 50 bps through the touch, rounded inside the cap: 99.9 × 0.995 = 99.40… → 99.5
    assert flip.limit_price == D("99.5") and close.limit_price == D("100.6")


def test_below_the_level_or_unhedged_nothing_happens() -> None:
    assert unwind(hedged("20", "-20"), UnwindParams(), ["binance"]) == []  # 2x < 3x
    assert unwind(hedged("40", "0"), UnwindParams(), ["binance"]) == []  # no venue leg
    assert unwind(hedged("40", "-40"), UnwindParams(unwind=False), ["binance"]) == []
    # only as much as the venue hedge holds
    got = unwind(hedged("40", "-5"), UnwindParams(), ["binance"])
    assert [i.qty for i in got] == [D(-5), D(5)]


def test_immediate_hedge_unwinds_on_its_timer_when_flat() -> None:
    s = ImmediateHedge(ImmediateHedgeParams(venues=["binance"]))
    got = s.decide(hedged("40", "-40"), Timer(0))
    assert [type(i).__name__ for i in got] == ["FlipOnExchange", "Hedge"]
    off = ImmediateHedge(ImmediateHedgeParams(venues=["binance"], unwind=False))
    assert off.decide(hedged("40", "-40"), Timer(0)) == []
