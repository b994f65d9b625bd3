"""The waterfall's last resorts as pure rules (DOMAIN.md steps 5 and 6): who is
auto-deleveraged first, and how a socialised loss is shared.

Functions of accounts and marks only; the liquidator books what they decide.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import NamedTuple

from .ledger import TRADING_KINDS, Account, LiquidationState
from .num import MONEY_STEP, ZERO, floor_to

HUGE_LEVERAGE = Decimal("1e12")  # the leverage of an account with no equity left


def adl_queue(
    accounts: Iterable[Account], symbol: str, side: int, marks: Mapping[str, Decimal]
) -> list[tuple[Decimal, int]]:
    """The ADL queue for positions of `side` in `symbol` as a heap of (−rank, account id): the
    best rank is on top. BitMEX rank: PnL% × effective leverage in profit, PnL% / leverage
    otherwise. A heap, not a sorted list, because a takeover usually takes a few hundred of
    the tens of thousands of entries."""
    mark = marks[symbol]
    long = side > 0
    none = LiquidationState.NONE
    heap: list[tuple[Decimal, int]] = []
    for acct in accounts:
        pos = acct.positions.get(symbol)
        if pos is None:
            continue
        q = pos.qty
        if not q or (q > ZERO) != long:
            continue
        if acct.liquidation is not none or acct.kind not in TRADING_KINDS:
            continue
        cost = pos.cost
        upnl = q * mark - cost
        pnl_pct = upnl / (cost if cost > ZERO else -cost)
        # leverage = Σ|Q|·MP / equity: only cash, qty and cost are needed, not tiers
        if len(acct.positions) == 1:
            equity = acct.cash + upnl
            notional = q * mark if long else -q * mark
        else:
            equity, notional = acct.cash, ZERO
            for sym, p in acct.positions.items():
                if p.qty:
                    m = marks[sym]
                    equity += p.qty * m - p.cost
                    notional += abs(p.qty) * m
        lev = notional / equity if equity > ZERO else HUGE_LEVERAGE
        rank = pnl_pct * lev if pnl_pct > ZERO else pnl_pct / lev
        heap.append((-rank, acct.id))
    heapq.heapify(heap)
    return heap


class Clawback(NamedTuple):
    taken: Decimal  # what is clawed back: the deficit, or every profit if they fall short
    total_profit: Decimal
    rate: Decimal  # taken / total_profit
    debits: list[tuple[int, Decimal]]  # (account id, amount), Σ = taken


def clawback(deficit: Decimal, profits: list[tuple[int, Decimal]]) -> Clawback | None:
    """Share `deficit` over `profits` (account id, positive uPnL) pro rata, to 1e-8 USDT; the
    rounding crumbs go to the largest profit (ties: the lowest id). None when no one is in
    profit."""
    total = sum((p for _, p in profits), ZERO)
    if total <= ZERO:
        return None
    take = min(deficit, total)
    debits: list[tuple[int, Decimal]] = []
    given = ZERO
    for aid, p in profits:
        d = floor_to(take * p / total, MONEY_STEP)
        if d:
            debits.append((aid, d))
            given += d
    rest = take - given
    if rest:
        top = min(profits, key=lambda r: (-r[1], r[0]))[0]
        debits = [(a, d + rest) if a == top else (a, d) for a, d in debits]
        if all(a != top for a, _ in debits):
            debits.append((top, rest))
    return Clawback(take, total, take / total, debits)
