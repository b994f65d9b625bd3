"""Netting: a (contract, venue) lane sends one order at a time, and what queued behind it is
joined into the next order, sized when it can really be sent.

Strategies hedge from net exposure with queued and in-flight orders counted, so each queued
order is the change one decision wanted; their sum is the lane's net need. A burst of N
assignments therefore costs one order per rate-limit step, not N.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from blp_client.bot.core.escalation import Step
from blp_client.bot.journal_schema import OrderRecord, OrderState
from blp_client.vocabulary import ZERO

Lane = tuple[str, str]  # (venue, symbol)


def lane_of(order: OrderRecord) -> Lane:
    return (order.venue, order.symbol)


def blocks_lane(order: OrderRecord) -> bool:
    """An order the lane must wait for: sent, unknown, or taking liquidity (IOC) and not yet
    done. A resting GTC order that the venue acknowledged does not hold the lane up."""
    if order.state in (OrderState.SENT, OrderState.UNKNOWN):
        return True
    return order.state is OrderState.ACKED and order.tif != "GTC"


@dataclass(frozen=True, slots=True)
class NetPlan:
    """The next order of a lane: `qty` (signed; 0 = the queue cancels out), its price cap,
    and the queued orders it replaces (`joined`; empty when one order is sent as it is).
    `venue` routes it elsewhere than the joined orders' venue (a budget spill), with the
    escalation `step` to record for it (default: the furthest step among the joined)."""

    send: OrderRecord | None  # a queued order to send unchanged
    qty: Decimal
    limit_price: Decimal | None
    tif: str
    reduce_only: bool
    joined: tuple[OrderRecord, ...] = ()
    venue: str | None = None
    step: Step | None = None


def plan(queued: Sequence[OrderRecord]) -> NetPlan | None:
    """What to send next from the lane's queued (pending, never sent) orders, oldest first.

    One queued order goes as it is. Several that can share an order (same time in force and
    reduce-only flag as the oldest) become one order of their summed quantity, capped at the
    price of the newest one on the summed side (the freshest book). None when nothing queues.
    """
    if not queued:
        return None
    head = queued[0]
    group = [o for o in queued if o.tif == head.tif and o.reduce_only == head.reduce_only]
    if len(group) == 1:
        return NetPlan(head, head.qty, head.limit_price, head.tif, head.reduce_only)
    qty = sum((o.remaining for o in group), ZERO)
    same_side = [o for o in group if (o.qty > 0) == (qty > 0)]
    limit = same_side[-1].limit_price if same_side else None
    if any(o.limit_price is None for o in same_side):
        limit = None  # a market order among them: the joined order is one too
    return NetPlan(None, qty, limit, head.tif, head.reduce_only, tuple(group))
