"""A subset of the Binance USDⓈ-M futures REST API over one engine `Exchange`.

Faithful enough that the real, unmodified `ccxt.async_support.binanceusdm` class trades against
it (see `local_binance` in `blp_client.bot.venues` for the client options): the same paths,
parameters, signing (`X-MBX-APIKEY` + HMAC-SHA256 `signature` over query string + body,
`timestamp`/`recvWindow`), response shapes and `{"code": -NNNN, "msg": ...}` errors.

Engine contracts are served as Binance symbols: `BTC-PERP` ↔ `BTCUSDT` (base + "USDT"). Orders
go to the engine's real book (market orders walk it), in one-way position mode with cross
margin. `newClientOrderId` is kept and unique per account for good; `reduceOnly` is honoured.

What lives here and not in the BLP server: the API-key registry of venue accounts, the fault
switches (`faults.py`) and a request log, with admin routes under `/admin/v1/venue/...`
(guarded by `X-ADMIN-TOKEN` when an admin token is set):

- `POST /admin/v1/venue/keys` `{"account_id": 3}` or `{"collateral": "10000"}` (opens a trader
  account) [+ optional `api_key`, `api_secret`] → `{"account_id", "api_key", "api_secret"}`
- `GET /admin/v1/venue/faults` → the switches; `PUT` with any subset of them (see `FaultConfig`);
  `POST /admin/v1/venue/faults/burst` `{"length": n}` → the next n requests get 429;
  `DELETE /admin/v1/venue/faults` → all off
- `GET /admin/v1/venue/requests` → the request log; `DELETE` clears it.

Leverage (`POST /fapi/v1/leverage`) is kept per account and symbol and caps the position
notional like Binance's brackets do (`-2027`); the margin check itself is the engine's tiered
IMR. Funding is not modelled (`lastFundingRate` 0).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from .core import events as ev
from .core.book import Order, OrderStatus, Side, TimeInForce
from .core.exchange import Exchange, ExchangeError
from .core.instruments import Instrument
from .core.ledger import Account, AccountKind
from .core.margin import liquidation_price
from .core.num import ZERO, floor_to, money, price_q
from .faults import FaultConfig, FaultInjector

_log = structlog.get_logger("blp_client.engine.binance_api")

QUOTE = "USDT"
ADMIN_HEADER = "X-ADMIN-TOKEN"
API_KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW = 5_000
MAX_RECV_WINDOW = 60_000
DEFAULT_LEVERAGE = 20
DAY_MS = 86_400_000
_NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_BIG = Decimal("1000000000")

JSON = Any
Handler = Callable[["_Call"], Awaitable[JSON]]


class BinanceApiError(Exception):
    """An error answered the Binance way: HTTP status + `{"code": code, "msg": msg}`."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def _missing(name: str) -> BinanceApiError:
    return BinanceApiError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def fmt(x: Decimal) -> str:
    """A plain decimal string without exponent or trailing zeros ('0' for zero)."""
    if x == 0:
        return "0"
    s = format(x.normalize(), "f")
    return s


def _precision(step: Decimal) -> int:
    exp = step.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


@dataclass(frozen=True)
class RequestRecord:
    """One request the facade saw (no keys or secrets, only the account it resolved to)."""

    seq: int
    method: str
    path: str
    private: bool  # the endpoint needs a signature
    signed: bool  # the request carried an API key or a signature
    account_id: int | None
    status: int
    fault: str | None  # latency | rate_limited | server_error | lost_response | partial_fill


@dataclass
class _UserTrade:
    id: int
    symbol: str
    order_id: int
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    realised: Decimal
    maker: bool
    time: int


@dataclass
class _Credentials:
    account_id: int
    secret: str


class _Call:
    """The parsed request a handler sees."""

    def __init__(self, request: web.Request, params: dict[str, str], account_id: int | None):
        self.request = request
        self.params = params
        self.account_id = account_id
        self.fault: str | None = None

    @property
    def account(self) -> int:
        assert self.account_id is not None
        return self.account_id

    def get(self, name: str) -> str | None:
        v = self.params.get(name)
        return v if v not in (None, "") else None

    def need(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise _missing(name)
        return v

    def decimal(self, name: str) -> Decimal | None:
        v = self.get(name)
        if v is None:
            return None
        if not _NUMBER_RE.match(v):
            raise BinanceApiError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is "
                "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
            )
        return Decimal(v)

    def integer(self, name: str) -> int | None:
        v = self.get(name)
        if v is None:
            return None
        try:
            return int(v)
        except ValueError:
            raise BinanceApiError(
                -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]+$'."
            ) from None

    def boolean(self, name: str) -> bool:
        v = self.get(name)
        if v is None:
            return False
        if v.lower() not in ("true", "false"):
            raise BinanceApiError(-1130, f"Invalid data sent for a parameter: '{name}'.")
        return v.lower() == "true"


class _TickerStats:
    """Rolling 24 h of trades of one symbol (engine time)."""

    def __init__(self) -> None:
        self.trades: deque[tuple[int, int, Decimal, Decimal]] = deque()  # ts, id, price, qty

    def add(self, ts: int, trade_id: int, price: Decimal, qty: Decimal) -> None:
        self.trades.append((ts, trade_id, price, qty))

    def trim(self, now: int) -> None:
        while self.trades and self.trades[0][0] < now - DAY_MS:
            self.trades.popleft()


