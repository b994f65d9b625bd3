"""ImmediateHedge: offset each assignment at once.

The discount on an assignment is the BLP's profit and market moves eat it, so this strategy
hedges the contract's whole net exposure (assignment included, in-flight orders counted) the
moment an assignment arrives, on the venues with the best fee-adjusted prices for that size,
as capped marketable limits. On each timer tick it hedges whatever is still open (IOC remainders,
rejected orders, residuals that have grown past a venue's minimum), and unwinds both legs when
the exchange account's leverage would keep the BLP's threshold down (`strategies.unwind`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from blp_client.bot.strategy import EXCHANGE, AssignmentReceived, Intent, Strategy, Timer, View
from strategies.routing import RoutingParams, candidates, route
from strategies.unwind import UnwindParams, unwind


class ImmediateHedgeParams(RoutingParams, UnwindParams):
    retry_ms: int | None = Field(default=1000, gt=0)
    """Timer cadence for hedging what is left open; None: only on assignments."""


class ImmediateHedge(Strategy[ImmediateHedgeParams]):
    """Target zero net exposure per contract, immediately."""

    Params = ImmediateHedgeParams
    name = "immediate_hedge"

    def timer_ms(self) -> int | None:
        return self.params.retry_ms

    def hedge_symbol(self, view: View, symbol: str, reason: str) -> list[Intent]:
        net = view.inventory.net(symbol)
        return list(route(view, symbol, -net, self.params, reason).intents)

    def on_assignment(self, view: View, event: AssignmentReceived) -> Sequence[Intent]:
        return self.hedge_symbol(view, event.symbol, f"assignment {event.assignment.id}")

    def on_timer(self, view: View, event: Timer) -> Sequence[Intent]:
        out: list[Intent] = []
        for symbol in view.inventory.symbols():
            out += self.hedge_symbol(view, symbol, "residual")
        if not out:
            venues = sorted(
                {m.venue for s in view.symbols() for m in candidates(view, s, self.params)}
                - {EXCHANGE}
            )
            out += unwind(view, self.params, venues)
        return out
