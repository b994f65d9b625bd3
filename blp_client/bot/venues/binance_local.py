"""`local_binance`: the unmodified ccxt `binanceusdm` class (or its `ccxt.pro` websocket
variant) pointed at the engine's own Binance USDⓈ-M facade (`blp_client.engine.binance`), for
tests, demos and paper setups that want a real ccxt client without the internet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]
import ccxt.pro as ccxt_pro  # type: ignore[import-untyped]

LOCAL_BINANCE_OPTIONS: dict[str, Any] = {
    # one market type only: USDⓈ-M linear (no spot/coin-M exchangeInfo calls)
    "defaultType": "swap",
    "fetchMarkets": {"types": ["linear"]},
    # fetchCurrencies is a private sapi call on Binance: off, currencies come from markets
    "fetchCurrencies": False,
    "fetchMargins": False,
    # sync the signing clock with the engine's /fapi/v1/time on load_markets
    "adjustForTimeDifference": True,
    "recvWindow": 5_000,
    # we name the symbol or iterate symbols ourselves
    "fetchOpenOrders": {"warnWithoutSymbol": False},
    "warnOnFetchOpenOrdersWithoutSymbol": False,
}


def local_binance(
    url: str,
    api_key: str | None = None,
    secret: str | None = None,
    *,
    timeout_ms: int = 10_000,
    rate_limit_ms: float | None = None,
    rate_limit: bool = True,
    options: Mapping[str, Any] | None = None,
    pro: bool = False,
    ws_url: str | None = None,
) -> Any:
    """An unmodified `ccxt.async_support.binanceusdm` pointed at the engine's venue facade;
    `pro=True`: `ccxt.pro.binanceusdm`, whose `watch_*` methods use the facade's websocket
    market streams (`engine.binance.streams`).

    Every entry of `urls['api']` (and of the test/demo URL sets, so sandbox mode cannot switch
    to the internet) is rewritten to `url` + the entry's path: fapi paths reach the facade,
    anything else (sapi, spot, coin-M) gets a local 404. The websocket entries (`urls[...]
    ['ws']`, ws-api included) go to `ws_url` (default: `url` with ws:// for http://) + their
    path the same way. Options: see `LOCAL_BINANCE_OPTIONS`.

    ccxt picks Binance's USDⓈ-M error table by the request URL's host name (`fapi.binance.com`),
    which a local URL does not have; the linear table is therefore merged into the exchange-wide
    one, exactly the lookup ccxt does for the real host (so -2019 raises `InsufficientFunds`,
    -4164 `InvalidOrder`, ...). `rate_limit_ms` scales ccxt's own throttle for loopback tests;
    `rate_limit=False` turns it off (the facade enforces Binance's rate limits unless the
    engine runs with them off, so a client without the throttle must stay under them).
    """
    base = url.rstrip("/")
    ws_base = (ws_url or _ws_of(base)).rstrip("/")
    config: dict[str, Any] = {
        "timeout": timeout_ms,
        "enableRateLimit": rate_limit,
        "options": {**LOCAL_BINANCE_OPTIONS, **(options or {})},
    }
    if api_key is not None:
        config["apiKey"] = api_key
    if secret is not None:
        config["secret"] = secret
    if rate_limit_ms is not None:
        config["rateLimit"] = rate_limit_ms
    ex = (ccxt_pro if pro else ccxt_async).binanceusdm(config)
    for url_set in ("api", "test", "demo"):
        entries = ex.urls.get(url_set)
        if isinstance(entries, dict):
            ex.urls[url_set] = {
                k: _localise(v, ws_base if k == "ws" else base) for k, v in entries.items()
            }
    exc = ex.exceptions
    linear = exc.get("linear", {})
    exc["exact"] = {**exc.get("exact", {}), **linear.get("exact", {})}
    exc["broad"] = {**exc.get("broad", {}), **linear.get("broad", {})}
    return ex


def _localise(value: Any, base: str) -> Any:
    if isinstance(value, str):
        parts = urlsplit(value)
        return base + parts.path
    if isinstance(value, dict):
        return {k: _localise(v, base) for k, v in value.items()}
    return value


def _ws_of(http_url: str) -> str:
    """ws://host:port for http://host:port (wss:// for https://)."""
    if http_url.startswith("https://"):
        return "wss://" + http_url.removeprefix("https://")
    return "ws://" + http_url.removeprefix("http://")
