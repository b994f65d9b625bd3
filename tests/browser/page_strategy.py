"""A strategy with a state for the status page's strategy panel: ImmediateHedge that also keeps
the position it means to hold per contract (zero here) and how many assignments it saw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from blp_client.bot.strategy import AssignmentReceived, Intent, View
from strategies.immediate_hedge import ImmediateHedge


class TargetHedge(ImmediateHedge):
    seen = 0

    def on_assignment(self, view: View, event: AssignmentReceived) -> Sequence[Intent]:
        self.seen += 1
        return super().on_assignment(view, event)

    def dump_state(self) -> dict[str, Any]:
        return {"target": {"BTC-PERP": "0"}, "assignments_seen": self.seen}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.seen = int(state.get("assignments_seen", 0))
