"""blp-client: SDK, hedging bot and reference engine for Backstop Liquidity Providers.

The public names load lazily, so importing the engine core does not pull in aiohttp or ccxt.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "BLPClient": "blp_client.client",
    "BLPError": "blp_client.errors",
    "AuthError": "blp_client.errors",
    "Conflict": "blp_client.errors",
    "ConnectionFailed": "blp_client.errors",
    "InvalidRequest": "blp_client.errors",
    "NotFound": "blp_client.errors",
    "Forbidden": "blp_client.errors",
    "RateLimited": "blp_client.errors",
    "ServerError": "blp_client.errors",
    "StreamError": "blp_client.errors",
    "Strategy": "blp_client.bot.strategy",
    "StrategyParams": "blp_client.bot.strategy",
    "View": "blp_client.bot.strategy",
    "Hedge": "blp_client.bot.strategy",
    "FlipOnExchange": "blp_client.bot.strategy",
    "SetThreshold": "blp_client.bot.strategy",
    "AssignmentReceived": "blp_client.bot.strategy",
    "FillReceived": "blp_client.bot.strategy",
    "Timer": "blp_client.bot.strategy",
    "RiskChanged": "blp_client.bot.strategy",
}
__all__ = [
    "AssignmentReceived",
    "AuthError",
    "BLPClient",
    "BLPError",
    "Conflict",
    "ConnectionFailed",
    "FillReceived",
    "FlipOnExchange",
    "Forbidden",
    "Hedge",
    "InvalidRequest",
    "NotFound",
    "RateLimited",
    "RiskChanged",
    "ServerError",
    "SetThreshold",
    "Strategy",
    "StrategyParams",
    "StreamError",
    "Timer",
    "View",
    "__version__",
]

if TYPE_CHECKING:
    from .bot.strategy import (
        AssignmentReceived,
        FillReceived,
        FlipOnExchange,
        Hedge,
        RiskChanged,
        SetThreshold,
        Strategy,
        StrategyParams,
        Timer,
        View,
    )
    from .client import BLPClient
    from .errors import (
        AuthError,
        BLPError,
        Conflict,
        ConnectionFailed,
        Forbidden,
        InvalidRequest,
        NotFound,
        RateLimited,
        ServerError,
        StreamError,
    )


_DEPRECATED = {"ValidationError": "InvalidRequest"}  # old name -> new name


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        new = _DEPRECATED[name]
        warnings.warn(
            f"blp_client.{name} is deprecated: use blp_client.{new} (it is not pydantic's "
            f"ValidationError)",
            DeprecationWarning,
            stacklevel=2,
        )
        name = new
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'blp_client' has no attribute {name!r}")
    return getattr(import_module(module), name)
