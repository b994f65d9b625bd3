"""A strategy whose decisions depend on the assignment alone, and are recorded: so the same
events must give the same intents whichever shell (the daemon's or the backtest's) runs it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from blp_client.bot.strategy import AssignmentReceived, Hedge, Intent, NoParams, Strategy, View


class RecordedHedge(Strategy[NoParams]):
    """Sell what was bought (and the reverse) on venue "b" at the assignment's price."""

    Params = NoParams
    name = "recorded_hedge"
    decisions: ClassVar[list[tuple[str, tuple[Intent, ...]]]] = []

    def on_assignment(self, view: View, event: AssignmentReceived) -> Sequence[Intent]:
        a = event.assignment
        qty = -a.qty if a.side == "buy" else a.qty
        out: tuple[Intent, ...] = (
            Hedge(a.symbol, "b", qty, a.price, "IOC", None, f"assignment {a.id}"),
        )
        RecordedHedge.decisions.append((a.id, out))
        return out
