"""Internalize: keep the flow, flip only what exceeds an inventory limit.

For a BLP that wants the position (it is paid the discount to carry it), the only hedge is a
cap: when the net exposure of a contract is worth more than its limit at mark, the excess is
flipped — by default on the exchange's own book, where the BLP has the best fee tier. The
excess is rounded *up* to a lot so the position ends inside the limit.

With `funding` set, the whole kept inventory of a contract is flipped as soon as the funding
it is expected to pay over `funding.horizon_ms` exceeds `funding.max_cost` (`funding_guard`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import Field

from blp_client.bot.books import ZERO, ceil_to_step, floor_to_step, sign
from blp_client.bot.strategy import (
    EXCHANGE,
    AssignmentReceived,
    Intent,
    Strategy,
    Timer,
    View,
)
from strategies.funding_guard import FundingGuardParams, should_hedge
from strategies.routing import RoutingParams, lot_of, route


class InternalizeParams(RoutingParams):
    max_notional: Decimal = Field(default=Decimal(100_000), ge=0)
    """Default limit on |net exposure| × mark per contract, in quote currency."""
    limits: dict[str, Decimal] = Field(default_factory=dict)
    """Per-contract overrides of `max_notional`."""
    venues: list[str] | None = Field(default_factory=lambda: [EXCHANGE])
    include_exchange: bool = True
    interval_ms: int | None = Field(default=1000, gt=0)
    """Timer cadence for re-checking the limit (marks move); None: only on assignments."""
    funding: FundingGuardParams | None = None
    """Funding-aware: flip the kept inventory when its expected funding cost is too high."""


class Internalize(Strategy[InternalizeParams]):
    Params = InternalizeParams
    name = "internalize"

    def timer_ms(self) -> int | None:
        return self.params.interval_ms

    def limit(self, symbol: str) -> Decimal:
        return self.params.limits.get(symbol, self.params.max_notional)

    def excess(self, view: View, symbol: str) -> Decimal:
        """Signed quantity to trade to bring |net| × mark back within the limit (0 if inside)."""
        net = view.inventory.net(symbol)
        mark = view.mark(symbol)
        if net == 0 or mark is None or mark <= 0:
            return ZERO
        over = abs(net) - self.limit(symbol) / mark
        if over <= 0:
            return ZERO
        lot = lot_of(view, symbol, self.params)
        qty = min(ceil_to_step(over, lot), floor_to_step(abs(net), lot))
        return -sign(net) * qty

    def flip(self, view: View, symbol: str, reason: str) -> list[Intent]:
        qty = self.excess(view, symbol)
        if should_hedge(view, symbol, self.params.funding):
            net = view.inventory.net(symbol)
            qty = -sign(net) * floor_to_step(abs(net), lot_of(view, symbol, self.params))
            reason = "funding cost over limit"
        if qty == 0:
            return []
        return list(route(view, symbol, qty, self.params, reason).intents)

    def on_assignment(self, view: View, event: AssignmentReceived) -> Sequence[Intent]:
        return self.flip(view, event.symbol, f"over limit after {event.assignment.id}")

    def on_timer(self, view: View, event: Timer) -> Sequence[Intent]:
        out: list[Intent] = []
        for symbol in view.inventory.symbols():
            out += self.flip(view, symbol, "over limit")
        return out