class BinanceFacade:
    """Serves the Binance USDⓈ-M subset over `exchange` on an aiohttp app.

    `now_ms()` is the engine's time (order, trade and book timestamps; a mutating request first
    brings the engine up to it); `on_change()` is called after every mutating request so the
    owning service can drain engine events. `clock_ms()` (default: wall time) is the server
    clock of `/fapi/v1/time` and of the `timestamp`/`recvWindow` check.
    """

    def __init__(
        self,
        exchange: Exchange,
        now_ms: Callable[[], int],
        on_change: Callable[[], None],
        admin_token: str | None = None,
        *,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.exchange = exchange
        self.now_ms = now_ms
        # The signing clock (/fapi/v1/time, timestamp/recvWindow) is the server's wall clock,
        # as on Binance: engine time may run accelerated or be stepped by hand, and a client's
        # request timestamps must not drift out of the window because of that.
        self.clock_ms = clock_ms or _wall_ms
        self.on_change = on_change
        self.admin_token = admin_token
        self.faults = FaultInjector()
        self.request_log: list[RequestRecord] = []
        self._keys: dict[str, _Credentials] = {}
        self._venue_accounts: set[int] = set()
        self._to_venue = {s: f"{inst.base}{QUOTE}" for s, inst in exchange.instruments.items()}
        self._to_engine = {v: s for s, v in self._to_venue.items()}
        self._leverage: dict[tuple[int, str], int] = {}
        self._orig_qty: dict[int, Decimal] = {}  # partial-fill fault: what the client asked for
        self._tif_label: dict[int, str] = {}  # FOK/GTX orders run as IOC/GTC on the engine
        self._user_cancelled: set[int] = set()
        self._order_updated: dict[int, int] = {}
        self._position_updated: dict[tuple[int, str], int] = {}
        self._user_trades: dict[int, list[_UserTrade]] = {}
        self._realised_seen: dict[int, Decimal] = {}
        self._stats = {s: _TickerStats() for s in exchange.instruments}
        self._book_seq = 0
        self._seq = 0
        self._generated_ids = 0
        # Observe the engine's events as they are emitted (the service drains the list
        # itself): fills of venue accounts by anyone, order closes, 24 h ticker stats.
        self._inner_emit = exchange.emit
        setattr(exchange, "emit", self._observe)  # noqa: B010 - chained wrapper

    # ---- symbols ------------------------------------------------------------------------

    def venue_symbol(self, engine_symbol: str) -> str:
        return self._to_venue[engine_symbol]

    def engine_symbol(self, venue_symbol: str) -> str:
        return self._to_engine[venue_symbol]

    def _inst(self, venue_symbol: str | None) -> Instrument:
        if venue_symbol is None:
            raise _missing("symbol")
        s = self._to_engine.get(venue_symbol.upper())
        if s is None:
            raise BinanceApiError(-1121, "Invalid symbol.")
        return self.exchange.instruments[s]

    # ---- keys, faults, log (Python API; the admin routes call these) -------------------

    def add_api_key(
        self, account_id: int, api_key: str | None = None, api_secret: str | None = None
    ) -> tuple[str, str]:
        """Register an API key for an engine account; returns (api_key, api_secret)."""
        acct = self.exchange.account(account_id)
        if acct.kind not in (AccountKind.TRADER, AccountKind.BLP):
            raise ValueError(f"account {account_id} is a {acct.kind} account and cannot trade")
        key = api_key or secrets.token_hex(32)
        secret = api_secret or secrets.token_hex(32)
        if key in self._keys:
            raise ValueError("api key already registered")
        self._keys[key] = _Credentials(account_id, secret)
        self._venue_accounts.add(account_id)
        self._realised_seen.setdefault(account_id, acct.realised_pnl)
        self._user_trades.setdefault(account_id, [])
        _log.info("venue_key_added", account_id=account_id)
        return key, secret

    def set_faults(self, config: FaultConfig) -> None:
        self.faults.configure(config)
        _log.info("venue_faults_set", **config.to_dict())

    def clear_request_log(self) -> None:
        self.request_log.clear()

    def private_requests(self) -> list[RequestRecord]:
        return [r for r in self.request_log if r.private]

    # ---- engine observation -------------------------------------------------------------

    def _observe(self, event: ev.Event) -> None:
        self._inner_emit(event)
        if isinstance(event, ev.Trade):
            self._book_seq += 1
            self._stats[event.symbol].add(event.ts, event.trade_id, event.price, event.qty)
            taker_side = Side(event.taker_side)
            for acct_id, order_id, fee, maker, side in (
                (event.taker_account_id, event.taker_order_id, event.taker_fee, False, taker_side),
                (
                    event.maker_account_id,
                    event.maker_order_id,
                    event.maker_fee,
                    True,
                    taker_side.opposite,
                ),
            ):
                if acct_id not in self._venue_accounts:
                    continue
                acct = self.exchange.ledger.accounts[acct_id]
                realised = acct.realised_pnl - self._realised_seen.get(acct_id, ZERO)
                self._realised_seen[acct_id] = acct.realised_pnl
                self._user_trades[acct_id].append(
                    _UserTrade(
                        event.trade_id,
                        event.symbol,
                        order_id,
                        side,
                        event.price,
                        event.qty,
                        fee,
                        realised,
                        maker,
                        event.ts,
                    )
                )
                self._order_updated[order_id] = event.ts
                self._position_updated[(acct_id, event.symbol)] = event.ts
        elif isinstance(event, ev.OrderAccepted | ev.OrderClosed):
            self._book_seq += 1
            if event.account_id in self._venue_accounts:
                self._order_updated[event.order_id] = event.ts

    def _update_id(self) -> int:
        # changes whenever any order is added (quotes included), closed or traded
        return self.exchange._next_order_id + self._book_seq

    # ---- routing ------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        public: list[tuple[str, str, Handler]] = [
            ("GET", "/fapi/v1/ping", self._ping),
            ("GET", "/fapi/v1/time", self._time),
            ("GET", "/fapi/v1/exchangeInfo", self._exchange_info),
            ("GET", "/fapi/v1/depth", self._depth),
            ("GET", "/fapi/v1/ticker/bookTicker", self._book_ticker),
            ("GET", "/fapi/v1/ticker/24hr", self._ticker_24hr),
            ("GET", "/fapi/v1/ticker/price", self._ticker_price),
            ("GET", "/fapi/v2/ticker/price", self._ticker_price),
            ("GET", "/fapi/v1/premiumIndex", self._premium_index),
        ]
        private: list[tuple[str, str, Handler, bool]] = [
            ("POST", "/fapi/v1/order", self._new_order, True),
            ("GET", "/fapi/v1/order", self._get_order, False),
            ("DELETE", "/fapi/v1/order", self._cancel_order, True),
            ("GET", "/fapi/v1/openOrders", self._open_orders, False),
            ("DELETE", "/fapi/v1/allOpenOrders", self._cancel_all, True),
            ("GET", "/fapi/v1/allOrders", self._all_orders, False),
            ("GET", "/fapi/v1/userTrades", self._user_trades_h, False),
            ("GET", "/fapi/v2/positionRisk", self._position_risk_v2, False),
            ("GET", "/fapi/v3/positionRisk", self._position_risk_v3, False),
            ("GET", "/fapi/v2/balance", self._balance, False),
            ("GET", "/fapi/v3/balance", self._balance, False),
            ("GET", "/fapi/v2/account", self._account_v2, False),
            ("GET", "/fapi/v3/account", self._account_v3, False),
            ("POST", "/fapi/v1/leverage", self._set_leverage, True),
            ("GET", "/fapi/v1/leverageBracket", self._leverage_bracket, False),
            ("GET", "/fapi/v1/commissionRate", self._commission_rate, False),
        ]
        for method, path, h in public:
            r.add_route(method, path, self._endpoint(h, private=False, mutating=False))
        for method, path, h, mutating in private:
            r.add_route(method, path, self._endpoint(h, private=True, mutating=mutating))
        admin: list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]] = [
            ("GET", "/admin/v1/venue", self._admin_info),
            ("POST", "/admin/v1/venue/keys", self._admin_add_key),
            ("GET", "/admin/v1/venue/faults", self._admin_get_faults),
            ("PUT", "/admin/v1/venue/faults", self._admin_put_faults),
            ("DELETE", "/admin/v1/venue/faults", self._admin_clear_faults),
            ("POST", "/admin/v1/venue/faults/burst", self._admin_burst),
            ("GET", "/admin/v1/venue/requests", self._admin_requests),
            ("DELETE", "/admin/v1/venue/requests", self._admin_clear_requests),
        ]
        for method, path, ah in admin:
            r.add_route(method, path, self._admin(ah))

    def _log_request(
        self,
        request: web.Request,
        private: bool,
        signed: bool,
        account_id: int | None,
        status: int,
        fault: str | None,
    ) -> None:
        self._seq += 1
        self.request_log.append(
            RequestRecord(
                self._seq,
                request.method,
                request.path,
                private,
                signed,
                account_id,
                status,
                fault,
            )
        )

    def _endpoint(
        self, handler: Handler, *, private: bool, mutating: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            faults = self.faults
            signed = API_KEY_HEADER in request.headers or "signature=" in request.raw_path
            fault: str | None = None
            delay = faults.latency_s()
            if delay:
                fault = "latency"
                await asyncio.sleep(delay)
            limited = faults.rate_limited()
            if limited is not None:
                self._log_request(request, private, signed, None, limited, "rate_limited")
                return web.json_response(
                    {
                        "code": -1003,
                        "msg": "Too many requests; current limit of IP(127.0.0.1) is 2400 "
                        "requests per minute. Please use the websocket for live updates to "
                        "avoid polling the API.",
                    },
                    status=limited,
                    headers={"Retry-After": "1"},
                )
            failed = faults.server_error()
            if failed is not None:
                self._log_request(request, private, signed, None, failed, "server_error")
                return web.Response(
                    status=failed,
                    text="<html><body><h1>503 Service Unavailable</h1></body></html>",
                    content_type="text/html",
                )
            account_id: int | None = None
            try:
                raw_query = request.raw_path.partition("?")[2]
                body = await request.text() if request.can_read_body else ""
                params = dict(parse_qsl(raw_query, keep_blank_values=True))
                params.update(parse_qsl(body, keep_blank_values=True))
                if private:
                    account_id = self._authenticate(request, params, raw_query, body)
                call = _Call(request, params, account_id)
                if mutating:
                    self._sync_clock()
                    try:
                        data = await handler(call)
                    finally:
                        self.on_change()
                else:
                    data = await handler(call)
                fault = call.fault or fault
            except BinanceApiError as e:
                self._log_request(request, private, signed, account_id, e.status, fault)
                return web.json_response({"code": e.code, "msg": e.msg}, status=e.status)
            if mutating and request.path == "/fapi/v1/order" and faults.lose_response():
                self._log_request(request, private, signed, account_id, 200, "lost_response")
                _log.info("venue_response_lost", path=request.path, mode=faults.config.lost_mode)
                if faults.config.lost_mode == "stall":
                    await asyncio.sleep(faults.config.stall_ms / 1000.0)
                    return web.json_response(data)
                if request.transport is not None:
                    request.transport.close()
                raise asyncio.CancelledError()
            self._log_request(request, private, signed, account_id, 200, fault)
            return web.json_response(data)

        return run

    def _sync_clock(self) -> None:
        now = self.now_ms()
        if now > self.exchange.now_ms:
            self.exchange.advance(now)

    def _authenticate(
        self, request: web.Request, params: Mapping[str, str], raw_query: str, body: str
    ) -> int:
        key = request.headers.get(API_KEY_HEADER)
        if not key:
            raise BinanceApiError(-2014, "API-key format invalid.", 401)
        cred = self._keys.get(key)
        if cred is None:
            raise BinanceApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        ts_s = params.get("timestamp")
        if not ts_s or not ts_s.isdigit():
            raise _missing("timestamp")
        signature = params.get("signature")
        if not signature:
            raise _missing("signature")
        payload = _strip_signature(raw_query) + _strip_signature(body)
        expected = hmac.new(cred.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BinanceApiError(-1022, "Signature for this request is not valid.")
        window_s = params.get("recvWindow")
        window = int(window_s) if window_s and window_s.isdigit() else DEFAULT_RECV_WINDOW
        if window > MAX_RECV_WINDOW:
            raise BinanceApiError(-1131, "recvWindow must be less than 60000")
        ts, server = int(ts_s), self.clock_ms()
        if not (ts < server + 1000 and server - ts <= window):
            raise BinanceApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return cred.account_id

    # ---- admin --------------------------------------------------------------------------

    def _admin(
        self, handler: Callable[[web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            if self.admin_token is not None and not hmac.compare_digest(
                request.headers.get(ADMIN_HEADER, ""), self.admin_token
            ):
                return web.json_response(
                    {"code": "unauthorized", "message": f"missing or wrong {ADMIN_HEADER}"},
                    status=401,
                )
            try:
                return await handler(request)
            except (ValueError, ExchangeError) as e:
                code = e.code if isinstance(e, ExchangeError) else "invalid_request"
                return web.json_response({"code": code, "message": str(e)}, status=400)

        return run

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            data = await request.json()
        except json.JSONDecodeError:
            raise ValueError("body must be a JSON object") from None
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        return data

    async def _admin_info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "symbols": self._to_venue,
                "accounts": sorted(self._venue_accounts),
                "faults": self.faults.config.to_dict(),
                "fault_counts": self.faults.counts,
                "requests": len(self.request_log),
            }
        )

    async def _admin_add_key(self, request: web.Request) -> web.Response:
        data = await self._json_body(request)
        account_id = data.get("account_id")
        if account_id is None:
            collateral = Decimal(str(data.get("collateral", "0")))
            account_id = self.exchange.open_account(AccountKind.TRADER, collateral)
            self.on_change()
        elif not isinstance(account_id, int) or isinstance(account_id, bool):
            raise ValueError("account_id must be an integer")
        key, secret = self.add_api_key(account_id, data.get("api_key"), data.get("api_secret"))
        return web.json_response({"account_id": account_id, "api_key": key, "api_secret": secret})

    async def _admin_get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(
            {**self.faults.config.to_dict(), "burst_left": self.faults.burst_left}
        )

    async def _admin_put_faults(self, request: web.Request) -> web.Response:
        config = FaultConfig.from_mapping(await self._json_body(request), self.faults.config)
        self.set_faults(config)
        return web.json_response(config.to_dict())

    async def _admin_clear_faults(self, request: web.Request) -> web.Response:
        self.set_faults(FaultConfig())
        return web.json_response(self.faults.config.to_dict())

    async def _admin_burst(self, request: web.Request) -> web.Response:
        data = await self._json_body(request)
        length = data.get("length", self.faults.config.burst_429_length)
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ValueError("length must be an integer >= 0")
        self.faults.start_burst(length)
        return web.json_response({"burst_left": self.faults.burst_left})

    async def _admin_requests(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(r) for r in self.request_log])

    async def _admin_clear_requests(self, request: web.Request) -> web.Response:
        self.clear_request_log()
        return web.json_response({"cleared": True})

    # ---- public market data -------------------------------------------------------------

    async def _ping(self, call: _Call) -> JSON:
        return {}

    async def _time(self, call: _Call) -> JSON:
        return {"serverTime": self.clock_ms()}

    async def _exchange_info(self, call: _Call) -> JSON:
        now = self.clock_ms()
        symbols = []
        for s, inst in self.exchange.instruments.items():
            t0 = inst.tiers[0]
            symbols.append(
                {
                    "symbol": self._to_venue[s],
                    "pair": self._to_venue[s],
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "status": "TRADING",
                    "maintMarginPercent": fmt(t0.mmr * 100),
                    "requiredMarginPercent": fmt(t0.imr * 100),
                    "baseAsset": inst.base,
                    "quoteAsset": QUOTE,
                    "marginAsset": QUOTE,
                    "pricePrecision": _precision(inst.tick),
                    "quantityPrecision": _precision(inst.lot),
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "underlyingSubType": [],
                    "settlePlan": 0,
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "maxMoveOrderLimit": 10000,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": fmt(inst.tick),
                            "maxPrice": fmt(_BIG),
                            "tickSize": fmt(inst.tick),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": fmt(inst.lot),
                            "maxQty": fmt(_BIG),
                            "stepSize": fmt(inst.lot),
                        },
                        {
                            "filterType": "MARKET_LOT_SIZE",
                            "minQty": fmt(inst.lot),
                            "maxQty": fmt(_BIG),
                            "stepSize": fmt(inst.lot),
                        },
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MIN_NOTIONAL", "notional": fmt(inst.min_notional)},
                    ],
                    "orderTypes": ["LIMIT", "MARKET"],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": now,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 2400,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": QUOTE, "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": symbols,
        }

    async def _depth(self, call: _Call) -> JSON:
        inst = self._inst(call.get("symbol"))
        limit = call.integer("limit") or 500
        if not 1 <= limit <= 1000:
            raise BinanceApiError(-4021, "Invalid depth limit.")
        book = self.exchange.books[inst.symbol]
        now = self.now_ms()
        return {
            "lastUpdateId": self._update_id(),
            "E": now,
            "T": now,
            "bids": [[fmt(p), fmt(q)] for p, q in book.depth(Side.BUY, limit)],
            "asks": [[fmt(p), fmt(q)] for p, q in book.depth(Side.SELL, limit)],
        }

    def _symbols(self, call: _Call) -> tuple[list[Instrument], bool]:
        sym = call.get("symbol")
        if sym is None:
            return list(self.exchange.instruments.values()), True
        return [self._inst(sym)], False

    async def _book_ticker(self, call: _Call) -> JSON:
        insts, many = self._symbols(call)
        out = []
        for inst in insts:
            book = self.exchange.books[inst.symbol]
            bid = book.depth(Side.BUY, 1)
            ask = book.depth(Side.SELL, 1)
            out.append(
                {
                    "symbol": self._to_venue[inst.symbol],
                    "bidPrice": fmt(bid[0][0]) if bid else "0",
                    "bidQty": fmt(bid[0][1]) if bid else "0",
                    "askPrice": fmt(ask[0][0]) if ask else "0",
                    "askQty": fmt(ask[0][1]) if ask else "0",
                    "time": self.now_ms(),
                    "lastUpdateId": self._update_id(),
                }
            )
        return out if many else out[0]

    def _reference_price(self, symbol: str) -> Decimal | None:
        return self.exchange.marks.get(symbol) or self.exchange.index.get(symbol)

    async def _ticker_24hr(self, call: _Call) -> JSON:
        insts, many = self._symbols(call)
        now = self.now_ms()
        out = []
        for inst in insts:
            st = self._stats[inst.symbol]
            st.trim(self.exchange.now_ms)
            trades = st.trades
            ref = self._reference_price(inst.symbol) or ZERO
            if trades:
                last, last_qty = trades[-1][2], trades[-1][3]
                open_ = trades[0][2]
                high = max(t[2] for t in trades)
                low = min(t[2] for t in trades)
                volume = sum((t[3] for t in trades), ZERO)
                quote_volume = sum((t[2] * t[3] for t in trades), ZERO)
                wavg = price_q(quote_volume / volume)
                first_id, last_id, open_time = trades[0][1], trades[-1][1], trades[0][0]
            else:
                last = open_ = high = low = wavg = ref
                last_qty = volume = quote_volume = ZERO
                first_id = last_id = -1
                open_time = now - DAY_MS
            change = last - open_
            pct = (change / open_ * 100).quantize(Decimal("0.001")) if open_ else ZERO
            out.append(
                {
                    "symbol": self._to_venue[inst.symbol],
                    "priceChange": fmt(change),
                    "priceChangePercent": fmt(pct),
                    "weightedAvgPrice": fmt(wavg),
                    "lastPrice": fmt(last),
                    "lastQty": fmt(last_qty),
                    "openPrice": fmt(open_),
                    "highPrice": fmt(high),
                    "lowPrice": fmt(low),
                    "volume": fmt(volume),
                    "quoteVolume": fmt(money(quote_volume)),
                    "openTime": open_time,
                    "closeTime": now,
                    "firstId": first_id,
                    "lastId": last_id,
                    "count": len(trades),
                }
            )
        return out if many else out[0]

    async def _ticker_price(self, call: _Call) -> JSON:
        insts, many = self._symbols(call)
        out = []
        for inst in insts:
            st = self._stats[inst.symbol]
            price = st.trades[-1][2] if st.trades else (self._reference_price(inst.symbol) or ZERO)
            out.append(
                {"symbol": self._to_venue[inst.symbol], "price": fmt(price), "time": self.now_ms()}
            )
        return out if many else out[0]

    async def _premium_index(self, call: _Call) -> JSON:
        insts, many = self._symbols(call)
        now = self.now_ms()
        out = []
        for inst in insts:
            mark = self.exchange.marks.get(inst.symbol, ZERO)
            index = self.exchange.index.get(inst.symbol, ZERO)
            out.append(
                {
                    "symbol": self._to_venue[inst.symbol],
                    "markPrice": fmt(mark),
                    "indexPrice": fmt(index),
                    "estimatedSettlePrice": fmt(index),
                    "lastFundingRate": "0.00000000",
                    "interestRate": "0.00010000",
                    "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000,
                    "time": now,
                }
            )
        return out if many else out[0]

    # ---- orders -------------------------------------------------------------------------

    def _order_json(self, o: Order) -> JSON:
        orig = self._orig_qty.get(o.id, o.qty)
        if o.is_open:
            status = "PARTIALLY_FILLED" if o.filled > 0 else "NEW"
        elif o.status is OrderStatus.FILLED and orig == o.filled:
            status = "FILLED"
        elif o.status is OrderStatus.REJECTED:
            status = "REJECTED"
        elif o.id in self._user_cancelled:
            status = "CANCELED"
        else:
            status = "EXPIRED"  # IOC/FOK/market remainder, self-trade prevention, partial fault
        avg = o.avg_price
        if o.price is None:
            otype, tif = "MARKET", "GTC"
        else:
            otype = "LIMIT"
            tif = self._tif_label.get(o.id, o.tif.value)
        return {
            "orderId": o.id,
            "symbol": self._to_venue[o.symbol],
            "status": status,
            "clientOrderId": o.client_order_id or "",
            "price": fmt(o.price) if o.price is not None else "0",
            "avgPrice": fmt(price_q(avg)) if avg is not None else "0",
            "origQty": fmt(orig),
            "executedQty": fmt(o.filled),
            "cumQty": fmt(o.filled),
            "cumQuote": fmt(money(o.notional_filled)),
            "timeInForce": tif,
            "type": otype,
            "reduceOnly": o.reduce_only,
            "closePosition": False,
            "side": "BUY" if o.side is Side.BUY else "SELL",
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": otype,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "time": o.created_ms,
            "updateTime": self._order_updated.get(o.id, o.created_ms),
        }

    def _find_order(self, call: _Call, inst: Instrument, unknown: BinanceApiError) -> Order:
        order_id = call.integer("orderId")
        cid = call.get("origClientOrderId")
        if order_id is None and cid is None:
            raise BinanceApiError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order_id is not None:
            o = self.exchange.orders.get(order_id)
        else:
            assert cid is not None
            try:
                o = self.exchange.order_by_client_id(call.account, cid)
            except ExchangeError:
                o = None
        if o is None or o.account_id != call.account or o.symbol != inst.symbol:
            raise unknown
        if cid is not None and o.client_order_id != cid:
            raise unknown
        return o

    async def _new_order(self, call: _Call) -> JSON:
        x = self.exchange
        inst = self._inst(call.get("symbol"))
        side_s = call.need("side").upper()
        if side_s not in ("BUY", "SELL"):
            raise BinanceApiError(-1117, "Invalid side.")
        side = Side.BUY if side_s == "BUY" else Side.SELL
        otype = call.need("type").upper()
        if otype not in ("LIMIT", "MARKET"):
            raise BinanceApiError(-1116, "Invalid orderType.")
        pos_side = (call.get("positionSide") or "BOTH").upper()
        if pos_side != "BOTH":
            raise BinanceApiError(-4061, "Order's position side does not match user's setting.")
        if call.boolean("closePosition"):
            raise BinanceApiError(-1106, "Parameter 'closePosition' sent when not required.")
        for unsupported in ("stopPrice", "activationPrice", "callbackRate", "priceMatch"):
            if call.get(unsupported) is not None:
                raise BinanceApiError(-1106, f"Parameter '{unsupported}' sent when not required.")
        reduce_only = call.boolean("reduceOnly")
        qty = call.decimal("quantity")
        if qty is None:
            raise _missing("quantity")
        price = call.decimal("price")
        tif_s = (call.get("timeInForce") or "").upper()
        if otype == "LIMIT":
            if price is None:
                raise _missing("price")
            if not tif_s:
                raise _missing("timeInForce")
            if tif_s not in ("GTC", "IOC", "FOK", "GTX"):
                raise BinanceApiError(-1115, "Invalid timeInForce.")
        elif price is not None:
            raise BinanceApiError(-1106, "Parameter 'price' sent when not required.")
        # filters
        if qty <= 0:
            raise BinanceApiError(-4003, "Quantity less than or equal to zero.")
        if not inst.is_lot_multiple(qty):
            raise BinanceApiError(
                -1111,
                "Precision is over the maximum defined for this asset. "
                f"(Filter failure: LOT_SIZE stepSize {fmt(inst.lot)})",
            )
        if price is not None:
            if price <= 0:
                raise BinanceApiError(-4001, "Price less than 0.")
            if not inst.is_tick_multiple(price):
                raise BinanceApiError(
                    -1111,
                    "Precision is over the maximum defined for this asset. "
                    f"(Filter failure: PRICE_FILTER tickSize {fmt(inst.tick)})",
                )
        book = x.books[inst.symbol]
        if not reduce_only:
            ref = (
                price
                if price is not None
                else (
                    self._reference_price(inst.symbol)
                    or (book.best_ask() if side is Side.BUY else book.best_bid())
                )
            )
            if ref is not None and qty * ref < inst.min_notional:
                raise BinanceApiError(
                    -4164,
                    f"Order's notional must be no smaller than {fmt(inst.min_notional)} "
                    "(unless you choose reduce only).",
                )
        cid = call.get("newClientOrderId")
        if cid is None:
            self._generated_ids += 1
            cid = f"blpvenue{self._generated_ids:06d}{secrets.token_hex(6)}"
        elif not _CLIENT_ID_RE.match(cid):
            raise BinanceApiError(-4015, "Client order id is not valid.")
        if cid in x.client_ids.get(call.account, {}):
            raise BinanceApiError(-4116, "ClientOrderId is duplicated.")
        # time in force
        tif = TimeInForce.GTC
        if otype == "LIMIT" and price is not None:
            best_opp = book.best_ask() if side is Side.BUY else book.best_bid()
            crosses = best_opp is not None and (
                price >= best_opp if side is Side.BUY else price <= best_opp
            )
            if tif_s == "GTX" and crosses:
                raise BinanceApiError(
                    -5022,
                    "Due to the order could not be executed as maker, the Post Only order will "
                    "be rejected.",
                )
            if tif_s == "FOK":
                if self._fillable(call.account, inst.symbol, side, price) < qty:
                    raise BinanceApiError(
                        -5021,
                        "Due to the order could not be filled immediately, the FOK order has "
                        "been rejected.",
                    )
                tif = TimeInForce.IOC
            elif tif_s == "IOC":
                tif = TimeInForce.IOC
        self._check_leverage_cap(call.account, inst, side, qty, reduce_only)
        # partial-fill fault: marketable orders only
        send_qty = qty
        if otype == "MARKET" or tif is TimeInForce.IOC:
            frac = self.faults.partial_fraction()
            if frac is not None and qty > inst.lot:
                part = max(inst.lot, floor_to(qty * Decimal(repr(frac)), inst.lot))
                if part < qty:
                    send_qty = part
                    call.fault = "partial_fill"
        try:
            order = x.place_order(
                call.account, inst.symbol, side, send_qty, price, tif, reduce_only, cid
            )
        except ExchangeError as e:
            raise _map_engine_error(e) from None
        if send_qty != qty and order.qty == send_qty:
            self._orig_qty[order.id] = qty
        if otype == "LIMIT" and tif_s != order.tif.value:
            self._tif_label[order.id] = tif_s
        self._order_updated.setdefault(order.id, order.created_ms)
        _log.debug(
            "venue_order",
            account_id=call.account,
            symbol=inst.symbol,
            side=side.value,
            qty=str(qty),
            price=str(price),
            status=order.status.value,
        )
        return self._order_json(order)

    def _fillable(self, account_id: int, symbol: str, side: Side, limit: Decimal) -> Decimal:
        """Quantity available to a taker at `limit` or better, other accounts' orders only."""
        book = self.exchange.books[symbol]
        opp = book.asks if side is Side.BUY else book.bids
        total = ZERO
        for p in opp.prices():
            if (p > limit) if side is Side.BUY else (p < limit):
                break
            total += sum((o.remaining for o in opp.levels[p] if o.account_id != account_id), ZERO)
        return total

    def _max_notional(self, inst: Instrument, leverage: int) -> Decimal:
        """The largest position notional Binance-style brackets allow at `leverage`."""
        tiers = inst.tiers
        cap = tiers[1].floor if len(tiers) > 1 else _BIG
        for i, t in enumerate(tiers):
            if int(1 / t.imr) >= leverage:
                cap = tiers[i + 1].floor if i + 1 < len(tiers) else _BIG
        return cap

    def _leverage_of(self, account_id: int, symbol: str) -> int:
        return self._leverage.get((account_id, symbol), DEFAULT_LEVERAGE)

    def _check_leverage_cap(
        self, account_id: int, inst: Instrument, side: Side, qty: Decimal, reduce_only: bool
    ) -> None:
        if reduce_only:
            return
        acct = self.exchange.account(account_id)
        new_qty = acct.qty(inst.symbol) + side.sign * qty
        if abs(new_qty) <= abs(acct.qty(inst.symbol)):
            return
        mark = self._reference_price(inst.symbol)
        if mark is None:
            return
        cap = self._max_notional(inst, self._leverage_of(account_id, inst.symbol))
        if abs(new_qty) * mark > cap:
            raise BinanceApiError(
                -2027, "Exceeded the maximum allowable position at current leverage."
            )

    async def _get_order(self, call: _Call) -> JSON:
        inst = self._inst(call.get("symbol"))
        o = self._find_order(call, inst, BinanceApiError(-2013, "Order does not exist."))
        return self._order_json(o)

    async def _cancel_order(self, call: _Call) -> JSON:
        inst = self._inst(call.get("symbol"))
        unknown = BinanceApiError(-2011, "Unknown order sent.")
        o = self._find_order(call, inst, unknown)
        if not o.is_open:
            raise unknown
        self._user_cancelled.add(o.id)
        try:
            self.exchange.cancel_order(call.account, o.id, "cancelled")
        except ExchangeError:
            self._user_cancelled.discard(o.id)
            raise unknown from None
        return self._order_json(o)

    async def _cancel_all(self, call: _Call) -> JSON:
        inst = self._inst(call.get("symbol"))
        for oid in sorted(self.exchange.open_orders.get(call.account, ())):
            o = self.exchange.orders[oid]
            if o.symbol == inst.symbol:
                self._user_cancelled.add(oid)
                self.exchange.cancel_order(call.account, oid, "cancelled")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _account_orders(self, account_id: int) -> list[Order]:
        return sorted(
            (o for o in self.exchange.orders.values() if o.account_id == account_id),
            key=lambda o: o.id,
        )

    async def _open_orders(self, call: _Call) -> JSON:
        sym = call.get("symbol")
        inst = self._inst(sym) if sym is not None else None
        out = []
        for oid in sorted(self.exchange.open_orders.get(call.account, ())):
            o = self.exchange.orders[oid]
            if inst is None or o.symbol == inst.symbol:
                out.append(self._order_json(o))
        return out

    def _limit(self, call: _Call, default: int, maximum: int) -> int:
        limit = call.integer("limit") or default
        return max(1, min(limit, maximum))

    async def _all_orders(self, call: _Call) -> JSON:
        inst = self._inst(call.get("symbol"))
        from_id = call.integer("orderId")
        start, end = call.integer("startTime"), call.integer("endTime")
        orders = [
            o
            for o in self._account_orders(call.account)
            if o.symbol == inst.symbol
            and (from_id is None or o.id >= from_id)
            and (start is None or o.created_ms >= start)
            and (end is None or o.created_ms <= end)
        ]
        limit = self._limit(call, 500, 1000)
        orders = orders[:limit] if from_id is not None or start is not None else orders[-limit:]
        return [self._order_json(o) for o in orders]

    async def _user_trades_h(self, call: _Call) -> JSON:
        inst = self._inst(call.get("symbol"))
        from_id = call.integer("fromId")
        start, end = call.integer("startTime"), call.integer("endTime")
        trades = [
            t
            for t in self._user_trades.get(call.account, [])
            if t.symbol == inst.symbol
            and (from_id is None or t.id >= from_id)
            and (start is None or t.time >= start)
            and (end is None or t.time <= end)
        ]
        limit = self._limit(call, 500, 1000)
        trades = trades[:limit] if from_id is not None or start is not None else trades[-limit:]
        return [
            {
                "buyer": t.side is Side.BUY,
                "commission": fmt(t.fee),
                "commissionAsset": QUOTE,
                "id": t.id,
                "maker": t.maker,
                "orderId": t.order_id,
                "price": fmt(t.price),
                "qty": fmt(t.qty),
                "quoteQty": fmt(t.price * t.qty),
                "realizedPnl": fmt(t.realised),
                "side": "BUY" if t.side is Side.BUY else "SELL",
                "positionSide": "BOTH",
                "symbol": self._to_venue[t.symbol],
                "time": t.time,
            }
            for t in trades
        ]

    # ---- account ------------------------------------------------------------------------

    def _liq_price(self, acct: Account, symbol: str) -> Decimal:
        """Mark price at which the account becomes liquidatable, other marks held."""
        x = self.exchange
        pos = acct.positions.get(symbol)
        if pos is None or pos.qty == 0:
            return ZERO
        cash = acct.cash
        for s, p in acct.positions.items():
            if s == symbol or p.qty == 0:
                continue
            mark = x.marks.get(s)
            if mark is None:
                return ZERO
            n = abs(p.qty) * mark
            cash += p.upnl(mark) - x.instruments[s].maintenance_margin(n)
        lp = liquidation_price(cash, pos, x.instruments[symbol])
        if not lp.is_finite() or lp <= 0:
            return ZERO
        return price_q(lp)

    def _open_order_im(self, acct: Account, symbol: str) -> Decimal:
        x = self.exchange
        mark = self._reference_price(symbol)
        if mark is None:
            return ZERO
        buys = sells = ZERO
        for oid in x.open_orders.get(acct.id, ()):
            o = x.orders[oid]
            if o.symbol == symbol and not o.reduce_only:
                if o.side is Side.BUY:
                    buys += o.remaining
                else:
                    sells += o.remaining
        inst = x.instruments[symbol]
        q = acct.qty(symbol)
        cur = inst.initial_margin(abs(q) * mark)
        worst = max(
            inst.initial_margin(abs(q + buys) * mark), inst.initial_margin(abs(q - sells) * mark)
        )
        return max(ZERO, worst - cur)

    def _position_row(self, acct: Account, symbol: str) -> dict[str, Any]:
        x = self.exchange
        inst = x.instruments[symbol]
        pos = acct.positions.get(symbol)
        qty = pos.qty if pos is not None else ZERO
        mark = x.marks.get(symbol) or x.index.get(symbol) or ZERO
        entry = price_q(pos.cost / qty) if pos is not None and qty else ZERO
        upnl = pos.upnl(mark) if pos is not None and qty else ZERO
        notional = qty * mark
        lev = self._leverage_of(acct.id, symbol)
        return {
            "symbol": self._to_venue[symbol],
            "positionSide": "BOTH",
            "positionAmt": fmt(qty),
            "entryPrice": fmt(entry),
            "breakEvenPrice": fmt(entry),
            "markPrice": fmt(mark),
            "unRealizedProfit": fmt(money(upnl)),
            "liquidationPrice": fmt(self._liq_price(acct, symbol)),
            "notional": fmt(money(notional)),
            "leverage": str(lev),
            "maxNotionalValue": fmt(self._max_notional(inst, lev)),
            "marginType": "cross",
            "isolatedMargin": "0",
            "isAutoAddMargin": "false",
            "isolatedWallet": "0",
            "marginAsset": QUOTE,
            "initialMargin": fmt(money(inst.initial_margin(abs(notional)))),
            "maintMargin": fmt(money(inst.maintenance_margin(abs(notional)))),
            "positionInitialMargin": fmt(money(inst.initial_margin(abs(notional)))),
            "openOrderInitialMargin": fmt(money(self._open_order_im(acct, symbol))),
            "adl": 0,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": self._position_updated.get((acct.id, symbol), 0),
        }

    def _position_symbols(self, call: _Call, all_symbols: bool) -> list[str]:
        sym = call.get("symbol")
        if sym is not None:
            return [self._inst(sym).symbol]
        if all_symbols:
            return list(self.exchange.instruments)
        acct = self.exchange.account(call.account)
        with_orders = {
            self.exchange.orders[o].symbol for o in self.exchange.open_orders.get(call.account, ())
        }
        return [s for s in self.exchange.instruments if acct.qty(s) != 0 or s in with_orders]

    async def _position_risk_v2(self, call: _Call) -> JSON:
        acct = self.exchange.account(call.account)
        keep = (
            "symbol",
            "positionAmt",
            "entryPrice",
            "breakEvenPrice",
            "markPrice",
            "unRealizedProfit",
            "liquidationPrice",
            "leverage",
            "maxNotionalValue",
            "marginType",
            "isolatedMargin",
            "isAutoAddMargin",
            "positionSide",
            "notional",
            "isolatedWallet",
            "updateTime",
        )
        return [
            {k: row[k] for k in keep}
            for row in (self._position_row(acct, s) for s in self._position_symbols(call, True))
        ]

    async def _position_risk_v3(self, call: _Call) -> JSON:
        acct = self.exchange.account(call.account)
        drop = ("leverage", "maxNotionalValue", "marginType", "isAutoAddMargin")
        return [
            {k: v for k, v in self._position_row(acct, s).items() if k not in drop}
            for s in self._position_symbols(call, False)
        ]

    def _totals(self, account_id: int) -> dict[str, Decimal]:
        acct = self.exchange.account(account_id)
        snap = self.exchange.margin(account_id)
        order_im = sum((self._open_order_im(acct, s) for s in self.exchange.instruments), ZERO)
        available = snap.equity - snap.im - order_im
        return {
            "wallet": acct.cash,
            "upnl": snap.upnl,
            "margin_balance": snap.equity,
            "mm": snap.mm,
            "position_im": snap.im,
            "order_im": order_im,
            "im": snap.im + order_im,
            "available": max(ZERO, available),
            "max_withdraw": max(ZERO, min(acct.cash, available)),
        }

    def _update_time(self) -> int:
        # ccxt skips balance entries whose updateTime is 0 as stale: never report 0
        return max(1, self.exchange.now_ms)

    async def _balance(self, call: _Call) -> JSON:
        t = self._totals(call.account)
        return [
            {
                "accountAlias": f"blp{call.account}",
                "asset": QUOTE,
                "balance": fmt(money(t["wallet"])),
                "crossWalletBalance": fmt(money(t["wallet"])),
                "crossUnPnl": fmt(money(t["upnl"])),
                "availableBalance": fmt(money(t["available"])),
                "maxWithdrawAmount": fmt(money(t["max_withdraw"])),
                "marginAvailable": True,
                "updateTime": self._update_time(),
            }
        ]

    def _account(self, call: _Call, v2: bool) -> JSON:
        t = self._totals(call.account)
        m = {k: fmt(money(v)) for k, v in t.items()}
        asset = {
            "asset": QUOTE,
            "walletBalance": m["wallet"],
            "unrealizedProfit": m["upnl"],
            "marginBalance": m["margin_balance"],
            "maintMargin": m["mm"],
            "initialMargin": m["im"],
            "positionInitialMargin": m["position_im"],
            "openOrderInitialMargin": m["order_im"],
            "crossWalletBalance": m["wallet"],
            "crossUnPnl": m["upnl"],
            "availableBalance": m["available"],
            "maxWithdrawAmount": m["max_withdraw"],
            "marginAvailable": True,
            "updateTime": self._update_time(),
        }
        acct = self.exchange.account(call.account)
        positions = []
        for s in self._position_symbols(call, v2):
            row = self._position_row(acct, s)
            positions.append(
                {
                    "symbol": row["symbol"],
                    "positionSide": "BOTH",
                    "positionAmt": row["positionAmt"],
                    "unrealizedProfit": row["unRealizedProfit"],
                    "isolatedMargin": "0",
                    "notional": row["notional"],
                    "isolatedWallet": "0",
                    "initialMargin": row["initialMargin"],
                    "maintMargin": row["maintMargin"],
                    "updateTime": row["updateTime"],
                    **(
                        {
                            "leverage": row["leverage"],
                            "entryPrice": row["entryPrice"],
                            "breakEvenPrice": row["breakEvenPrice"],
                            "maxNotional": row["maxNotionalValue"],
                            "isolated": False,
                            "positionInitialMargin": row["positionInitialMargin"],
                            "openOrderInitialMargin": row["openOrderInitialMargin"],
                            "bidNotional": "0",
                            "askNotional": "0",
                        }
                        if v2
                        else {}
                    ),
                }
            )
        fee_taker, fee_maker = self.exchange.fee_tier(acct)
        out: dict[str, Any] = {
            "totalInitialMargin": m["im"],
            "totalMaintMargin": m["mm"],
            "totalWalletBalance": m["wallet"],
            "totalUnrealizedProfit": m["upnl"],
            "totalMarginBalance": m["margin_balance"],
            "totalPositionInitialMargin": m["position_im"],
            "totalOpenOrderInitialMargin": m["order_im"],
            "totalCrossWalletBalance": m["wallet"],
            "totalCrossUnPnl": m["upnl"],
            "availableBalance": m["available"],
            "maxWithdrawAmount": m["max_withdraw"],
            "assets": [asset],
            "positions": positions,
        }
        if v2:
            out = {
                "feeTier": 0,
                "feeBurn": False,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "updateTime": 0,
                "multiAssetsMargin": False,
                "tradeGroupId": -1,
                "takerCommissionRate": fmt(fee_taker),
                "makerCommissionRate": fmt(fee_maker),
                **out,
            }
        return out

    async def _account_v2(self, call: _Call) -> JSON:
        return self._account(call, True)

    async def _account_v3(self, call: _Call) -> JSON:
        return self._account(call, False)

    async def _set_leverage(self, call: _Call) -> JSON:
        inst = self._inst(call.get("symbol"))
        lev = call.integer("leverage")
        if lev is None:
            raise _missing("leverage")
        max_lev = int(1 / inst.tiers[0].imr)
        if not 1 <= lev <= max_lev:
            raise BinanceApiError(-4028, f"Leverage {lev} is not valid")
        acct = self.exchange.account(call.account)
        cap = self._max_notional(inst, lev)
        mark = self._reference_price(inst.symbol) or ZERO
        if abs(acct.qty(inst.symbol)) * mark > cap:
            raise BinanceApiError(
                -2027, "Exceeded the maximum allowable position at current leverage."
            )
        self._leverage[(call.account, inst.symbol)] = lev
        return {
            "leverage": lev,
            "maxNotionalValue": fmt(cap),
            "symbol": self._to_venue[inst.symbol],
        }

    async def _leverage_bracket(self, call: _Call) -> JSON:
        sym = call.get("symbol")
        insts = [self._inst(sym)] if sym is not None else list(self.exchange.instruments.values())
        out = []
        for inst in insts:
            brackets = []
            for i, t in enumerate(inst.tiers):
                cap = inst.tiers[i + 1].floor if i + 1 < len(inst.tiers) else _BIG
                brackets.append(
                    {
                        "bracket": i + 1,
                        "initialLeverage": int(1 / t.imr),
                        "notionalCap": int(cap),
                        "notionalFloor": int(t.floor),
                        "maintMarginRatio": float(t.mmr),
                        "cum": float(t.cum_mm),
                    }
                )
            out.append(
                {"symbol": self._to_venue[inst.symbol], "notionalCoef": 1.0, "brackets": brackets}
            )
        return out

    async def _commission_rate(self, call: _Call) -> JSON:
        inst = self._inst(call.get("symbol"))
        taker, maker = self.exchange.fee_tier(self.exchange.account(call.account))
        return {
            "symbol": self._to_venue[inst.symbol],
            "makerCommissionRate": fmt(maker),
            "takerCommissionRate": fmt(taker),
        }


def _wall_ms() -> int:
    return int(time.time() * 1000)


def _strip_signature(raw: str) -> str:
    if "signature=" not in raw:
        return raw
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))


def _map_engine_error(e: ExchangeError) -> BinanceApiError:
    match e.code:
        case "insufficient_margin":
            return BinanceApiError(-2019, "Margin is insufficient.")
        case "reduce_only_rejected":
            return BinanceApiError(-2022, "ReduceOnly Order is rejected.")
        case "duplicate_client_order_id":
            return BinanceApiError(-4116, "ClientOrderId is duplicated.")
        case "account_in_liquidation":
            return BinanceApiError(-2023, "User in liquidation mode now.")
        case "invalid_qty":
            return BinanceApiError(
                -1111,
                f"Precision is over the maximum defined for this asset. "
                f"(Filter failure: LOT_SIZE; {e.message})",
            )
        case "invalid_price":
            return BinanceApiError(
                -1111,
                f"Precision is over the maximum defined for this asset. "
                f"(Filter failure: PRICE_FILTER; {e.message})",
            )
        case "no_price":
            return BinanceApiError(-2020, "Unable to fill.")
        case "invalid_account":
            return BinanceApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        case _:
            return BinanceApiError(
                -1000, f"An unknown error occurred while processing the request. ({e.code})"
            )
