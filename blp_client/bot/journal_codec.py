"""Intents to and from JSON for the journal (Decimals as strings, exact)."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any

from blp_client.bot.strategy import FlipOnExchange, Hedge, Intent, SetThreshold

_KINDS: dict[str, type[Hedge] | type[FlipOnExchange] | type[SetThreshold]] = {
    "Hedge": Hedge,
    "FlipOnExchange": FlipOnExchange,
    "SetThreshold": SetThreshold,
}
_DECIMAL_FIELDS = {"qty", "limit_price", "slippage_bps", "value"}


def intent_to_json(intent: Intent) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": type(intent).__name__}
    for f in fields(intent):
        value = getattr(intent, f.name)
        out[f.name] = str(value) if isinstance(value, Decimal) else value
    return out


def intent_from_json(data: dict[str, Any]) -> Intent:
    data = dict(data)
    cls = _KINDS[data.pop("kind")]
    for name in _DECIMAL_FIELDS & data.keys():
        if data[name] is not None:
            data[name] = Decimal(data[name])
    return cls(**data)
