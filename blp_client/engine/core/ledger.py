"""Cross-margin accounts in exact Decimal.

A position keeps its signed quantity and its *cost* (Σ signed qty·price of what opened it), never
a rounded entry price, so every trade books exact amounts. When a trade reduces a position, the
released cost is the remaining quantity at the old entry price (quantised), and the difference is
realised into cash: whatever the rounding, cash − cost changes by the same amount on both sides,
which keeps the exchange-wide identity `Σ cash − Σ cost = Σ deposits` exact (positions sum to zero
per contract, so Σ cost is what Σ unrealised PnL is at any common mark).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from .num import PRICE_STEP, ZERO


class AccountKind(StrEnum):
    TRADER = "trader"
    BLP = "blp"
    MARKET_MAKER = "market_maker"
    INSURANCE_FUND = "insurance_fund"
    FEES = "fees"


TRADING_KINDS = frozenset({AccountKind.TRADER, AccountKind.BLP, AccountKind.MARKET_MAKER})


class LiquidationState(StrEnum):
    NONE = "none"
    REDUCING = "reducing"  # book-reduction rounds running


@dataclass(slots=True)
class Position:
    qty: Decimal = ZERO  # signed base quantity: long > 0
    cost: Decimal = ZERO  # Σ signed qty·price of the open quantity

    @property
    def entry_price(self) -> Decimal | None:
        return self.cost / self.qty if self.qty else None

    def upnl(self, mark: Decimal) -> Decimal:
        return self.qty * mark - self.cost


@dataclass(slots=True, eq=False)
class Account:
    id: int
    kind: AccountKind
    cash: Decimal = ZERO  # collateral, USDT
    positions: dict[str, Position] = field(default_factory=dict)
    realised_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    funding_paid: Decimal = ZERO  # Σ funding paid (>= 0)
    funding_received: Decimal = ZERO  # Σ funding received (>= 0)
    liquidation: LiquidationState = LiquidationState.NONE
    version: int = 0  # bumped on every change that moves its liquidation price

    def qty(self, symbol: str) -> Decimal:
        pos = self.positions.get(symbol)
        return pos.qty if pos is not None else ZERO

    def open_positions(self) -> dict[str, Position]:
        return {s: p for s, p in self.positions.items() if p.qty != 0}


class Ledger:
    """All accounts, the fee pool and the insurance fund; the only place money moves."""

    def __init__(self) -> None:
        self.accounts: dict[int, Account] = {}
        self.deposits = ZERO
        self.fee_pool = self.open(AccountKind.FEES)
        self.insurance_fund = self.open(AccountKind.INSURANCE_FUND)

    def open(self, kind: AccountKind, cash: Decimal = ZERO) -> Account:
        acct = Account(id=len(self.accounts), kind=kind)
        self.accounts[acct.id] = acct
        if cash:
            self.deposit(acct, cash)
        return acct

    def deposit(self, acct: Account, amount: Decimal) -> None:
        acct.cash += amount
        self.deposits += amount
        acct.version += 1

    def transfer(self, src: Account, dst: Account, amount: Decimal) -> None:
        src.cash -= amount
        dst.cash += amount
        src.version += 1
        dst.version += 1

    def charge_fee(self, acct: Account, fee: Decimal) -> None:
        """A positive fee goes to the fee pool; a negative one (maker rebate) comes out of it.
        (`transfer`, written out: two per fill.)"""
        pool = self.fee_pool
        acct.cash -= fee
        pool.cash += fee
        acct.version += 1
        pool.version += 1
        acct.fees_paid += fee

    def pay_funding(self, payments: list[tuple[Account, Decimal]]) -> Decimal:
        """Book one contract's funding: each (account, cash change); the quantisation residue
        (what the changes do not net to) goes to the insurance fund, so cash is conserved
        exactly. Returns the residue."""
        residue = ZERO
        for acct, amount in payments:
            acct.cash += amount
            if amount > ZERO:
                acct.funding_received += amount
            else:
                acct.funding_paid -= amount
            acct.version += 1
            residue -= amount
        if residue:
            self.insurance_fund.cash += residue
            self.insurance_fund.version += 1
        return residue

    def trade(self, acct: Account, symbol: str, qty: Decimal, price: Decimal) -> Decimal:
        """Book a signed quantity at a price; return the realised PnL (already in cash)."""
        pos = acct.positions.get(symbol)
        if pos is None:
            pos = acct.positions[symbol] = Position()
        old_qty = pos.qty
        new_qty = old_qty + qty
        new_cost = pos.cost + qty * price
        realised = ZERO
        if old_qty and (qty > ZERO) != (old_qty > ZERO):
            if not new_qty:
                kept = ZERO
            elif (new_qty > ZERO) == (old_qty > ZERO):
                # partly reduced: the rest keeps the old entry price
                kept = (pos.cost * new_qty / old_qty).quantize(PRICE_STEP)
            else:
                # flipped: the new side is opened at this trade's price
                kept = new_qty * price
            realised = kept - new_cost
            new_cost = kept
            acct.cash += realised
            acct.realised_pnl += realised
        pos.qty = new_qty
        pos.cost = new_cost
        acct.version += 1
        return realised

    def value_identity(self) -> Decimal:
        """Σ cash − Σ cost over every account; equals `deposits` while nothing leaks."""
        total = ZERO
        for a in self.accounts.values():
            total += a.cash
            for p in a.positions.values():
                total -= p.cost
        return total
