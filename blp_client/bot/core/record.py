"""`Record`: one journal transaction, as the decider asks for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from blp_client.bot.core.escalation import Step
from blp_client.bot.journal_schema import FillRecord, FundingRecord, PositionDelta
from blp_client.bot.risk import Denied
from blp_client.bot.strategy import Intent
from blp_client.models import Event


@dataclass(frozen=True, slots=True)
class Record:
    """One journal transaction. `event` set: a stream event (`Journal.record_event`, skipped
    when its seq is already processed); else a decision of `source` (t timer, r risk, f venue
    fill, e escalation, c reconciliation's corrections)."""

    kind: str
    event: Event | None = None
    source: str = ""
    positions: tuple[PositionDelta, ...] = ()
    fills: tuple[FillRecord, ...] = ()
    intents: tuple[Intent, ...] = ()
    denied: tuple[Denied, ...] = ()
    state: Mapping[str, Any] | None = None
    steps: Mapping[int, Step] = field(default_factory=dict)  # escalation step of intent n
    funding: tuple[FundingRecord, ...] = ()  # the exchange's payments on the stream
