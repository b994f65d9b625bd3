"""Shared by the hedging strategies: turn "trade this much of a contract" into orders on venues.

Split across venues by depth and taker fees (`books.allocate`), each as a marketable limit capped
at `slippage_bps` through the touch. What cannot be placed yet (below a lot or a venue minimum)
is left in the position: the strategies hedge from net exposure, so a residual is picked up by
the next decision once it has grown tradable, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import Field

from blp_client.bot.books import ZERO, allocate, capped_limit, sign
from blp_client.bot.strategy import (
    EXCHANGE,
    FlipOnExchange,
    Hedge,
    OrderIntent,
    StrategyParams,
    VenueMarket,
    View,
)


class RoutingParams(StrategyParams):
    venues: list[str] | None = None
    """Hedge venues to use; None: every venue in the view except the exchange itself."""
    include_exchange: bool = False
    """Also consider the exchange's own book (as `FlipOnExchange`)."""
    slippage_bps: Decimal = Field(default=Decimal(20), ge=0, le=1000)
    """Marketable limit price cap, in basis points through the touch."""


@dataclass(frozen=True, slots=True)
class Routed:
    intents: list[OrderIntent]
    residual: Decimal  # signed quantity not placed yet


def candidates(view: View, symbol: str, routing: RoutingParams) -> list[VenueMarket]:
    out = []
    for m in view.markets_for(symbol):
        if routing.venues is not None:
            wanted = m.venue in routing.venues or (m.venue == EXCHANGE and routing.include_exchange)
        else:
            wanted = m.venue != EXCHANGE or routing.include_exchange
        if wanted:
            out.append(m)
    return out


def order_for(
    m: VenueMarket, symbol: str, qty: Decimal, slippage_bps: Decimal, reason: str
) -> OrderIntent | None:
    """A capped marketable limit for signed `qty` on `m`, or None when there is no price."""
    side = sign(qty)
    ref = m.touch(side)
    if ref is None:
        ref = m.mark if m.mark is not None else m.mid()
    if ref is None or side == 0:
        return None
    limit = capped_limit(ref, side, slippage_bps, m.tick)
    if m.venue == EXCHANGE:
        return FlipOnExchange(symbol, qty, limit, "IOC", slippage_bps, True, reason)
    return Hedge(symbol, m.venue, qty, limit, "IOC", slippage_bps, reason)


def route(view: View, symbol: str, qty: Decimal, routing: RoutingParams, reason: str) -> Routed:
    """Orders that trade signed `qty` of `symbol` as cheaply as the books allow."""
    side = sign(qty)
    if side == 0:
        return Routed([], ZERO)
    markets = {m.venue: m for m in candidates(view, symbol, routing)}
    alloc = allocate(abs(qty), side, [m.candidate(side) for m in markets.values()])
    intents: list[OrderIntent] = []
    placed = ZERO
    for venue, size in alloc.qty.items():
        intent = order_for(markets[venue], symbol, side * size, routing.slippage_bps, reason)
        if intent is not None:
            intents.append(intent)
            placed += size
    return Routed(intents, side * (abs(qty) - placed))


def lot_of(view: View, symbol: str, routing: RoutingParams) -> Decimal:
    """The coarsest lot among the candidate venues (to size "at least this much" orders)."""
    return max((m.lot for m in candidates(view, symbol, routing)), default=ZERO)
