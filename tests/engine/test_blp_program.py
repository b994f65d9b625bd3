"""Hand-computed examples of the BLP program rules (DOMAIN.md, "The BLP program").

* assignment prices: favorable ⅔·ZP + ⅓·MP and the toxic 1 % collar, rounded to the tick in
  the BLP's favour;
* pro-rata allocation to remaining capacity with lot rounding and water-filling (pure and
  through the exchange with three BLPs, one capped by its threshold);
* the rolling 60 s / 3600 s windows at their exact edges (pure and through the exchange);
* the Max Position Notional Threshold as a hard cap, and reductions allowed above it.

Exchange scenarios keep the mark at 30 000 (no book, so mark = index) and liquidate traders that
are seeded already below their takeover margin: a long q BTC at 30 000 with cash c has
TAV = c and ZP = 30 000 − c/q, so every price below is computable by hand.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from blp_client.engine.core import events as ev
from blp_client.engine.core.blp import (
    BLP,
    HOUR_MS,
    MINUTE_MS,
    ProgramConfig,
    allocate,
    assignment_price,
    capacity_qty,
    discount_bps,
    threshold_headroom_qty,
)
from blp_client.engine.core.exchange import Exchange
from blp_client.engine.core.ledger import AccountKind

D = Decimal
BTC, ETH = "BTC-PERP", "ETH-PERP"
CFG = ProgramConfig()
BTC_TICK, ETH_TICK = D("0.1"), D("0.01")
LOT = D("0.001")
MARK = D("30000")


# ---- helpers for exchange scenarios --------------------------------------------------------


def exchange() -> tuple[Exchange, int]:
    """An exchange at mark 30 000 (empty book: mark = index) and a rich counterparty."""
    ex = Exchange()
    ex.set_index(BTC, MARK)
    mm = ex.open_account(AccountKind.MARKET_MAKER, D(1_000_000_000))
    return ex, mm


def bankrupt_trader(ex: Exchange, mm: int, qty: str, cash: str) -> int:
    """A trader with `qty` BTC at 30 000 and `cash`: TAV = cash, below TMF at mark 30 000."""
    t = ex.open_account(AccountKind.TRADER, D(cash))
    ex.seed_position(t, mm, BTC, D(qty), MARK)
    return t


def blp(ex: Exchange, minute: int, hour: int, threshold: int, cash: int = 1_000_000) -> int:
    a = ex.open_account(AccountKind.TRADER, D(cash))
    ex.register_blp(a, D(minute), D(hour), {BTC: D(threshold)})
    return a


def assignments(ex: Exchange) -> list[ev.Assignment]:
    return [e for e in ex.drain_events() if isinstance(e, ev.Assignment)]


def qty_of(ex: Exchange, account_id: int) -> Decimal:
    return ex.account(account_id).qty(BTC)


# ---- prices --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "zp", "mark", "price"),
    [
        # long taken over (BLP buys): ⅔·29 820 + ⅓·29 900 = 19 880 + 9 966.66… = 29 846.66…
        # → floored (down = in the BLP's favour) to 29 846.6
        (1, "29820", "29900", "29846.6"),
        # ⅔·29 820 + ⅓·29 910 = 19 880 + 9 970 = 29 850 exactly: no tick lost to 2/3 noise
        (1, "29820", "29910", "29850"),
        # short taken over (BLP sells): ⅔·30 250.1 + ⅓·30 100 = 20 166.7333… + 10 033.3333…
        # = 30 200.0666… → ceiled (up = in the BLP's favour) to 30 200.1
        (-1, "30250.1", "30100", "30200.1"),
        # ⅔·30 250 + ⅓·30 100 = 20 166.66… + 10 033.33… = 30 200 exactly
        (-1, "30250", "30100", "30200"),
        # Exact results that 28-digit arithmetic with w = 0.666…7 lands a hair off the tick
        # (…26.599999… / …42.900000…01): the engine must not lose (or gain) a tick to that.
        # ⅔·4 998.8 + ⅓·5 082.2 = 3 332.5333… + 1 694.0666… = 5 026.6 exactly
        (1, "4998.8", "5082.2", "5026.6"),
        # ⅔·50 114 + ⅓·49 000.7 = 33 409.3333… + 16 333.5666… = 49 742.9 exactly
        (-1, "50114", "49000.7", "49742.9"),
    ],
)
def test_favorable_price_two_thirds_zero_one_third_mark(
    side: int, zp: str, mark: str, price: str
) -> None:
    assert assignment_price(side, D(zp), D(mark), True, BTC_TICK, CFG) == D(price)


@pytest.mark.parametrize(
    ("side", "zp", "mark", "tick", "price"),
    [
        # long, ZP 30 021 inside the collar 30 000·1.01 = 30 300 → ZP
        (1, "30021", "30000", BTC_TICK, "30021"),
        # long, ZP 29 820 beyond the collar 29 000·1.01 = 29 290 → 29 290
        (1, "29820", "29000", BTC_TICK, "29290"),
        # long, collar 29 999.9·1.01 = 30 299.899 → floored to 30 299.8 (never past the collar)
        (1, "30400", "29999.9", BTC_TICK, "30299.8"),
        # short (ETH), ZP 1 998.8 inside the collar 2 000·0.99 = 1 980 → ZP
        (-1, "1998.8", "2000", ETH_TICK, "1998.8"),
        # short, ZP 1 900 beyond the collar → 1 980
        (-1, "1900", "2000", ETH_TICK, "1980"),
        # short, collar 2 000.01·0.99 = 1 980.0099 → ceiled to 1 980.01
        (-1, "1900", "2000.01", ETH_TICK, "1980.01"),
        # short BTC, ZP 30 180 vs collar 30 500·0.99 = 30 195 → 30 195
        (-1, "30180", "30500", BTC_TICK, "30195"),
    ],
)
def test_toxic_price_is_zero_price_collared_at_one_percent(
    side: int, zp: str, mark: str, tick: Decimal, price: str
) -> None:
    assert assignment_price(side, D(zp), D(mark), False, tick, CFG) == D(price)


def test_discount_bps() -> None:
    # buying at 29 846.6 at mark 29 900: 53.4/29 900 = 17.859… bps → 17.86
    assert discount_bps(1, D("29846.6"), D("29900")) == D("17.86")
    # buying at 29 290 at mark 29 000: −290/29 000 = −1 % = −100 bps
    assert discount_bps(1, D("29290"), D("29000")) == D("-100.00")
    # selling at 30 200 at mark 30 100: +100/30 100 = 33.222… bps → 33.22
    assert discount_bps(-1, D("30200"), D("30100")) == D("33.22")


# ---- allocation ----------------------------------------------------------------------------


def lots(**caps: int) -> dict[int, Decimal]:
    """Capacities given in lots for accounts a=1, b=2, c=3."""
    ids = {"a": 1, "b": 2, "c": 3}
    return {ids[k]: v * LOT for k, v in caps.items()}


def in_lots(alloc: dict[int, Decimal]) -> dict[int, int]:
    return {k: int(v / LOT) for k, v in alloc.items()}


def test_allocate_exact_pro_rata() -> None:
    # caps 10/20/30 lots, 30 lots of flow: 30·10/60 = 5, 30·20/60 = 10, 30·30/60 = 15.
    assert in_lots(allocate(30 * LOT, lots(a=10, b=20, c=30), LOT)) == {1: 5, 2: 10, 3: 15}


def test_allocate_rounding_remainder_is_water_filled() -> None:
    # caps 500/3 333/6 666 lots (Σ 10 499), flow 3 000 lots.
    # Round 1: ⌊3 000·500/10 499⌋ = ⌊142.87⌋ = 142; ⌊3 000·3 333/10 499⌋ = ⌊952.38⌋ = 952;
    #          ⌊3 000·6 666/10 499⌋ = ⌊1 904.75⌋ = 1 904. Given 2 998, 2 left.
    # Round 2: rooms 358 / 2 381 / 4 762 (Σ 7 501): ⌊2·358/7 501⌋ = 0, ⌊2·2 381/7 501⌋ = 0,
    #          ⌊2·4 762/7 501⌋ = ⌊1.27⌋ = 1 → c 1 905, 1 left.
    # Round 3: rooms 358 / 2 381 / 4 761 (Σ 7 500): every share ⌊…⌋ = 0, so one lot each by
    #          largest room first: c → 1 906.
    got = allocate(3000 * LOT, lots(a=500, b=3333, c=6666), LOT)
    assert in_lots(got) == {1: 142, 2: 952, 3: 1906}
    assert sum(got.values()) == 3 * D(1)


def test_allocate_water_fill_stops_at_caps() -> None:
    # caps 1/4/4 lots, flow 8. Round 1: ⌊8/9⌋ = 0, ⌊32/9⌋ = 3, 3 → 2 left.
    # Round 2: rooms 1/1/1, shares ⌊2/3⌋ = 0 → one lot each, ties by account id: a, b.
    # a ends at its cap 1, b at its cap 4; c (room left) gets nothing more: 3.
    assert in_lots(allocate(8 * LOT, lots(a=1, b=4, c=4), LOT)) == {1: 1, 2: 4, 3: 3}
    # A capped BLP is skipped when the odd lots go round: caps 1/2/2, flow 4.
    # Round 1: ⌊4/5⌋ = 0, ⌊8/5⌋ = 1, 1 → 2 left; rooms 1/1/1 → a, b get one lot each.
    # Then nothing is left. With flow 5 (= Σ caps) each gets exactly its cap.
    assert in_lots(allocate(4 * LOT, lots(a=1, b=2, c=2), LOT)) == {1: 1, 2: 2, 3: 1}
    assert in_lots(allocate(5 * LOT, lots(a=1, b=2, c=2), LOT)) == {1: 1, 2: 2, 3: 2}


def test_allocate_more_flow_than_capacity_fills_every_cap() -> None:
    # Σ caps = 1 + 3 + 6 = 10 lots < 25 lots of flow: everyone is capped, 15 lots remain
    # unassigned (they go to the insurance fund).
    got = allocate(25 * LOT, lots(a=1, b=3, c=6), LOT)
    assert in_lots(got) == {1: 1, 2: 3, 3: 6}
    # a BLP without capacity gets nothing and is left out of the result
    assert in_lots(allocate(5 * LOT, lots(a=0, b=5, c=5), LOT)) == {2: 3, 3: 2}


# ---- capacity ------------------------------------------------------------------------------


def test_threshold_headroom() -> None:
    # threshold 45 000 at mark 30 000 = 1.5 BTC.
    # flat: 1.5; long 1 receiving longs: 0.5; long 2 (over it) receiving longs: 0;
    # long 2 receiving shorts: reduce 2 and go 1.5 short = 3.5.
    thr, m = D(45000), MARK
    assert threshold_headroom_qty(thr, D(0), 1, m) == D("1.5")
    assert threshold_headroom_qty(thr, D(1), 1, m) == D("0.5")
    assert threshold_headroom_qty(thr, D(2), 1, m) == 0
    assert threshold_headroom_qty(thr, D(2), -1, m) == D("3.5")
    # threshold 0 (opted down): only reductions, up to flat
    assert threshold_headroom_qty(D(0), D(2), -1, m) == D(2)


def test_capacity_is_the_minimum_in_lots() -> None:
    # minute rate 100 000, hour 300 000; 60 000 used 10 s ago, 200 000 used 30 min ago.
    # minute left 40 000, hour left 300 000 − 260 000 = 40 000 → 1.333… BTC;
    # threshold 1 000 000 from flat = 33.3 BTC → cap = ⌊1.3333⌋ lots = 1.333
    b = BLP(1, D(100_000), D(300_000), {BTC: D(1_000_000)})
    b.record(0, D(200_000))
    b.record(1_790_000, D(60_000))
    now = 1_800_000
    assert b.minute_left(now) == D(40_000)
    assert b.hour_left(now) == D(40_000)
    assert capacity_qty(b, BTC, D(0), 1, MARK, LOT, now) == D("1.333")
    # no threshold set for the contract = 0: no new exposure at all
    assert capacity_qty(b, ETH, D(0), 1, D(2000), D("0.01"), now) == 0


# ---- rolling windows (pure) ----------------------------------------------------------------


def test_minute_window_edges() -> None:
    # 60 000 assigned at t counts in (t, t + 60 000): still at t + 59 999 ms, gone at t + 60 000.
    t = 1_000_000
    b = BLP(1, D(100_000), D(300_000), {})
    b.record(t, D(60_000))
    assert b.used(t, MINUTE_MS) == D(60_000)
    assert b.used(t + 59_999, MINUTE_MS) == D(60_000)
    assert b.minute_left(t + 59_999) == D(40_000)
    assert b.used(t + 60_000, MINUTE_MS) == 0
    assert b.minute_left(t + 60_000) == D(100_000)
    # … but the hour window still holds it
    assert b.hour_left(t + 60_000) == D(240_000)


def test_hour_window_edges_with_two_entries() -> None:
    # 100 000 at t, 50 000 at t + 30 min. Hour used: 150 000 until t + 3 599 999,
    # 50 000 from t + 3 600 000, still at t + 5 399 999 (= t + 30 min + 1 h − 1 ms), 0 after.
    t = 5_000
    b = BLP(1, D(100_000), D(300_000), {})
    b.record(t, D(100_000))
    b.record(t + 1_800_000, D(50_000))
    assert b.used(t + 3_599_999, HOUR_MS) == D(150_000)
    assert b.used(t + 3_600_000, HOUR_MS) == D(50_000)
    b.prune(t + 3_600_000)
    assert b.used(t + 5_399_999, HOUR_MS) == D(50_000)
    assert b.hour_left(t + 5_399_999) == D(250_000)
    assert b.used(t + 5_400_000, HOUR_MS) == 0
    assert b.hour_left(t + 5_400_000) == D(300_000)


# ---- rolling windows through the exchange --------------------------------------------------


def test_minute_window_through_takeovers() -> None:
    # BLP at the program minimum: 100 000/min, 300 000/h, threshold far away.
    ex, mm = exchange()
    b = blp(ex, 100_000, 300_000, 10_000_000)
    t0 = 1_000_000
    # t0: a long 2 BTC with TAV 100 (N 60 000, MM 720 − 300 = 420, TMF·N = 420/2 = 210 > 100)
    # is taken over; the BLP's cap is ⌊100 000/30 000⌋ = 3.333 → it takes all 2 (60 000).
    bankrupt_trader(ex, mm, "2", "100")
    ex.advance(t0)
    assert [(a.qty, a.remaining_minute) for a in assignments(ex)] == [(D(2), D(40_000))]
    # t0 + 59 999 ms: the 60 000 still counts → minute left 40 000 → ⌊1.3333⌋ = 1.333 of a
    # 3 BTC takeover; the fund keeps 1.667.
    bankrupt_trader(ex, mm, "3", "100")
    ex.advance(t0 + 59_999)
    got = assignments(ex)
    assert [(a.qty, a.remaining_minute) for a in got] == [(D("1.333"), D(10))]  # 40 000 − 39 990
    # t0 + 60 000 ms: the t0 assignment has left the minute window; 39 990 (1.333·30 000)
    # remains → minute left 60 010 → 2.0003 BTC; hour left 300 000 − 99 990 = 200 010.
    # The next 2 BTC takeover is assigned in full. (Were the t0 entry still counted, minute
    # left would be 100 000 − 99 990 = 10 → 0 lots, and nothing would be assigned.)
    bankrupt_trader(ex, mm, "2", "100")
    ex.advance(t0 + 60_000)
    got = assignments(ex)
    # after: minute 60 010 − 60 000 = 10; hour 200 010 − 60 000 = 140 010
    assert [(a.qty, a.remaining_minute, a.remaining_hour) for a in got] == [
        (D(2), D(10), D(140_010))
    ]
    assert qty_of(ex, b) == D("5.333")


def test_hour_window_through_takeovers() -> None:
    # BLP 300 000/min and 300 000/h: only the hour window binds.
    ex, mm = exchange()
    b = blp(ex, 300_000, 300_000, 10_000_000)
    t0 = 2_000_000
    # t0: long 9 BTC (N 270 000, tier 3: MM 6 480 − 2 700 = 3 780, TMF·N 1 890, TAV 900)
    # → cap ⌊300 000/30 000⌋ = 10 → all 9 assigned (270 000); hour left 30 000.
    bankrupt_trader(ex, mm, "9", "900")
    ex.advance(t0)
    assert [(a.qty, a.remaining_hour) for a in assignments(ex)] == [(D(9), D(30_000))]
    # t0 + 3 599 999 ms: still in the hour → 30 000 left → 1 BTC of a 3 BTC takeover.
    bankrupt_trader(ex, mm, "3", "100")
    ex.advance(t0 + 3_599_999)
    assert [(a.qty, a.remaining_hour) for a in assignments(ex)] == [(D(1), D(0))]
    # t0 + 3 600 000 ms: the 270 000 has left; 30 000 (1 ms old) counts in both windows →
    # 270 000 left in each → 9 BTC of capacity, the 3 BTC takeover is assigned in full.
    bankrupt_trader(ex, mm, "3", "100")
    ex.advance(t0 + 3_600_000)
    got = assignments(ex)
    # after: 270 000 − 90 000 = 180 000 in both windows
    assert [(a.qty, a.remaining_minute, a.remaining_hour) for a in got] == [
        (D(3), D(180_000), D(180_000))
    ]
    assert qty_of(ex, b) == D(13)


# ---- threshold -----------------------------------------------------------------------------


def test_threshold_is_never_exceeded_and_reductions_pass_over_it() -> None:
    ex, mm = exchange()
    b = blp(ex, 100_000, 300_000, 45_000)  # 45 000 = 1.5 BTC at 30 000
    # t = 1 s: long 3 with TAV 150 → ZP 30 000 − 50 = 29 950; the BLP's cap is
    # min(100 000/30 000, 45 000/30 000) = 1.5 → it buys 1.5 at ⌊⅔·29 950 + ⅓·30 000⌋
    # = ⌊19 966.66… + 10 000⌋ = 29 966.6; its notional 45 000 equals the threshold.
    bankrupt_trader(ex, mm, "3", "150")
    ex.advance(1_000)
    got = assignments(ex)
    assert [(a.qty, a.price, a.zero_price, a.remaining_threshold) for a in got] == [
        (D("1.5"), D("29966.6"), D(29950), D(0))
    ]
    assert abs(qty_of(ex, b)) * ex.marks[BTC] <= D(45_000)
    # t = 2 s: another long (1 BTC, TAV 60): no headroom → nothing assigned, the fund keeps it.
    bankrupt_trader(ex, mm, "1", "60")
    ex.advance(2_000)
    assert assignments(ex) == []
    assert qty_of(ex, b) == D("1.5")
    # The BLP lowers its threshold to 0: it is now over it (45 000 > 0).
    ex.set_threshold(b, BTC, D(0))
    # t = 3 s: a long again: nothing, though 55 000 of minute rate is left.
    bankrupt_trader(ex, mm, "1", "60")
    ex.advance(3_000)
    assert assignments(ex) == []
    # t = 4 s: a SHORT 2 BTC with TAV 100 (ZP 30 000 + 50 = 30 050). Receiving shorts reduces
    # the BLP: headroom = 1.5 + 0/30 000 = 1.5; minute left 55 000 → 1.833 → cap 1.5.
    # It sells 1.5 at ⌈⅔·30 050 + ⅓·30 000⌉ = ⌈20 033.33… + 10 000⌉ = 30 033.4 and is flat;
    # the other 0.5 goes to the fund. Minute left 55 000 − 45 000 = 10 000.
    bankrupt_trader(ex, mm, "-2", "100")
    ex.advance(4_000)
    got = assignments(ex)
    assert [(a.side, a.qty, a.price, a.remaining_minute) for a in got] == [
        ("sell", D("1.5"), D("30033.4"), D(10_000))
    ]
    assert qty_of(ex, b) == 0
    # Realised: 1.5·(30 033.4 − 29 966.6) = 1.5·66.8 = 100.2 on top of 1 000 000.
    assert ex.account(b).cash == D("1000100.2")
    assert ex.ledger.value_identity() == ex.ledger.deposits


# ---- three BLPs through the exchange -------------------------------------------------------


def test_three_blps_pro_rata_one_capped_by_threshold() -> None:
    ex, mm = exchange()
    # a: 100 000/min but threshold 15 000 → cap 0.5 BTC (capped by its threshold)
    # b: 100 000/min → cap ⌊3.333…⌋ = 3.333;  c: 200 000/min → cap 6.666
    a = blp(ex, 100_000, 300_000, 15_000)
    b = blp(ex, 100_000, 300_000, 10_000_000)
    c = blp(ex, 200_000, 600_000, 10_000_000)
    # long 3 BTC, TAV 150: shared as in test_allocate_rounding_remainder_is_water_filled:
    # 0.142 / 0.952 / 1.906 at 29 966.6 (ZP 29 950, see the threshold test).
    bankrupt_trader(ex, mm, "3", "150")
    ex.advance(1_000)
    got = {x.account_id: x for x in assignments(ex)}
    assert {k: v.qty for k, v in got.items()} == {a: D("0.142"), b: D("0.952"), c: D("1.906")}
    assert {v.price for v in got.values()} == {D("29966.6")}
    # remaining after: a threshold 15 000 − 0.142·30 000 = 10 740;
    # b minute 100 000 − 28 560 = 71 440; c minute 200 000 − 57 180 = 142 820
    assert got[a].remaining_threshold == D(10_740)
    assert got[b].remaining_minute == D(71_440)
    assert got[c].remaining_minute == D(142_820)
    # A second, larger takeover (long 12, TAV 600 → ZP 29 950 again; N 360 000 in tier 3,
    # MM 8 640 − 2 700 = 5 940, TMF·N 2 970 > 600) at t = 2 s is more than the caps:
    # a: threshold headroom 0.5 − 0.142 = 0.358; b: 71 440/30 000 → 2.381;
    # c: 142 820/30 000 → 4.760 (4.7606…). Each gets exactly its cap, the fund keeps the rest
    # 12 − 7.499 = 4.501.
    bankrupt_trader(ex, mm, "12", "600")
    ex.advance(2_000)
    got = {x.account_id: x for x in assignments(ex)}
    assert {k: v.qty for k, v in got.items()} == {a: D("0.358"), b: D("2.381"), c: D("4.760")}
    assert qty_of(ex, a) * MARK == D(15_000)  # exactly at, never above, its threshold
    assert ex.insurance_fund.qty(BTC) == D("4.501")
