"""BandHedge: tolerate exposure inside a band, hedge what is outside it, on a timer.

Hedging every assignment pays the spread and fees each time; many small assignments in both
directions partly cancel. This strategy lets net exposure float within ±band (quote notional at
mark) and, on each tick, trades back to `rebalance_to` × band (1 = the band's edge, the least
trading; 0 = flat).

With `funding` set, a contract inside the band is hedged flat as soon as the funding its kept
inventory is expected to pay over `funding.horizon_ms` exceeds `funding.max_cost`
(`funding_guard`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import Field

from blp_client.bot.books import ZERO, sign
from blp_client.bot.strategy import Intent, Strategy, Timer, View
from strategies.funding_guard import FundingGuardParams, should_hedge
from strategies.routing import RoutingParams, route


class BandHedgeParams(RoutingParams):
    band_notional: Decimal = Field(default=Decimal(50_000), ge=0)
    """Default half-width of the band, |net| × mark, in quote currency."""
    bands: dict[str, Decimal] = Field(default_factory=dict)
    """Per-contract overrides of `band_notional`."""
    rebalance_to: Decimal = Field(default=Decimal(1), ge=0, le=1)
    """Where to trade back to, as a fraction of the band."""
    interval_ms: int = Field(default=5000, gt=0)
    funding: FundingGuardParams | None = None
    """Funding-aware: hedge flat when the kept inventory's expected funding cost is too high."""


class BandHedge(Strategy[BandHedgeParams]):
    Params = BandHedgeParams
    name = "band_hedge"

    def timer_ms(self) -> int | None:
        return self.params.interval_ms

    def band(self, symbol: str) -> Decimal:
        return self.params.bands.get(symbol, self.params.band_notional)

    def outside(self, view: View, symbol: str) -> Decimal:
        """Signed quantity to trade (0 while inside the band)."""
        net = view.inventory.net(symbol)
        mark = view.mark(symbol)
        if net == 0 or mark is None or mark <= 0:
            return ZERO
        if should_hedge(view, symbol, self.params.funding):
            return -net
        band = self.band(symbol)
        if abs(net) * mark <= band:
            return ZERO
        target = sign(net) * band * self.params.rebalance_to / mark
        return target - net

    def on_timer(self, view: View, event: Timer) -> Sequence[Intent]:
        out: list[Intent] = []
        for symbol in view.inventory.symbols():
            qty = self.outside(view, symbol)
            if qty != 0:
                reason = (
                    "funding cost over limit"
                    if should_hedge(view, symbol, self.params.funding)
                    else "outside band"
                )
                out += route(view, symbol, qty, self.params, reason).intents
        return out
