"""Hand-computed examples of the liquidation waterfall (DOMAIN.md, "The liquidation waterfall").

Through the `Exchange` façade, with an empty book so that mark = index:

* takeover at the zero price(s) of one and of several positions, the account left at exactly 0;
* favorable transfer at ⅔·ZP + ⅓·MP (a third of the equity to the insurance fund);
* toxic transfer at ZP inside the 1 % collar, the insurance fund paying the gap beyond it;
* a BLP overleveraged by its obligation is itself liquidated and its position goes to the
  other BLPs;
* the insurance fund's notional limit, then ADL in rank order at the bankruptcy price;
* socialised loss when the fund runs dry: pro-rata clawback, value conserved.

Every scenario ends by checking that positions sum to zero per contract and that
Σ cash − Σ cost (= Σ equity at any common mark) still equals Σ deposits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import pytest

from blp_client.engine.core import events as ev
from blp_client.engine.core.exchange import Exchange, ExchangeConfig
from blp_client.engine.core.ledger import AccountKind
from blp_client.engine.core.liquidation import WaterfallConfig

D = Decimal
BTC, ETH = "BTC-PERP", "ETH-PERP"
FUND0 = D(1_000_000)  # default insurance fund
E = TypeVar("E", bound=ev.Event)


def of(events: list[ev.Event], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def trader(ex: Exchange, cash: str, *legs: tuple[int, str, str, str]) -> int:
    """A trader with `cash` and legs (counterparty, symbol, signed qty, price)."""
    t = ex.open_account(AccountKind.TRADER, D(cash))
    for cp, symbol, qty, price in legs:
        ex.seed_position(t, cp, symbol, D(qty), D(price))
    return t


def blp(ex: Exchange, threshold: int = 10_000_000, cash: str = "1000000") -> int:
    a = ex.open_account(AccountKind.TRADER, D(cash))
    ex.register_blp(a, D(100_000), D(300_000), {BTC: D(threshold), ETH: D(threshold)})
    return a


def upnl(ex: Exchange, account_id: int) -> Decimal:
    return ex.margin(account_id).upnl


def assert_conserved(ex: Exchange) -> None:
    ledger = ex.ledger
    for symbol in ex.instruments:
        assert sum((a.qty(symbol) for a in ledger.accounts.values()), D(0)) == 0
    assert ledger.value_identity() == ledger.deposits
    # the same at the marks: Σ equity (cash + uPnL) over every account
    equity = sum(
        (
            a.cash + sum((p.upnl(ex.marks[s]) for s, p in a.positions.items()), D(0))
            for a in ledger.accounts.values()
        ),
        D(0),
    )
    assert equity == ledger.deposits


def assert_closed(ex: Exchange, account_id: int) -> None:
    acct = ex.account(account_id)
    assert acct.cash == 0
    assert acct.open_positions() == {}


# ---- favorable ----------------------------------------------------------------------------


def test_favorable_takeover_of_one_long() -> None:
    ex = Exchange()
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    ex.set_index(BTC, D(30000))
    # long 1 at 30 000 with cash 180: liquidation price 30 000 (TAV = MM there)
    t = trader(ex, "180", (mm, BTC, "1", "30000"))
    b = blp(ex)
    ex.set_index(BTC, D(29900))
    # mark 29 900: TAV = 180 − 100 = 80 < MM 179.4, and < TMF·N = 0.003·29 900 = 89.7
    ex.advance(1_000)
    events = ex.drain_events()
    # ZP = 29 900 − 80 = 29 820 (TAV ≥ 0: favorable)
    (took,) = of(events, ev.TakenOver)
    assert (took.account_id, took.qty, took.zero_price, took.mark_price, took.favorable) == (
        t,
        D(1),
        D(29820),
        D(29900),
        True,
    )
    # price ⌊⅔·29 820 + ⅓·29 900⌋ = ⌊29 846.66…⌋ = 29 846.6; discount 53.4/29 900 = 17.86 bps
    (a,) = of(events, ev.Assignment)
    assert (a.account_id, a.side, a.qty, a.price, a.kind, a.discount_bps) == (
        b,
        "buy",
        D(1),
        D("29846.6"),
        "favorable",
        D("17.86"),
    )
    assert_closed(ex, t)
    # fund: bought at 29 820, sold at 29 846.6 → +26.6 (⅓ of TAV 80 = 26.67, less the
    # 0.0666… the tick rounding leaves to the BLP)
    assert ex.insurance_fund.cash == FUND0 + D("26.6")
    assert ex.insurance_fund.qty(BTC) == 0
    # BLP: (29 900 − 29 846.6)·1 = 53.4 at mark; the MM's short: +100.
    # −180 (trader) + 26.6 + 53.4 + 100 = 0
    assert upnl(ex, b) == D("53.4")
    assert upnl(ex, mm) == D(100)
    st = ex.stats
    assert (st.takeovers, st.blp_favorable_notional, st.blp_toxic_notional) == (1, D(29900), D(0))
    assert st.blps[b].discount_value == D("53.4")
    assert_conserved(ex)


def test_zero_price_rounding_residue_goes_to_the_fund() -> None:
    # long 3 at 30 000 with cash 100 at mark 30 000 (N 90 000, MM 780, TMF·N 390 > 100).
    # ZP = 30 000 − 100/3 = 29 966.666… → quantised to 1e-8: 29 966.66666667.
    # Closing at it: 100 + 3·29 966.66666667 − 90 000 = 100 − 99.99999999 = 0.00000001,
    # which the takeover moves to the fund: the account ends at exactly 0.
    # BLP price ⌊⅔·29 966.66666667 + ⅓·30 000⌋ = ⌊29 977.777…⌋ = 29 977.7.
    # Fund: 3·29 977.7 − 3·29 966.66666667 + 0.00000001 = 89 933.1 − 89 900.00000001
    # + 0.00000001 = 33.1; BLP at mark: 3·(30 000 − 29 977.7) = 66.9; 33.1 + 66.9 = 100.
    ex = Exchange()
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    ex.set_index(BTC, D(30000))
    t = trader(ex, "100", (mm, BTC, "3", "30000"))
    b = blp(ex)
    ex.advance(1_000)
    events = ex.drain_events()
    (took,) = of(events, ev.TakenOver)
    assert took.zero_price == D("29966.66666667")
    (a,) = of(events, ev.Assignment)
    assert (a.qty, a.price) == (D(3), D("29977.7"))
    assert_closed(ex, t)
    assert ex.insurance_fund.cash == FUND0 + D("33.1")
    assert upnl(ex, b) == D("66.9")
    assert_conserved(ex)


def test_favorable_takeover_of_two_positions() -> None:
    # BTC long 2 at 30 100, ETH short 5 at 1 990, cash 370 (see test_margin): at marks
    # 30 000 / 2 000, TAV 120, Σ MM 480, TMF·N = 240; ZPs 29 947.5 and 2 003.
    ex = Exchange()
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    ex.set_index(BTC, D(30000))
    ex.set_index(ETH, D(2000))
    t = trader(ex, "370", (mm, BTC, "2", "30100"), (mm, ETH, "-5", "1990"))
    b = blp(ex)
    ex.advance(1_000)
    events = ex.drain_events()
    assert {e.symbol: e.zero_price for e in of(events, ev.TakenOver)} == {
        BTC: D("29947.5"),
        ETH: D("2003"),
    }
    # BTC: ⅔·29 947.5 + ⅓·30 000 = 19 965 + 10 000 = 29 965 (BLP buys 2)
    # ETH: ⅔·2 003 + ⅓·2 000 = 1 335.33… + 666.66… = 2 002 (BLP sells 5)
    assert [(a.symbol, a.side, a.qty, a.price) for a in of(events, ev.Assignment)] == [
        (BTC, "buy", D(2), D(29965)),
        (ETH, "sell", D(5), D(2002)),
    ]
    # closed at the ZPs: 370 + (59 895 − 60 200) + (9 950 − 10 015) = 370 − 305 − 65 = 0
    assert_closed(ex, t)
    # fund: BTC 2·(29 965 − 29 947.5) = 35, ETH 5·(2 003 − 2 002) = 5 → 40 = ⅓·120
    assert ex.insurance_fund.cash == FUND0 + D(40)
    # BLP: BTC 2·(30 000 − 29 965) = 70, ETH 5·(2 002 − 2 000) = 10 → 80 = ⅔·120
    assert upnl(ex, b) == D(80)
    # the statistics, counted from the events: one takeover of two positions
    st = ex.stats
    assert (st.liquidations, st.takeovers, st.takeover_notional) == (1, 1, D(70000))
    assert (st.blp_assigned_notional, st.blps[b].assignments) == (D(70000), 2)
    assert_conserved(ex)
    assert t in ex.liquidator.multi  # checked on every tick while it held two positions
    ex.advance(2_000)
    assert t not in ex.liquidator.multi  # flat after the takeover: no longer


def test_toxic_takeover_of_two_positions_inside_the_collar() -> None:
    # Same positions with cash 202: TAV −48, ZPs 30 021 and 1 998.8 (test_margin), both inside
    # the 1 % collar (30 300 / 1 980): the BLP fills at ZP, the fund pays no gap and the BLP
    # carries the −48: BTC 2·(30 000 − 30 021) = −42, ETH 5·(1 998.8 − 2 000) = −6.
    ex = Exchange()
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    ex.set_index(BTC, D(30000))
    ex.set_index(ETH, D(2000))
    t = trader(ex, "202", (mm, BTC, "2", "30100"), (mm, ETH, "-5", "1990"))
    b = blp(ex)
    ex.advance(1_000)
    events = ex.drain_events()
    assert [(a.symbol, a.qty, a.price, a.kind) for a in of(events, ev.Assignment)] == [
        (BTC, D(2), D(30021), "toxic"),
        (ETH, D(5), D("1998.8"), "toxic"),
    ]
    assert_closed(ex, t)
    assert ex.insurance_fund.cash == FUND0
    assert upnl(ex, b) == D(-48)
    assert_conserved(ex)


# ---- toxic collar --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "index", "zp", "price", "fund_change", "blp_upnl"),
    [
        # long 1, cash 180, mark 29 000: TAV −820, ZP 29 820, collar 29 000·1.01 = 29 290.
        # The fund buys at 29 820 and sells to the BLP at 29 290: it pays 530 = (29 820 −
        # 29 290)·1. BLP at mark: 29 000 − 29 290 = −290. (−180 − 530 − 290 + MM +1 000 = 0)
        ("1", "29000", "29820", "29290", "-530", "-290"),
        # short 1, cash 180, mark 30 500: TAV −320, ZP 30 180, collar 30 500·0.99 = 30 195.
        # The fund sells at 30 180 and buys from the BLP at 30 195: it pays 15.
        # BLP at mark: 30 195 − 30 500 = −305.
        ("-1", "30500", "30180", "30195", "-15", "-305"),
        # long 1, cash 180, mark 29 700: TAV −120, ZP 29 820 inside the collar 29 997:
        # the BLP pays ZP, the fund pays nothing, the BLP carries −120.
        ("1", "29700", "29820", "29820", "0", "-120"),
    ],
)
def test_toxic_takeover_is_collared_and_the_fund_pays_the_gap(
    qty: str, index: str, zp: str, price: str, fund_change: str, blp_upnl: str
) -> None:
    ex = Exchange()
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    ex.set_index(BTC, D(30000))
    t = trader(ex, "180", (mm, BTC, qty, "30000"))  # liquidation price 30 000 either side
    b = blp(ex)
    ex.set_index(BTC, D(index))
    ex.advance(1_000)
    events = ex.drain_events()
    (took,) = of(events, ev.TakenOver)
    assert (took.zero_price, took.favorable) == (D(zp), False)
    (a,) = of(events, ev.Assignment)
    assert (a.qty, a.price, a.kind) == (D(1), D(price), "toxic")
    # never more than 1 % off mark
    assert abs(a.price - D(index)) <= D(index) / 100
    assert_closed(ex, t)
    assert ex.insurance_fund.cash - FUND0 == D(fund_change)
    assert ex.insurance_fund.qty(BTC) == 0
    assert upnl(ex, b) == D(blp_upnl)
    assert ex.stats.blp_toxic_notional == D(index)
    assert_conserved(ex)


# ---- an overleveraged BLP ------------------------------------------------------------------


def test_blp_overleveraged_by_its_obligation_goes_to_the_other_blps() -> None:
    ex = Exchange()
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    ex.set_index(BTC, D(30000))
    # BLP a has 199.8 of collateral; b and c start with threshold 0 (they take nothing yet).
    a = blp(ex, cash="199.8")
    b = blp(ex, threshold=0)
    c = blp(ex, threshold=0)
    # t = 1 s: a long 3, TAV 150 (N 90 000, MM 1 080 − 300 = 780, TMF·N 390) is taken over:
    # ZP 30 000 − 50 = 29 950; a must buy all 3 at ⌊⅔·29 950 + ⅓·30 000⌋ = 29 966.6 — margin
    # does not gate the obligation. Fund: 3·(29 966.6 − 29 950) = +49.8.
    t = trader(ex, "150", (mm, BTC, "3", "30000"))
    ex.advance(1_000)
    (first,) = of(ex.drain_events(), ev.Assignment)
    assert (first.account_id, first.qty, first.price) == (a, D(3), D("29966.6"))
    assert_closed(ex, t)
    # a: TAV = 199.8 + 3·(30 000 − 29 966.6) = 199.8 + 100.2 = 300 < MM 780, and < 390.
    snap = ex.margin(a)
    assert (snap.equity, snap.mm, snap.liquidatable, snap.below_tmf) == (D(300), D(780), True, True)
    ex.set_threshold(b, BTC, D(10_000_000))
    ex.set_threshold(c, BTC, D(10_000_000))
    # t = 2 s: a is liquidated and taken over at ZP 30 000 − 300/3 = 29 900 (favorable);
    # its 3 BTC go to b and c (equal caps 3.333 → 1.5 each) at ⌊⅔·29 900 + ⅓·30 000⌋
    # = ⌊19 933.33… + 10 000⌋ = 29 933.3.
    ex.advance(2_000)
    events = ex.drain_events()
    assert [e.account_id for e in of(events, ev.LiquidationStarted)] == [a]
    (took,) = of(events, ev.TakenOver)
    assert (took.account_id, took.qty, took.zero_price) == (a, D(3), D(29900))
    got = [(x.account_id, x.qty, x.price) for x in of(events, ev.Assignment)]
    assert got == [(b, D("1.5"), D("29933.3")), (c, D("1.5"), D("29933.3"))]
    # a: 199.8 + 3·(29 900 − 29 966.6) = 199.8 − 199.8 = 0, flat, out of the program
    assert_closed(ex, a)
    assert not ex.blp(a).opted_in
    assert ex.stats.blp_liquidations == 1 and ex.stats.blps[a].liquidated
    # fund: 49.8 + 3·(29 933.3 − 29 900) = 49.8 + 99.9 = 149.7
    assert ex.insurance_fund.cash == FUND0 + D("149.7")
    # b, c: 1.5·(30 000 − 29 933.3) = 100.05 each. −150 − 199.8 + 149.7 + 200.1 = 0
    assert upnl(ex, b) == upnl(ex, c) == D("100.05")
    assert_conserved(ex)


# ---- insurance fund limit and ADL ----------------------------------------------------------


def adl_population(ex: Exchange, mm: int) -> tuple[int, int, int, int]:
    """Four shorts at mark 30 000 (rank = PnL% × leverage if PnL% > 0, else PnL% / leverage,
    leverage = notional / equity):

    s1: short 0.5 at 33 000, cash 1 500: uPnL 16 500 − 15 000 = 1 500, PnL% 1 500/16 500
        = 0.0909…, equity 3 000, lev 15 000/3 000 = 5 → rank 0.4545…
    s2: short 0.4 at 36 000, cash 12 000: uPnL 14 400 − 12 000 = 2 400, PnL% 0.1666…,
        equity 14 400, lev 12 000/14 400 = 0.8333… → rank 0.1388…
    s3: short 1 at 30 000, cash 3 000: PnL% 0 → rank 0 (lev 10)
    s4: short 0.2 at 27 000, cash 1 000: uPnL 5 400 − 6 000 = −600, PnL% −0.111…, equity 400,
        lev 15 → rank −0.0074…

    Order s1, s2, s3, s4; by PnL% alone it would be s2, s1, s3, s4 and by leverage alone
    s4, s3, s1, s2.
    """
    s1 = trader(ex, "1500", (mm, BTC, "-0.5", "33000"))
    s2 = trader(ex, "12000", (mm, BTC, "-0.4", "36000"))
    s3 = trader(ex, "3000", (mm, BTC, "-1", "30000"))
    s4 = trader(ex, "1000", (mm, BTC, "-0.2", "27000"))
    return s1, s2, s3, s4


def test_adl_in_rank_order_at_the_bankruptcy_price() -> None:
    # no BLPs and a fund that may hold nothing: everything is auto-deleveraged
    ex = Exchange(ExchangeConfig(waterfall=WaterfallConfig(fund_max_notional=D(0))))
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    ex.set_index(BTC, D(30000))
    s1, s2, s3, s4 = adl_population(ex, mm)
    # long 1 with cash 60: TAV 60 < TMF·N 90, ZP 29 940
    t = trader(ex, "60", (mm, BTC, "1", "30000"))
    ex.advance(1_000)
    events = ex.drain_events()
    assert of(events, ev.Assignment) == [] and of(events, ev.InsuranceKept) == []
    adl = of(events, ev.AutoDeleveraged)
    # 1 BTC: s1 all 0.5, s2 all 0.4, s3 the last 0.1; s4 untouched; all at ZP 29 940
    assert [(e.account_id, e.qty, e.price) for e in adl] == [
        (s1, D("0.5"), D(29940)),
        (s2, D("0.4"), D(29940)),
        (s3, D("0.1"), D(29940)),
    ]
    assert [e.rank.quantize(D("0.000001")) for e in adl] == [
        D("0.454545"),
        D("0.138889"),
        D("0.000000"),
    ]
    assert_closed(ex, t)
    # s1: 1 500 + (16 500 − 0.5·29 940) = 1 500 + 1 530 = 3 030
    # s2: 12 000 + (14 400 − 0.4·29 940) = 12 000 + 2 424 = 14 424
    # s3: keeps −0.9 at 30 000 (cost −27 000); realised 0.1·(30 000 − 29 940) = 6 → 3 006
    assert ex.account(s1).cash == D(3030)
    assert ex.account(s2).cash == D(14424)
    assert ex.account(s3).cash == D(3006)
    assert ex.account(s3).positions[BTC].cost == D(-27000)
    assert ex.account(s4).qty(BTC) == D("-0.2")
    # the fund bought at 29 940 and closed at 29 940: flat, unchanged
    assert (ex.insurance_fund.qty(BTC), ex.insurance_fund.cash) == (D(0), FUND0)
    assert (ex.stats.adl_count, ex.stats.adl_notional) == (3, D(30000))
    assert_conserved(ex)


def test_fund_keeps_up_to_its_limit_and_the_rest_is_deleveraged() -> None:
    # fund limit 15 000 = 0.5 BTC at 30 000: of the long 1 it keeps 0.5, ADL closes 0.5 (all
    # of s1, the best rank).
    ex = Exchange(ExchangeConfig(waterfall=WaterfallConfig(fund_max_notional=D(15000))))
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    ex.set_index(BTC, D(30000))
    s1, s2, _, _ = adl_population(ex, mm)
    trader(ex, "60", (mm, BTC, "1", "30000"))
    ex.advance(1_000)
    events = ex.drain_events()
    assert [(e.qty, e.price) for e in of(events, ev.InsuranceKept)] == [(D("0.5"), D(29940))]
    assert [(e.account_id, e.qty) for e in of(events, ev.AutoDeleveraged)] == [(s1, D("0.5"))]
    assert ex.insurance_fund.qty(BTC) == D("0.5")
    assert ex.account(s2).qty(BTC) == D("-0.4")
    assert_conserved(ex)


# ---- socialised loss -----------------------------------------------------------------------


def test_socialised_loss_when_the_fund_runs_dry() -> None:
    # The toxic long of the collar test (fund pays 530) with a fund of only 100.
    ex = Exchange(ExchangeConfig(insurance_fund=D(100)))
    ex.set_index(BTC, D(30000))
    p1 = ex.open_account(AccountKind.TRADER, D(1000))
    p2 = ex.open_account(AccountKind.TRADER, D(1000))
    t = trader(ex, "180", (p1, BTC, "0.6", "30000"), (p2, BTC, "0.4", "30000"))
    b = blp(ex)
    ex.set_index(BTC, D(29000))
    ex.advance(1_000)
    events = ex.drain_events()
    (a,) = of(events, ev.Assignment)
    assert (a.account_id, a.price) == (b, D(29290))
    # fund: 100 − 530 = −430. Profits at 29 000: p1 0.6·1 000 = 600, p2 0.4·1 000 = 400
    # (the BLP is at −290, the trader flat). Rate 430/1 000 = 0.43:
    # p1 600·0.43 = 258, p2 400·0.43 = 172.
    (soc,) = of(events, ev.SocializedLoss)
    assert (soc.amount, soc.total_profit, soc.rate) == (D(430), D(1000), D("0.43"))
    assert soc.debits == ((p1, D(258)), (p2, D(172)))
    assert ex.insurance_fund.cash == 0
    assert ex.account(p1).cash == D(742)
    assert ex.account(p2).cash == D(828)
    assert ex.account(b).cash == D(1_000_000)
    assert_closed(ex, t)
    st = ex.stats
    assert (st.socialized_loss, st.socialized_events, st.max_clawback_rate) == (
        D(430),
        1,
        D("0.43"),
    )
    assert_conserved(ex)


def test_socialised_loss_rounding_crumb_goes_to_the_largest_profit() -> None:
    # long 0.9 at 30 000 with cash 162: ZP 30 000 − 162/0.9 = 29 820 (liquidation price
    # (27 000 − 162)/(0.9·0.994) = 30 000). Mark 29 000: BLP pays 29 290, the fund pays
    # 0.9·530 = 477; with 377 in the fund, 100 is uncovered.
    # Three equal profits 0.3·1 000 = 300 (Σ 900): 100·300/900 = 33.333333333… → 33.33333333
    # each, 0.00000001 left over, which goes to the largest profit, ties to the lowest id.
    ex = Exchange(ExchangeConfig(insurance_fund=D(377)))
    ex.set_index(BTC, D(30000))
    ps = [ex.open_account(AccountKind.TRADER, D(1000)) for _ in range(3)]
    trader(ex, "162", *((p, BTC, "0.3", "30000") for p in ps))
    blp(ex)
    ex.set_index(BTC, D(29000))
    ex.advance(1_000)
    (soc,) = of(ex.drain_events(), ev.SocializedLoss)
    assert soc.amount == D(100)
    assert soc.debits == (
        (ps[0], D("33.33333334")),
        (ps[1], D("33.33333333")),
        (ps[2], D("33.33333333")),
    )
    assert ex.insurance_fund.cash == 0
    assert [ex.account(p).cash for p in ps] == [
        D("966.66666666"),
        D("966.66666667"),
        D("966.66666667"),
    ]
    assert_conserved(ex)
