"""Budget spill: queued hedges that waited for their venue's rate budget become one reduce-only
flip on the exchange's own book (pure, hand-made views and orders)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from blp_client.bot.config import ExecutionConfig
from blp_client.bot.core.escalation import Step, next_intent
from blp_client.bot.core.spill import budget_spill
from blp_client.bot.journal_schema import OrderRecord, OrderState
from blp_client.bot.strategy import EXCHANGE, FlipOnExchange, Hedge

from .._views import market, view

D = Decimal
CFG = ExecutionConfig()
VENUE = market("a", bids=[("99.9", "5")], asks=[("100", "5")])
EX = market(EXCHANGE, bids=[("99.5", "10")], asks=[("100.5", "10")], mark="100")


def queued(cid: str, qty: str, *, tif: str = "IOC", reduce_only: bool = False) -> OrderRecord:
    return OrderRecord.pending(
        cid, cid, 0, "a", "BTC-PERP", D(qty), D("99.4"), tif, reduce_only, 0, "assignment"
    )


def steps(
    *orders: OrderRecord, bps: str = "50", tried: tuple[str, ...] = ("a",)
) -> dict[str, Step]:
    return {o.client_order_id: Step(0, D(bps), tried, "strategy") for o in orders}


def v(ex: str | tuple[str, str] = "1", markets: tuple[object, ...] = (VENUE, EX)):  # type: ignore[no-untyped-def]
    return view(markets=markets, holdings={("BTC-PERP", EXCHANGE): ex})  # type: ignore[arg-type]


def test_two_queued_sells_become_one_reduce_only_flip_within_the_strategy_cap() -> None:
    q = [queued("q1", "-0.3"), queued("q2", "-0.2")]
    got = budget_spill(q, steps(*q), v("1"), CFG)
    assert got is not None
    flip, p = got
    # a sell: the exchange's best bid 99.5, 50 bps through it = 99.0025 → 99.1 (never past the cap)
    assert flip == FlipOnExchange("BTC-PERP", D("-0.5"), D("99.1"), "IOC", D(50), True, flip.reason)
    assert (p.venue, p.qty, p.limit_price, p.tif, p.reduce_only) == (
        EXCHANGE,
        D("-0.5"),
        D("99.1"),
        "IOC",
        True,
    )
    assert [o.client_order_id for o in p.joined] == ["q1", "q2"]
    assert p.step == Step(0, D(50), ("a", EXCHANGE), "budget")


def test_a_single_queued_order_spills_too() -> None:
    q = [queued("q1", "0.4")]
    got = budget_spill(q, steps(*q), v("-2"), CFG)
    assert got is not None
    flip, p = got
    # a buy: best ask 100.5, 50 bps above = 101.0025 → 101.0
    assert (flip.qty, flip.limit_price, p.joined) == (D("0.4"), D("101.0"), (q[0],))


def test_it_never_flips_more_than_the_exchange_position_nor_on_the_same_side() -> None:
    q = [queued("q1", "-0.6")]
    assert budget_spill(q, steps(*q), v("0.5"), CFG) is None  # more than is held
    assert budget_spill(q, steps(*q), v("-1"), CFG) is None  # the flip would add to it
    # flips already on their way count: 1 held, 0.5 of it being flipped, 0.6 would be too much
    assert budget_spill(q, steps(*q), v(("1", "-0.5")), CFG) is None
    assert budget_spill(q, steps(*q), v(("1", "-0.4")), CFG) is not None


def test_only_liquidity_taking_hedges_on_a_venue_spill() -> None:
    for order in (queued("g", "-0.1", tif="GTC"), queued("r", "-0.1", reduce_only=True)):
        assert budget_spill([order], steps(order), v(), CFG) is None
    flip = replace(queued("x", "-0.1"), venue=EXCHANGE)
    assert budget_spill([flip], steps(flip), v(), CFG) is None


def test_what_came_back_from_a_spill_never_spills_again() -> None:
    q = [queued("q1", "-0.2")]
    assert budget_spill(q, steps(*q, tried=("a", EXCHANGE)), v(), CFG) is None


def test_off_or_without_an_exchange_book_it_keeps_waiting() -> None:
    q = [queued("q1", "-0.2")]
    off = ExecutionConfig(spill_to_exchange=False)
    assert budget_spill(q, steps(*q), v(), off) is None
    assert budget_spill(q, steps(*q), v(markets=(VENUE,)), CFG) is None
    # a size the exchange's lot cannot carry exactly stays with its venue
    odd = [queued("q1", "-0.0005")]
    coarse = market(EXCHANGE, bids=[("99.5", "10")], asks=[("100.5", "10")], lot="0.001")
    assert budget_spill(odd, steps(*odd), v(markets=(VENUE, coarse)), CFG) is None


def test_without_a_strategy_cap_the_flip_uses_max_slippage() -> None:
    q = [queued("q1", "-0.2")]
    got = budget_spill(q, steps(*q, bps="0"), v(), CFG)
    assert got is not None
    # 100 bps below 99.5 = 98.505 → 98.6
    assert got[0].limit_price == D("98.6") and got[0].slippage_bps == CFG.max_slippage_bps


def test_a_flips_remainder_goes_back_to_its_venue_as_a_strategy_hedge() -> None:
    flip = OrderRecord(
        "n1-0",
        "n1",
        0,
        EXCHANGE,
        "BTC-PERP",
        D("-0.5"),
        D("99.1"),
        "IOC",
        True,
        OrderState.CANCELLED,
        "v1",
        D("-0.2"),
        D("99.3"),
        D(0),
        0,
        0,
        None,
        "budget spill",
    )
    got = next_intent(flip, Step(0, D(50), ("a", EXCHANGE), "budget"), v("0.8"), CFG)
    assert got is not None
    intent, step = got
    # 0.3 left, back on venue a: 50 bps below its bid 99.9 = 99.4005 → 99.5
    assert intent == Hedge("BTC-PERP", "a", D("-0.3"), D("99.5"), "IOC", D(50), intent.reason)
    assert step == Step(1, D(50), ("a", EXCHANGE), "strategy")
    # and it does not spill a second time
    back = queued("b1", "-0.3")
    assert budget_spill([back], {"b1": step}, v("0.8"), CFG) is None
