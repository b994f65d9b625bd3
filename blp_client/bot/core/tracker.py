"""The order tracker: one order's journaled state + a venue's answer → the transition.

Pure: the executor asks the venue, hands the answer here, and carries out what comes back
(journal writes, a fill sync, a resend, a reconciliation wake-up). The rules that make orders
exactly-once live here in one place:
- a placement whose answer was lost is UNKNOWN, never "failed": it is looked up by client id;
- an order the venue does not have is sent again (same client id) only while it is young;
- an order the venue reports done is closed only once its fills are recorded, so its remainder
  stays counted in flight until then and strategies do not over-hedge.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from blp_client.bot.journal_schema import TERMINAL_STATES, OrderRecord, OrderState
from blp_client.bot.venues.base import OrderStatus, VenueOrder

# ---- answers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placed:
    """The venue took the order (its answer)."""

    order: VenueOrder


@dataclass(frozen=True, slots=True)
class Refused:
    """The venue refused it for good (invalid, no funds, bad key)."""

    error: str
    kind: str = "refused"


@dataclass(frozen=True, slots=True)
class Lost:
    """No answer (timeout, dropped connection, 5xx, rate limit through every retry)."""

    error: str


@dataclass(frozen=True, slots=True)
class Found:
    """A lookup by client id found it."""

    order: VenueOrder


@dataclass(frozen=True, slots=True)
class NotFound:
    """A lookup by client id says the venue has no such order."""


Answer = Placed | Refused | Lost | Found | NotFound


# ---- what to do ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FillTotals:
    """Bring the journal up to the venue's cumulative totals for the order."""

    filled: Decimal  # unsigned
    avg_price: Decimal
    fees: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class Awaiting:
    """The venue's last word on an order whose fills are not all recorded yet."""

    status: OrderStatus
    filled: Decimal  # unsigned


@dataclass(frozen=True, slots=True)
class Transition:
    state: OrderState | None = None  # move the order there (None: stay)
    venue_order_id: str | None = None
    error: str | None = None
    totals: FillTotals | None = None  # record these fills first
    awaiting: Awaiting | None = None  # then close it with `settle` once its fills are in
    resend: bool = False  # send it again with the same client id
    wake: bool = False  # reconcile soon
    outcome: str = ""  # metrics label (acked status, rejected, unknown, found, resend, ...)


def on_answer(
    order: OrderRecord,
    answer: Answer,
    *,
    now_ms: int,
    fills_from_answers: bool,
    max_resend_age_ms: int,
) -> Transition:
    """The transition for `answer` about `order` (as journaled now). `fills_from_answers`:
    the venue's fills are taken from its order answers (False where they come on a stream)."""
    if order.state in TERMINAL_STATES:
        return Transition()
    if isinstance(answer, Refused):
        return Transition(OrderState.REJECTED, error=answer.error[:500], outcome="rejected")
    if isinstance(answer, Lost):
        return Transition(
            OrderState.UNKNOWN, error=answer.error[:500], wake=True, outcome="unknown"
        )
    if isinstance(answer, NotFound):
        if order.state is OrderState.ACKED:
            lost = OrderState.CANCELLED if order.filled_qty else OrderState.REJECTED
            return Transition(lost, error="no longer known to the venue", outcome="lost_at_venue")
        if now_ms - order.created_ms > max_resend_age_ms:
            return Transition(
                OrderState.REJECTED, error="not found at the venue; too old", outcome="expired"
            )
        return Transition(resend=True, outcome="resend")
    vo = answer.order
    totals = None
    if fills_from_answers and vo.filled > 0 and vo.avg_price is not None:
        totals = FillTotals(vo.filled, vo.avg_price, vo.fee, vo.timestamp_ms or now_ms)
    outcome = vo.status.value if isinstance(answer, Placed) else "found"
    return Transition(
        OrderState.ACKED,
        venue_order_id=vo.venue_order_id,
        totals=totals,
        awaiting=Awaiting(vo.status, vo.filled),
        outcome=outcome,
    )


def settle(order: OrderRecord, awaiting: Awaiting) -> OrderState | None:
    """Once the journal has (at least) the venue's fills: the state to close the order in,
    `order.state` for a resting order (it stays open), or None while fills are missing."""
    if order.state in TERMINAL_STATES:
        return order.state
    if abs(order.filled_qty) < awaiting.filled:
        return None
    if awaiting.status is OrderStatus.OPEN:
        return order.state
    if abs(order.filled_qty) >= abs(order.qty):
        return OrderState.FILLED
    if awaiting.status is OrderStatus.REJECTED and order.filled_qty == 0:
        return OrderState.REJECTED
    return OrderState.CANCELLED


def expired_unfilled(before: OrderState, after: OrderRecord) -> bool:
    """An IOC that closed with a remainder (a thin book): what escalation picks up."""
    return (
        before is not OrderState.CANCELLED
        and after.state is OrderState.CANCELLED
        and after.tif != "GTC"
        and after.remaining != 0
        and not (after.error or "").startswith("netted")
    )


def rested_too_long(order: OrderRecord, stage: str, now_ms: int, ttl_ms: int) -> bool:
    """A resting fallback (GTC at escalation stage "fallback", acknowledged) open `ttl_ms` or
    longer: the executor cancels it and escalates the rest again (`ttl_ms` 0: never)."""
    return (
        ttl_ms > 0
        and order.tif == "GTC"
        and order.state is OrderState.ACKED
        and now_ms - order.created_ms >= ttl_ms
        and stage == "fallback"
    )


def timed_out_remainder(order: OrderRecord) -> bool:
    """A timed-out fallback, cancelled with its fills in, with a remainder to escalate
    (`expired_unfilled` leaves GTC orders alone, so this is the one path for it)."""
    return order.state is OrderState.CANCELLED and order.remaining != 0
