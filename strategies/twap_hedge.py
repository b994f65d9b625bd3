"""TwapHedge: spread each assignment's offset over a horizon, in equal slices.

A large assignment hedged at once walks thin books; slicing trades some price risk for less
market impact. Each assignment starts a schedule: `slices` equal parts, the first at once and
one every `horizon_ms / slices` (timer ticks), so after slice k the cumulative target is
(k+1)/slices of the offset. Each tick trades target − already-sent, never more than the open
net exposure (in-flight orders counted). When every schedule of a contract is done, ticks hedge
whatever net exposure is left (IOC remainders, residuals below a venue's minimum).

The schedules are strategy state: they are journaled with each event (`dump_state`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from blp_client.bot.books import ZERO, sign
from blp_client.bot.strategy import AssignmentReceived, Intent, Strategy, Timer, View
from strategies.routing import RoutingParams, route


class TwapHedgeParams(RoutingParams):
    horizon_ms: int = Field(default=60_000, gt=0)
    slices: int = Field(default=6, ge=1, le=10_000)
    catch_up: bool = True
    """After the schedules end, hedge any exposure left on each tick."""

    @model_validator(mode="after")
    def _slice_at_least_1ms(self) -> TwapHedgeParams:
        if self.horizon_ms < self.slices:
            raise ValueError("horizon_ms must be at least one ms per slice")
        return self

    @property
    def slice_ms(self) -> int:
        return self.horizon_ms // self.slices


class TwapHedge(Strategy[TwapHedgeParams]):
    Params = TwapHedgeParams
    name = "twap_hedge"

    def __init__(self, params: TwapHedgeParams | None = None) -> None:
        super().__init__(params)
        self.programs: dict[str, list[tuple[int, Decimal]]] = {}  # symbol -> (start, qty)
        self.emitted: dict[str, Decimal] = {}

    def timer_ms(self) -> int | None:
        return self.params.slice_ms

    def _done_slices(self, start: int, now: int) -> int:
        if now < start:
            return 0
        return min(self.params.slices, (now - start) // self.params.slice_ms + 1)

    def target(self, symbol: str, now: int) -> Decimal:
        """Cumulative signed quantity the schedules want sent by `now`."""
        n = self.params.slices
        programs = self.programs.get(symbol, [])
        return sum((qty * self._done_slices(start, now) / n for start, qty in programs), ZERO)

    def _step(self, view: View, symbol: str, reason: str) -> list[Intent]:
        net = view.inventory.net(symbol)
        if symbol not in self.programs:
            if self.params.catch_up and net != 0:
                return list(route(view, symbol, -net, self.params, "catch up").intents)
            return []
        due = self.target(symbol, view.now_ms) - self.emitted.get(symbol, ZERO)
        # only trade towards flat, and never past it
        due = sign(due) * min(abs(due), abs(net)) if sign(due) == -sign(net) else ZERO
        out: list[Intent] = []
        if due != 0:
            routed = route(view, symbol, due, self.params, reason)
            out = list(routed.intents)
            self.emitted[symbol] = self.emitted.get(symbol, ZERO) + due - routed.residual
        last_end = max(
            s + (self.params.slices - 1) * self.params.slice_ms for s, _q in self.programs[symbol]
        )
        if view.now_ms >= last_end:
            del self.programs[symbol]
            self.emitted.pop(symbol, None)
        return out

    def on_assignment(self, view: View, event: AssignmentReceived) -> Sequence[Intent]:
        symbol = event.symbol
        self.programs.setdefault(symbol, []).append((view.now_ms, -event.signed_qty))
        return self._step(view, symbol, f"twap slice for {event.assignment.id}")

    def on_timer(self, view: View, event: Timer) -> Sequence[Intent]:
        out: list[Intent] = []
        for symbol in sorted(set(self.programs) | set(view.inventory.symbols())):
            out += self._step(view, symbol, "twap slice")
        return out

    def dump_state(self) -> dict[str, Any]:
        return {
            "programs": {s: [[t, str(q)] for t, q in p] for s, p in self.programs.items()},
            "emitted": {s: str(q) for s, q in self.emitted.items()},
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.programs = {
            s: [(int(t), Decimal(q)) for t, q in p] for s, p in state.get("programs", {}).items()
        }
        self.emitted = {s: Decimal(q) for s, q in state.get("emitted", {}).items()}
