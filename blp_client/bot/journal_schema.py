"""The journal's tables, records and the order state machine."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from blp_client.models import Assignment
from blp_client.vocabulary import ZERO


class JournalError(RuntimeError):
    """A write the journal refuses (an unknown order, a transition its state forbids)."""


class OrderState(StrEnum):
    PENDING = "pending"  # journaled, maybe not sent: reconcile by client id before sending
    SENT = "sent"  # request went out, no answer yet
    UNKNOWN = "unknown"  # timeout or lost answer: reconcile by client id
    ACKED = "acked"  # the venue has it (possibly partially filled)
    FILLED = "filled"
    CANCELLED = "cancelled"  # includes IOC remainders expired by the venue
    REJECTED = "rejected"


OPEN_STATES = frozenset({OrderState.PENDING, OrderState.SENT, OrderState.UNKNOWN, OrderState.ACKED})
TERMINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED})

_MOVES: dict[OrderState, frozenset[OrderState]] = {
    OrderState.PENDING: frozenset(OrderState) - {OrderState.PENDING},
    OrderState.SENT: TERMINAL_STATES | {OrderState.UNKNOWN, OrderState.ACKED},
    # after reconciling "not found at the venue", the same client id is sent again
    OrderState.UNKNOWN: TERMINAL_STATES | {OrderState.SENT, OrderState.ACKED},
    OrderState.ACKED: TERMINAL_STATES | {OrderState.UNKNOWN},
}


def can_move(old: OrderState, new: OrderState) -> bool:
    """Whether an order may go from `old` to `new` (staying put is always fine)."""
    return old == new or new in _MOVES.get(old, frozenset())


@dataclass(frozen=True, slots=True)
class PositionDelta:
    """A change of position not caused by one of our fills (e.g. an assignment)."""

    symbol: str
    venue: str
    qty: Decimal  # signed
    price: Decimal = ZERO
    fee: Decimal = ZERO

    @classmethod
    def of_assignment(cls, a: Assignment, venue: str = "exchange") -> PositionDelta:
        """An assignment lands on the BLP's exchange account at the assignment price."""
        return cls(a.symbol, venue, a.qty if a.side == "buy" else -a.qty, a.price)


@dataclass(frozen=True, slots=True)
class FillRecord:
    venue: str
    trade_id: str
    symbol: str
    qty: Decimal  # signed: > 0 bought
    price: Decimal
    fee: Decimal = ZERO
    ts: int = 0
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class FundingRecord:
    """One funding payment on one venue: `amount` is the cash change (> 0 received, < 0
    paid). `id` is the venue's (the exchange's payment id, Binance's `tranId`): with the venue
    it dedupes a payment seen twice."""

    venue: str
    id: str
    symbol: str
    amount: Decimal
    ts: int
    rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OrderRecord:
    client_order_id: str
    decision: str
    n: int
    venue: str
    symbol: str
    qty: Decimal  # signed
    limit_price: Decimal | None
    tif: str
    reduce_only: bool
    state: OrderState
    venue_order_id: str | None
    filled_qty: Decimal  # signed, same sign as qty
    avg_price: Decimal | None
    fees: Decimal
    created_ms: int
    updated_ms: int
    error: str | None
    reason: str

    @classmethod
    def pending(
        cls,
        client_order_id: str,
        decision: str,
        n: int,
        venue: str,
        symbol: str,
        qty: Decimal,
        limit_price: Decimal | None,
        tif: str,
        reduce_only: bool,
        now_ms: int,
        reason: str,
    ) -> OrderRecord:
        """A new order as journaled before it is sent: pending, nothing filled."""
        return cls(
            client_order_id, decision, n, venue, symbol, qty, limit_price, tif, reduce_only,
            OrderState.PENDING, None, ZERO, None, ZERO, now_ms, now_ms, None, reason,
        )  # fmt: skip

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty


@dataclass(frozen=True, slots=True)
class ThresholdAction:
    id: int
    decision: str
    symbol: str
    value: Decimal
    state: str  # pending | done | failed
    reason: str


@dataclass(frozen=True, slots=True)
class Committed:
    """What one recorded decision asks the executor to do."""

    decision: str
    orders: list[OrderRecord]
    actions: list[ThresholdAction]


ORDER_COLS = (
    "client_order_id, decision, n, venue, symbol, qty, limit_price, tif, reduce_only, state, "
    "venue_order_id, filled_qty, avg_price, fees, created_ms, updated_ms, error, reason"
)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def order_from_row(row: sqlite3.Row) -> OrderRecord:
    return OrderRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        Decimal(row[5]),
        _dec(row[6]),
        row[7],
        bool(row[8]),
        OrderState(row[9]),
        row[10],
        Decimal(row[11]),
        _dec(row[12]),
        Decimal(row[13]),
        row[14],
        row[15],
        row[16],
        row[17],
    )


SCHEMA = """
BEGIN;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, ts INTEGER NOT NULL,
    payload TEXT NOT NULL, processed_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, decision TEXT NOT NULL, n INTEGER NOT NULL,
    kind TEXT NOT NULL, body TEXT NOT NULL, allowed INTEGER NOT NULL, deny_reason TEXT,
    created_ms INTEGER NOT NULL, UNIQUE (decision, n));
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, decision TEXT NOT NULL, n INTEGER NOT NULL,
    venue TEXT NOT NULL, symbol TEXT NOT NULL, qty TEXT NOT NULL, limit_price TEXT,
    tif TEXT NOT NULL, reduce_only INTEGER NOT NULL, state TEXT NOT NULL, venue_order_id TEXT,
    filled_qty TEXT NOT NULL, avg_price TEXT, fees TEXT NOT NULL, created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL, error TEXT, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_state ON orders(state);
CREATE INDEX IF NOT EXISTS orders_decision ON orders(decision);
CREATE TABLE IF NOT EXISTS fills (
    venue TEXT NOT NULL, trade_id TEXT NOT NULL, client_order_id TEXT, symbol TEXT NOT NULL,
    qty TEXT NOT NULL, price TEXT NOT NULL, fee TEXT NOT NULL, ts INTEGER NOT NULL,
    recorded_ms INTEGER NOT NULL, PRIMARY KEY (venue, trade_id));
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, decision TEXT NOT NULL, symbol TEXT NOT NULL,
    value TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inventory (
    symbol TEXT NOT NULL, venue TEXT NOT NULL, position TEXT NOT NULL, cost TEXT NOT NULL,
    fees TEXT NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY (symbol, venue));
CREATE TABLE IF NOT EXISTS netted (
    client_order_id TEXT PRIMARY KEY, into_order TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS netted_into ON netted(into_order);
CREATE TABLE IF NOT EXISTS steps (client_order_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS funding (
    venue TEXT NOT NULL, id TEXT NOT NULL, symbol TEXT NOT NULL, amount TEXT NOT NULL,
    rate TEXT, ts INTEGER NOT NULL, recorded_ms INTEGER NOT NULL, PRIMARY KEY (venue, id));
COMMIT;
"""
