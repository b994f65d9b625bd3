"""Everything that changes in the engine comes out as one of these events, in order.

Frozen dataclasses: the shells turn them into wire messages, log rows and reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeVar, dataclass_transform

from ...vocabulary import AssignmentKind, Side

_E = TypeVar("_E")


@dataclass_transform(frozen_default=True)
def event(cls: type[_E]) -> type[_E]:
    """A frozen dataclass to the type checker (mypy refuses any assignment to a field), a
    plain slotted one at run time: a frozen constructor costs about 7x more, and a crash
    simulation builds millions of events. Hashable, like a frozen one."""
    return dataclass(slots=True, unsafe_hash=True)(cls)


@event
class Event:
    ts: int  # engine time, ms


@event
class AccountOpened(Event):
    account_id: int
    kind: str


@event
class Deposited(Event):
    account_id: int
    amount: Decimal


@event
class OrderAccepted(Event):
    order_id: int
    account_id: int
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal | None
    tif: str
    reduce_only: bool
    client_order_id: str | None


@event
class OrderClosed(Event):
    """An order left the book: filled, cancelled (by its owner, IOC rest, liquidation)."""

    order_id: int
    account_id: int
    status: str
    filled: Decimal
    reason: str


@event
class Trade(Event):
    """A fill between a taker and a resting maker, with each order's client id (None when
    the order has none: the engine's own orders, simulated liquidity)."""

    trade_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    taker_side: Side
    taker_order_id: int
    maker_order_id: int
    taker_account_id: int
    maker_account_id: int
    taker_fee: Decimal
    maker_fee: Decimal
    taker_client_order_id: str | None
    maker_client_order_id: str | None


@event
class MarkPrice(Event):
    symbol: str
    index_price: Decimal
    mark_price: Decimal


@event
class MarginAlert(Event):
    """Own-account alerts for watched (BLP) accounts: margin_call, margin_ok."""

    account_id: int
    kind: Literal["margin_call", "margin_ok"]
    equity: Decimal
    mf: Decimal | None
    mmf: Decimal | None
    imf: Decimal | None


@event
class LiquidationStarted(Event):
    liquidation_id: int
    account_id: int
    equity: Decimal
    mf: Decimal
    mmf: Decimal


@event
class BookReduction(Event):
    liquidation_id: int
    account_id: int
    symbol: str
    qty: Decimal  # signed quantity closed on the book this round
    notional: Decimal


@event
class LiquidationReturned(Event):
    """Book reduction brought MF back above IMF; the account trades again."""

    liquidation_id: int
    account_id: int
    rounds: int


@event
class TakenOver(Event):
    liquidation_id: int
    account_id: int
    symbol: str
    qty: Decimal  # the account's signed position, now the insurance fund's
    zero_price: Decimal
    mark_price: Decimal
    favorable: bool


@event
class Assignment(Event):
    assignment_id: int
    liquidation_id: int
    account_id: int  # the BLP's account
    symbol: str
    side: Side  # the BLP's side: buy = it receives a long
    qty: Decimal
    price: Decimal
    mark_price: Decimal
    zero_price: Decimal
    kind: AssignmentKind
    discount_bps: Decimal
    remaining_minute: Decimal
    remaining_hour: Decimal
    remaining_threshold: Decimal


@event
class InsuranceKept(Event):
    liquidation_id: int
    symbol: str
    qty: Decimal  # signed quantity the fund keeps to unwind on the book
    price: Decimal
    mark_price: Decimal


@event
class AutoDeleveraged(Event):
    liquidation_id: int
    account_id: int
    symbol: str
    qty: Decimal  # signed change of the deleveraged account's position
    price: Decimal
    mark_price: Decimal
    rank: Decimal


@event
class SocializedLoss(Event):
    amount: Decimal
    total_profit: Decimal
    rate: Decimal
    debits: tuple[tuple[int, Decimal], ...]


@event
class ProfileChanged(Event):
    account_id: int
    minute_rate: Decimal
    hour_rate: Decimal
    thresholds: tuple[tuple[str, Decimal], ...]
    opted_in: bool
    reason: str


@event
class FundingPayment(Event):
    """One position's funding at a funding time: `amount` is the account's cash change
    (> 0 received, < 0 paid), `-qty × mark × rate` quantised to 1e-8."""

    payment_id: int
    account_id: int
    kind: str  # the account's kind (trader, blp, market_maker, insurance_fund)
    symbol: str
    qty: Decimal  # the signed position that paid or received
    mark_price: Decimal
    rate: Decimal
    amount: Decimal
    funding_time: int


@event
class FundingSettled(Event):
    """A contract's funding time: the rate and what moved. `residue` is what quantising the
    payments left over (Σ paid − Σ received), booked to the insurance fund."""

    symbol: str
    funding_time: int
    premium: Decimal
    interest: Decimal
    rate: Decimal
    mark_price: Decimal
    paid: Decimal  # Σ of what payers paid (>= 0)
    received: Decimal  # Σ of what receivers received (>= 0)
    residue: Decimal
    payments: int
