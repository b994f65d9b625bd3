"""Compatibility path for the Binance USDⓈ-M facade, now the package `blp_client.engine.binance`
(see its docstring). `local_binance`/`LOCAL_BINANCE_OPTIONS` (the ccxt client side, in
`blp_client.bot.venues`) are re-exported lazily so the engine does not import ccxt by default.
"""

from __future__ import annotations

from typing import Any

from .binance import (
    API_KEY_HEADER,
    DEFAULT_LEVERAGE,
    DEFAULT_RECV_WINDOW,
    MAX_RECV_WINDOW,
    QUOTE,
    BinanceApiError,
    BinanceFacade,
    RequestRecord,
    fmt,
)
from .binance.admin import ADMIN_HEADER

__all__ = [
    "ADMIN_HEADER",
    "API_KEY_HEADER",
    "DEFAULT_LEVERAGE",
    "DEFAULT_RECV_WINDOW",
    "MAX_RECV_WINDOW",
    "QUOTE",
    "BinanceApiError",
    "BinanceFacade",
    "RequestRecord",
    "fmt",
]

_CLIENT_NAMES = ("local_binance", "LOCAL_BINANCE_OPTIONS")


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from blp_client.bot.venues import binance_local as client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
