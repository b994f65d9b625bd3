"""A subset of the Binance USDⓈ-M futures REST API over one engine `Exchange`.

Faithful enough that the real, unmodified `ccxt.async_support.binanceusdm` class trades against
it (see `local_binance` in `blp_client.bot.venues` for the client options): the same paths,
parameters, signing (`X-MBX-APIKEY` + HMAC-SHA256 `signature` over query string + body,
`timestamp`/`recvWindow`), response shapes and `{"code": -NNNN, "msg": ...}` errors.

Engine contracts are served as Binance symbols: `BTC-PERP` ↔ `BTCUSDT` (base + "USDT"). Orders
go to the engine's real book (market orders walk it), in one-way position mode with cross
margin. `newClientOrderId` is unique per account among its open orders and its latest 1,000
closed ones (the engine's `CLOSED_ORDERS_KEPT`; an older order answers -2013 "Order does not
exist", as Binance does for one too old); `reduceOnly` is honoured.

Binance's rate limits are on by default (`limits`, `weights`): request weight 2,400 per minute
per IP with Binance's per-endpoint weights, 300 new orders per 10 s and 1,200 per minute per
account, `X-MBX-USED-WEIGHT-1M` / `X-MBX-ORDER-COUNT-10S` / `-1M` headers, 429 (-1003, -1015)
with `Retry-After`, and a 418 ban for a client that keeps sending after its 429s.

What lives here and not in the BLP server: the API-key registry of venue accounts, the fault
switches (`engine/faults.py`), the rate limiter and a request log, with admin routes under
`/admin/v1/venue/...` (guarded by `X-ADMIN-TOKEN` when an admin token is set):

- `POST /admin/v1/venue/keys` `{"account_id": 3}` or `{"collateral": "10000"}` (opens a trader
  account) [+ optional `api_key`, `api_secret`] → `{"account_id", "api_key", "api_secret"}`
- `GET /admin/v1/venue/faults` → the switches; `PUT` with any subset of them (see `FaultConfig`);
  `POST /admin/v1/venue/faults/burst` `{"length": n}` → the next n requests get 429;
  `DELETE /admin/v1/venue/faults` → all off
- `GET /admin/v1/venue/limits` → `{"config", "now_ms", "clients", "accounts", "served"}` (the
  limits, usage in the current windows, 429/418 answers given); `PUT` with any subset of the
  config (see `LimitsConfig`); `DELETE` forgets usage, bans and counts
- `GET /admin/v1/venue/requests` → the request log; `DELETE` clears it.

Leverage (`POST /fapi/v1/leverage`) is kept per account and symbol and caps the position
notional like Binance's brackets do (`-2027`); the margin check itself is the engine's tiered
IMR. Funding is not modelled (`lastFundingRate` 0).

The websocket market streams (`/ws`, `/stream`, `/public/...`, `/market/...`: diff and partial
depth, bookTicker, 24 h tickers, Binance's SUBSCRIBE protocol) are served from the same app, so
`ccxt.pro.binanceusdm` watches the engine's books; `/fapi/v1/depth`'s `lastUpdateId` and the
diff stream's update ids are one sequence (see `streams`).

Modules: `facade` (wiring, the route table `rest_routes()`, Python API), `endpoint` (request
pipeline, faults, limits' answers, request log), `limits` (the pure rate limiter), `weights`
(Binance's endpoint weights), `auth` (signing, keys), `errors` (Binance error codes), `params`
(typed parameters), `state` (bookkeeping beyond the engine), `shapes` (response objects),
`market_data`, `orders`, `account` (endpoint handlers), `admin` (admin routes, over the
facade's `Venue` protocol), `streams` (websocket market streams).
"""

from .auth import API_KEY_HEADER, DEFAULT_RECV_WINDOW, MAX_RECV_WINDOW
from .endpoint import RequestRecord
from .errors import BinanceApiError
from .facade import BinanceFacade
from .shapes import fmt
from .state import DEFAULT_LEVERAGE, QUOTE

__all__ = [
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
