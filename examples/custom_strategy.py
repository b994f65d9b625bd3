"""A user's own strategy, run by the daemon from the config:

    [strategy]
    class = "custom_strategy.py:HedgeFraction"   # relative to the config file (examples/)
    params = { fraction = "0.5", venues = ["binance"] }

It keeps part of every assignment (the BLP is paid the discount to carry it) and hedges the
rest at once, routed like the built-ins (best fee-adjusted price, capped marketable limits).
Like every strategy it only decides: no I/O, so it is unit-testable on hand-made views and a
replayed event gives the same orders. Run it against a local engine with `blp bot -c ...`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import Field

from blp_client.bot.books import ZERO, round_to_lot
from blp_client.bot.strategy import AssignmentReceived, Intent, Strategy, Timer, View
from strategies.routing import RoutingParams, lot_of, route


class HedgeFractionParams(RoutingParams):
    fraction: Decimal = Field(default=Decimal("0.5"), ge=0, le=1)
    """Share of the assigned flow to hedge; the rest is kept."""


class HedgeFraction(Strategy[HedgeFractionParams]):
    """Keep (1 - fraction) of all flow assigned so far, hedge the rest.

    The running total of assigned quantity is strategy state: the daemon journals it with each
    event (`dump_state`) and hands it back after a restart (`load_state`)."""

    Params = HedgeFractionParams
    name = "hedge_fraction"

    def __init__(self, params: HedgeFractionParams | None = None) -> None:
        super().__init__(params)
        self.assigned: dict[str, Decimal] = {}

    def trade(self, view: View, symbol: str) -> Decimal:
        """Signed quantity (whole lots) that brings net exposure to the kept share.

        Net exposure counts orders in flight, so an assignment arriving before the previous
        hedge filled is not hedged twice."""
        keep = self.assigned.get(symbol, ZERO) * (1 - self.params.fraction)
        lot = lot_of(view, symbol, self.params)
        return round_to_lot(keep - view.inventory.net(symbol), lot)

    def hedge(self, view: View, symbol: str, reason: str) -> list[Intent]:
        qty = self.trade(view, symbol)
        if qty == 0:
            return []
        return list(route(view, symbol, qty, self.params, reason).intents)

    def on_assignment(self, view: View, event: AssignmentReceived) -> Sequence[Intent]:
        s = event.symbol
        self.assigned[s] = self.assigned.get(s, ZERO) + event.signed_qty
        return self.hedge(view, s, f"hedge {self.params.fraction} of {event.assignment.id}")

    def on_timer(self, view: View, event: Timer) -> Sequence[Intent]:
        # IOC remainders and sub-lot residuals: try again every tick
        return [i for s in sorted(self.assigned) for i in self.hedge(view, s, "residual")]

    def timer_ms(self) -> int | None:
        return 1000

    def dump_state(self) -> dict[str, Any]:
        return {"assigned": {s: str(q) for s, q in self.assigned.items()}}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.assigned = {s: Decimal(q) for s, q in state.get("assigned", {}).items()}
