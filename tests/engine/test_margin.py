"""Hand-computed examples of the margin rules (DOMAIN.md, "Vocabulary").

* tiered maintenance/initial margin, continuous across every tier boundary via the cum term;
* equity, MF / MMF / IMF / TMF and the liquidation trigger TAV < Σ MM;
* liquidation prices of single-position accounts (also inside a higher tier);
* zero (bankruptcy) prices: one position, several positions (equity shared by MM), TAV < 0.

Every number in the asserts is worked out by hand in the comment next to it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from blp_client.engine.core import events as ev
from blp_client.engine.core.exchange import Exchange
from blp_client.engine.core.instruments import (
    ASCENDEX_BTC_TIERS,
    ETH_TIERS,
    default_instruments,
)
from blp_client.engine.core.ledger import Account, AccountKind, Position
from blp_client.engine.core.margin import (
    liquidation_price,
    snapshot,
    takeover_margin_fraction,
    zero_prices,
)

D = Decimal
BTC, ETH = "BTC-PERP", "ETH-PERP"
INSTR = default_instruments()
BTC_I, ETH_I = INSTR[BTC], INSTR[ETH]


def account(cash: str, **positions: tuple[str, str]) -> Account:
    """An account with `cash` and positions given as symbol-key → (signed qty, cost)."""
    acct = Account(id=1, kind=AccountKind.TRADER, cash=D(cash))
    for key, (qty, cost) in positions.items():
        acct.positions[{"btc": BTC, "eth": ETH}[key]] = Position(D(qty), D(cost))
    return acct


# ---- tiers ---------------------------------------------------------------------------------


def test_cum_terms_of_the_ascendex_btc_tiers() -> None:
    # cum_k = cum_{k-1} + floor_k·(rate_k − rate_{k-1})
    # MM: 0
    #     50 000·(0.012−0.006)      = 300            → 300
    #     200 000·(0.024−0.012)     = 2 400          → 2 700
    #     2 000 000·(0.06−0.024)    = 72 000         → 74 700
    #     20 000 000·(0.12−0.06)    = 1 200 000      → 1 274 700
    #     40 000 000·(0.20−0.12)    = 3 200 000      → 4 474 700
    # IM: 0
    #     50 000·(0.02−0.01)        = 500            → 500
    #     200 000·(0.04−0.02)       = 4 000          → 4 500
    #     2 000 000·(0.10−0.04)     = 120 000        → 124 500
    #     20 000 000·(0.20−0.10)    = 2 000 000      → 2 124 500
    #     40 000 000·(0.333−0.20)   = 5 320 000      → 7 444 500
    assert [t.cum_mm for t in ASCENDEX_BTC_TIERS] == [0, 300, 2700, 74700, 1274700, 4474700]
    assert [t.cum_im for t in ASCENDEX_BTC_TIERS] == [0, 500, 4500, 124500, 2124500, 7444500]
    # ETH floors are a fifth: MM cum 10 000·0.006 = 60, + 40 000·0.012 = 480 → 540, …
    assert [t.cum_mm for t in ETH_TIERS][:3] == [0, 60, 540]
    assert [t.cum_im for t in ETH_TIERS][:3] == [0, 100, 900]


@pytest.mark.parametrize(
    ("notional", "mm"),
    [
        # boundary 50 000 (tier 1: 0.6 %, cum 0 | tier 2: 1.2 %, cum 300)
        ("49999.9", "299.9994"),  # 49 999.9·0.006
        ("50000", "300"),  # 50 000·0.012 − 300 = 600 − 300 (= 50 000·0.006 of tier 1)
        ("50000.1", "300.0012"),  # 600.0012 − 300
        # boundary 200 000 (tier 2 | tier 3: 2.4 %, cum 2 700)
        ("199999.9", "2099.9988"),  # 2 399.9988 − 300
        ("200000", "2100"),  # 4 800 − 2 700 (= 2 400 − 300 of tier 2)
        ("200000.1", "2100.0024"),  # 4 800.0024 − 2 700
        # boundary 2 000 000 (tier 3 | tier 4: 6 %, cum 74 700)
        ("1999999.9", "45299.9976"),  # 47 999.9976 − 2 700
        ("2000000", "45300"),  # 120 000 − 74 700 (= 48 000 − 2 700)
        ("2000000.1", "45300.006"),  # 120 000.006 − 74 700
        # boundary 20 000 000 (tier 4 | tier 5: 12 %, cum 1 274 700)
        ("19999999.9", "1125299.994"),  # 1 199 999.994 − 74 700
        ("20000000", "1125300"),  # 2 400 000 − 1 274 700 (= 1 200 000 − 74 700)
        ("20000000.1", "1125300.012"),  # 2 400 000.012 − 1 274 700
        # boundary 40 000 000 (tier 5 | tier 6: 20 %, cum 4 474 700)
        ("39999999.9", "3525299.988"),  # 4 799 999.988 − 1 274 700
        ("40000000", "3525300"),  # 8 000 000 − 4 474 700 (= 4 800 000 − 1 274 700)
        ("40000000.1", "3525300.02"),  # 8 000 000.02 − 4 474 700
    ],
)
def test_maintenance_margin_around_tier_boundaries(notional: str, mm: str) -> None:
    assert BTC_I.maintenance_margin(D(notional)) == D(mm)


@pytest.mark.parametrize(
    ("floor", "lower_mmr", "lower_cum"),
    [
        ("50000", "0.006", "0"),
        ("200000", "0.012", "300"),
        ("2000000", "0.024", "2700"),
        ("20000000", "0.06", "74700"),
        ("40000000", "0.12", "1274700"),
    ],
)
def test_mm_is_continuous_at_each_boundary(floor: str, lower_mmr: str, lower_cum: str) -> None:
    # At the floor the upper tier's formula (used by the engine: N ≥ floor) must equal the lower
    # tier's formula N·MMR_{k−1} − cum_{k−1}; without the cum term it would jump by
    # floor·(MMR_k − MMR_{k−1}) (300 at 50 000).
    n = D(floor)
    assert BTC_I.tier(n).floor == n  # the boundary belongs to the upper tier
    assert BTC_I.maintenance_margin(n) == n * D(lower_mmr) - D(lower_cum)
    # the jump from one tick of notional below to the boundary is tiny (lower MMR·0.1)
    assert BTC_I.maintenance_margin(n) - BTC_I.maintenance_margin(n - D("0.1")) == (
        D("0.1") * D(lower_mmr)
    )


@pytest.mark.parametrize(
    ("notional", "im"),
    [
        ("49999.9", "499.999"),  # 49 999.9·0.01
        ("50000", "500"),  # 50 000·0.02 − 500
        ("50000.1", "500.002"),  # 1 000.002 − 500
        ("200000", "3500"),  # 8 000 − 4 500 (= 4 000 − 500)
        ("2000000", "75500"),  # 200 000 − 124 500 (= 80 000 − 4 500)
        ("20000000", "1875500"),  # 4 000 000 − 2 124 500 (= 2 000 000 − 124 500)
        ("40000000", "5875500"),  # 13 320 000 − 7 444 500 (= 8 000 000 − 2 124 500)
    ],
)
def test_initial_margin_around_tier_boundaries(notional: str, im: str) -> None:
    assert BTC_I.initial_margin(D(notional)) == D(im)


def test_eth_mm_at_its_first_boundary() -> None:
    # ETH boundary 10 000: 9 999.99·0.006 = 59.99994; 10 000·0.012 − 60 = 60; 10 000.01 → 60.00012
    assert ETH_I.maintenance_margin(D("9999.99")) == D("59.99994")
    assert ETH_I.maintenance_margin(D("10000")) == D("60")
    assert ETH_I.maintenance_margin(D("10000.01")) == D("60.00012")


# ---- account snapshot ----------------------------------------------------------------------


def test_snapshot_of_two_positions_in_different_tiers() -> None:
    # BTC long 2 entry 30 100 (cost 60 200), ETH short 5 entry 1 990 (cost −9 950), cash 370.
    # Marks 30 000 / 2 000:
    #   uPnL = 2·30 000 − 60 200 + (−5·2 000 + 9 950) = −200 − 50 = −250;  TAV = 370 − 250 = 120
    #   notional = 60 000 + 10 000 = 70 000
    #   MM = (60 000·0.012 − 300) + (10 000·0.012 − 60) = 420 + 60 = 480
    #   IM = (60 000·0.02 − 500) + (10 000·0.02 − 100) = 700 + 100 = 800
    acct = account("370", btc=("2", "60200"), eth=("-5", "-9950"))
    snap = snapshot(acct, {BTC: D("30000"), ETH: D("2000")}, INSTR)
    assert (snap.upnl, snap.equity, snap.notional) == (D(-250), D(120), D(70000))
    assert (snap.mm, snap.im) == (D(480), D(800))
    assert snap.mf == D(120) / D(70000)
    assert snap.mmf == D(480) / D(70000)
    assert snap.imf == D(800) / D(70000)
    # TMF = max(MMF/2, MMF − 6 %) = MMF/2 (MMF < 12 %): TMF·notional = 240 > TAV 120
    assert snap.tmf == D(480) / D(70000) / 2
    assert snap.liquidatable and snap.below_tmf and not snap.above_imf
    # leverage = 70 000 / 120
    assert snap.leverage == D(70000) / D(120)


def test_tmf_takes_mmf_minus_six_percent_above_twelve_percent() -> None:
    # 2 500 BTC at 40 000 = 100 000 000 notional, tier 6: MM = 20 000 000 − 4 474 700
    # = 15 525 300, MMF = 0.155253; MMF/2 = 0.0776265 < MMF − 0.06 = 0.095253.
    acct = account("20000000", btc=("2500", "100000000"))
    snap = snapshot(acct, {BTC: D("40000")}, INSTR)
    assert snap.mm == D("15525300")
    assert snap.mmf == D("0.155253")
    assert snap.tmf == D("0.095253")
    # and below 12 % it is the half: MMF 0.006 → 0.003
    assert takeover_margin_fraction(D("0.006")) == D("0.003")
    assert takeover_margin_fraction(D("0.12")) == D("0.06")  # both branches meet at 12 %


def test_liquidatable_only_strictly_below_mm() -> None:
    # Long 1 BTC at 30 000 with 180 cash. Mark 30 000: TAV 180 = MM 30 000·0.006 = 180 → safe.
    # Mark 29 999.9: TAV 179.9 < MM 179.9994 → liquidatable.
    acct = account("180", btc=("1", "30000"))
    at = snapshot(acct, {BTC: D("30000")}, INSTR)
    assert (at.equity, at.mm, at.liquidatable) == (D(180), D(180), False)
    below = snapshot(acct, {BTC: D("29999.9")}, INSTR)
    assert (below.equity, below.mm, below.liquidatable) == (D("179.9"), D("179.9994"), True)


# ---- liquidation price ---------------------------------------------------------------------


def test_liquidation_price_single_positions() -> None:
    # Long 1 at 30 000, cash 180: 180 + P − 30 000 = 0.006·P → P = 29 820 / 0.994 = 30 000.
    assert liquidation_price(D(180), Position(D(1), D(30000)), BTC_I) == D(30000)
    # Short 1 at 30 000, cash 180: 180 + 30 000 − P = 0.006·P → P = 30 180 / 1.006 = 30 000.
    assert liquidation_price(D(180), Position(D(-1), D(-30000)), BTC_I) == D(30000)
    # Long 2 at 30 000, cash 420. Tier 1 root: (60 000 − 420)/1.988 = 29 969.8… → notional
    # 59 939.6 is not < 50 000, rejected. Tier 2: (60 000 − 420 − 300)/(2·0.988) = 59 280/1.976
    # = 30 000 (notional 60 000 in [50 000, 200 000)).
    assert liquidation_price(D(420), Position(D(2), D(60000)), BTC_I) == D(30000)
    # Over-collateralised long: no price liquidates it.
    assert liquidation_price(D(40000), Position(D(1), D(30000)), BTC_I) == 0


def test_exchange_starts_liquidation_one_tick_below_the_liquidation_price() -> None:
    # The same long 1 at 30 000 with 180 cash (liquidation price 30 000, see above).
    ex = Exchange()
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    t = ex.open_account(AccountKind.TRADER, D(180))
    ex.seed_position(t, mm, BTC, D(1), D(30000))
    ex.set_index(BTC, D("30000"))  # TAV 180 == MM 180: not liquidatable
    assert not [e for e in ex.drain_events() if isinstance(e, ev.LiquidationStarted)]
    ex.set_index(BTC, D("29999.9"))  # TAV 179.9 < MM 179.9994
    started = [e for e in ex.drain_events() if isinstance(e, ev.LiquidationStarted)]
    assert [(e.account_id, e.equity) for e in started] == [(t, D("179.9"))]


# ---- zero (bankruptcy) prices --------------------------------------------------------------


def test_zero_price_single_long() -> None:
    # Long 1 at 30 000, cash 180, mark 29 900: TAV = 180 − 100 = 80.
    # PMPD = TAV/notional = 80/29 900; ZP = 29 900·(1 − 80/29 900) = 29 900 − 80 = 29 820.
    # Check: closing at 29 820 realises −180 → cash 0.
    acct = account("180", btc=("1", "30000"))
    assert zero_prices(acct, {BTC: D("29900")}, INSTR) == {BTC: D("29820")}
    # TAV < 0 (mark 29 000, TAV = −820): ZP = 29 000 + 820 = 29 820 again — with one position
    # ZP = (cost − cash)/qty whatever the mark; now it is worse than mark for a buyer.
    assert zero_prices(acct, {BTC: D("29000")}, INSTR) == {BTC: D("29820")}


def test_zero_price_single_short() -> None:
    # Short 2 at 30 000 (cost −60 000), cash 500, mark 30 100: uPnL = −200, TAV = 300.
    # ZP = 30 100·(1 + 300/60 200) = 30 100 + 150 = 30 250. Check: 500 + 2·(30 000 − 30 250) = 0.
    acct = account("500", btc=("-2", "-60000"))
    assert zero_prices(acct, {BTC: D("30100")}, INSTR) == {BTC: D("30250")}


def test_zero_prices_share_equity_by_maintenance_margin() -> None:
    # The two-position account above: TAV 120, MM_btc 420, MM_eth 60, Σ MM 480.
    #   BTC: share 120·420/480 = 105; PMPD 105/60 000 = 0.00175; ZP = 30 000·(1 − 0.00175)
    #        = 29 947.5 (long: below mark)
    #   ETH: share 120·60/480 = 15; PMPD 15/10 000 = 0.0015; ZP = 2 000·(1 + 0.0015) = 2 003
    #        (short: above mark)
    # Sharing by notional instead (PMPD = 120/70 000 for both) would give 29 948.57… / 2 003.43…
    marks = {BTC: D("30000"), ETH: D("2000")}
    acct = account("370", btc=("2", "60200"), eth=("-5", "-9950"))
    zps = zero_prices(acct, marks, INSTR)
    assert zps == {BTC: D("29947.5"), ETH: D("2003")}
    # Closing both at their ZPs leaves equity exactly 0:
    # 370 + 2·29 947.5 − 60 200 + (−5·2 003 + 9 950) = 370 − 305 − 65 = 0
    closed = D(370) + (2 * zps[BTC] - D(60200)) + (-5 * zps[ETH] + D(9950))
    assert closed == 0


def test_zero_prices_with_negative_equity_are_worse_than_mark() -> None:
    # Same positions, cash 202: TAV = 202 − 250 = −48.
    #   BTC: share −48·0.875 = −42; PMPD −0.0007; ZP = 30 000·1.0007 = 30 021 (> mark)
    #   ETH: share −48·0.125 = −6;  PMPD −0.0006; ZP = 2 000·0.9994 = 1 998.8 (< mark)
    # Check: 202 + (2·30 021 − 60 200) + (−5·1 998.8 + 9 950) = 202 − 158 − 44 = 0
    marks = {BTC: D("30000"), ETH: D("2000")}
    acct = account("202", btc=("2", "60200"), eth=("-5", "-9950"))
    assert zero_prices(acct, marks, INSTR) == {BTC: D("30021"), ETH: D("1998.8")}
