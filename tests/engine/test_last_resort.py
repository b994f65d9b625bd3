"""The pure rules behind ADL order and clawback shares, with hand-computed numbers."""

from __future__ import annotations

import heapq
from decimal import Decimal as D

from blp_client.engine.core.last_resort import adl_queue, clawback
from blp_client.engine.core.ledger import AccountKind, Ledger, LiquidationState

SYM = "BTC-PERP"


def test_adl_queue_pops_best_rank_first_and_skips_the_ineligible() -> None:
    ledger = Ledger()
    house = ledger.open(AccountKind.MARKET_MAKER)

    def long(cash: str, qty: str, price: str) -> int:
        acct = ledger.open(AccountKind.TRADER, D(cash))
        ledger.trade(acct, SYM, D(qty), D(price))
        ledger.trade(house, SYM, -D(qty), D(price))
        return acct.id

    # at mark 110:
    a = long("10", "1", "100")  # PnL% 10/100 = 0.1, equity 20, lev 110/20 = 5.5: rank 0.55
    b = long("100", "2", "100")  # PnL% 0.1, equity 120, lev 220/120: rank 0.18333…
    c = long("50", "1", "120")  # PnL% −10/120, equity 40, lev 2.75: rank −0.0303…
    busy = long("10", "1", "100")  # same as a, but being liquidated: not in the queue
    ledger.accounts[busy].liquidation = LiquidationState.REDUCING
    ledger.trade(ledger.insurance_fund, SYM, D("1"), D("100"))  # the fund never ranks
    ledger.trade(house, SYM, D("-1"), D("100"))
    # two positions: BTC long 1 at 100, ETH short 1 at 10, cash 50; at marks 110 / 12:
    # PnL% 10/100 = 0.1, equity 50 + 10 − 2 = 58, lev (110 + 12)/58: rank 0.1·122/58 = 0.2103…
    d = long("50", "1", "100")
    ledger.trade(ledger.accounts[d], "ETH-PERP", D("-1"), D("10"))
    ledger.trade(house, "ETH-PERP", D("1"), D("10"))
    marks = {SYM: D("110"), "ETH-PERP": D("12")}
    heap = adl_queue(ledger.accounts.values(), SYM, +1, marks)
    order = [heapq.heappop(heap) for _ in range(len(heap))]
    assert [aid for _, aid in order] == [a, d, b, c]  # the house is short: not on this side
    assert -order[0][0] == D("0.55")
    assert -order[1][0] == D("0.1") * (D(122) / D(58))
    assert -order[3][0] == (D(-10) / D(120)) / (D(110) / D(40))


def test_clawback_takes_the_deficit_pro_rata_with_crumbs_to_the_largest_profit() -> None:
    shares = clawback(D("1"), [(3, D("1")), (1, D("1")), (2, D("1"))])
    assert shares is not None
    # each owes floor(1/3, 1e-8) = 0.33333333; the 1e-8 left goes to the largest profit,
    # a three-way tie broken by the lowest id
    assert shares.debits == [(3, D("0.33333333")), (1, D("0.33333334")), (2, D("0.33333333"))]
    assert sum(d for _, d in shares.debits) == shares.taken == D("1")
    assert shares.total_profit == D(3) and shares.rate == D(1) / D(3)


def test_clawback_never_takes_more_than_the_profits() -> None:
    shares = clawback(D("10"), [(1, D("1")), (2, D("2"))])
    assert shares is not None
    assert shares.taken == D("3") and shares.rate == 1
    assert shares.debits == [(1, D("1")), (2, D("2"))]
    assert clawback(D("10"), []) is None
