"""Two-sided reconciliation as decisions (`core.positions`, `Decider.on_corrected`): what
differs is found on every side, only what two reads agree on is corrected, and the hedge that
follows is of the true net exposure, decided on the corrected inventory."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from blp_client.bot.config import BotConfig
from blp_client.bot.core.decider import Decider
from blp_client.bot.core.positions import Mismatch, confirmed, mismatches
from blp_client.bot.strategy import EXCHANGE, Hedge, Holding, Inventory, VenueMargin
from strategies.immediate_hedge import ImmediateHedge, ImmediateHedgeParams

from .._views import SYM, account, market, profile

D = Decimal
CONFIG = BotConfig.model_validate(
    {"venues": {"binance": {"ccxt_id": "binanceusdm"}}, "risk": {"monitor": False}}
)


def test_an_engine_restart_and_a_manual_trade_are_found_on_both_sides() -> None:
    journal = {(SYM, EXCHANGE): D("0.3"), (SYM, "binance"): D("-0.3")}
    held = {EXCHANGE: {}, "binance": {SYM: D("-0.2")}}  # reset; someone bought 0.1
    assert mismatches(journal, held, [SYM]) == [
        Mismatch("binance", SYM, D("-0.3"), D("-0.2")),
        Mismatch(EXCHANGE, SYM, D("0.3"), D(0)),  # a contract read nowhere still counts
    ]
    assert mismatches(journal, {EXCHANGE: {SYM: D("0.3")}}, []) == []  # agreement: nothing


def test_only_figures_both_reads_saw_are_corrected() -> None:
    a = Mismatch("binance", SYM, D("-0.3"), D("-0.2"))
    settling = Mismatch(EXCHANGE, SYM, D("0.3"), D("0.25"))  # a fill still being booked
    settled = Mismatch(EXCHANGE, SYM, D("0.3"), D("0.2"))
    assert confirmed([a, settling], [a, settled]) == [a]


amounts = st.decimals(min_value=-5, max_value=5, places=3, allow_nan=False)
venues = st.sampled_from([EXCHANGE, "binance", "okx"])
symbols = st.sampled_from([SYM, "ETH-PERP"])


@given(
    journal=st.dictionaries(st.tuples(symbols, venues), amounts, max_size=6),
    held=st.dictionaries(venues, st.dictionaries(symbols, amounts, max_size=2), max_size=3),
)
def test_applying_the_corrections_makes_the_journal_say_what_is_held(
    journal: dict[tuple[str, str], Decimal], held: dict[str, dict[str, Decimal]]
) -> None:
    fixed = dict(journal)
    for m in mismatches(journal, held, [SYM]):
        delta = m.correction
        key = (delta.symbol, delta.venue)
        fixed[key] = fixed.get(key, D(0)) + delta.qty
    assert mismatches(fixed, held, [SYM]) == []
    for venue, positions in held.items():  # every side read now agrees, contract by contract
        for s, qty in positions.items():
            assert fixed.get((s, venue), D(0)) == qty
    # sides not read are left as they were
    assert {k: v for k, v in fixed.items() if k[1] not in held} == {
        k: v for k, v in journal.items() if k[1] not in held
    }


def test_the_hedge_after_a_correction_is_of_the_true_net_exposure() -> None:
    d = Decider(ImmediateHedge(ImmediateHedgeParams(venues=["binance"])), CONFIG)
    ex = market(EXCHANGE, bids=[("49990", "10")], asks=[("50010", "10")], mark="50000")
    vb = market("binance", bids=[("49990", "10")], asks=[("50010", "10")])
    d.readings.markets = {(SYM, EXCHANGE): ex, (SYM, "binance"): vb}
    d.observe_account(0, profile({SYM: "1000000"}), account(equity="100000", notional="0"))
    d.observe_margins(0, {"binance": VenueMargin("binance", D(1_000_000))})
    inv = Inventory({(SYM, EXCHANGE): Holding(D("0.3")), (SYM, "binance"): Holding(D("-0.3"))})
    # the journal nets to 0, so the strategy alone would do nothing
    sure = [
        Mismatch("binance", SYM, D("-0.3"), D("-0.2")),
        Mismatch(EXCHANGE, SYM, D("0.3"), D(0)),
    ]
    out = d.on_corrected(sure, inv, 1_000)
    assert out.record is not None and out.record.source == "c"
    assert [(p.venue, p.qty) for p in out.record.positions] == [
        ("binance", D("0.1")),
        (EXCHANGE, D("-0.3")),
    ]
    # true net: 0 (exchange) − 0.2 (venue) = −0.2 → buy 0.2 on the venue, nothing more
    [hedge] = out.record.intents
    assert isinstance(hedge, Hedge)
    assert (hedge.venue, hedge.symbol, hedge.qty) == ("binance", SYM, D("0.2"))
