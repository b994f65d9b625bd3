"""The request pipeline every `/fapi` endpoint runs through: injected faults (latency, 429/418
bursts, gateway 5xx, lost responses), parameter parsing, signature check, the venue's rate
limits, the handler, the Binance error body, and one `RequestRecord` per request.

Faults act where a real network or venue would: 429s and 5xx before anything is done, a lost
response after the order was executed (so clients must resolve it by client order id). The
rate limits (`limits`, `weights`) charge every request once, after the signature check has told
whose account it is (a failed check still costs its weight) and before the handler does any
work; a refused request gets 429/418 with `Retry-After` and Binance's body, and every answer
carries the used weight, order placements also the order counts.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from ...errors import ValidationError
from ..faults import FaultInjector
from ..http import read_text
from .auth import API_KEY_HEADER, KeyRing
from .errors import BinanceApiError
from .limits import VenueLimiter, Verdict
from .params import Call
from .state import VenueState
from .weights import funding_cost, request_cost

_log = structlog.get_logger("blp_client.engine.binance")

Handler = Callable[[Call], Awaitable[Any]]
AioHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_RATE_LIMIT_MSG = (
    "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. Please use "
    "the websocket for live updates to avoid polling the API."
)
_GATEWAY_HTML = "<html><body><h1>503 Service Unavailable</h1></body></html>"


REQUEST_LOG_SIZE = 100_000  # requests kept for GET /admin/v1/venue/requests

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDERS_10S_HEADER = "X-MBX-ORDER-COUNT-10S"
ORDERS_1M_HEADER = "X-MBX-ORDER-COUNT-1M"


def limit_headers(verdict: Verdict) -> dict[str, str]:
    """The usage headers of an answer (order counts only where orders were counted)."""
    headers = {WEIGHT_HEADER: str(verdict.used_weight)}
    if verdict.orders_10s is not None and verdict.orders_1m is not None:
        headers[ORDERS_10S_HEADER] = str(verdict.orders_10s)
        headers[ORDERS_1M_HEADER] = str(verdict.orders_1m)
    if verdict.refused is not None:
        headers["Retry-After"] = str(verdict.retry_after_s)
    return headers


def refusal_error(verdict: Verdict, ip: str, limiter: VenueLimiter) -> BinanceApiError:
    """Binance's answer to a request the limits refused."""
    cfg = limiter.config
    match verdict.refused:
        case "banned":
            msg = (
                f"Way too many requests; IP({ip}) banned until {verdict.banned_until_ms}. "
                "Please use the websocket for live updates to avoid bans."
            )
            return BinanceApiError(-1003, msg, 418)
        case "weight":
            msg = (
                f"Too many requests; current limit of IP({ip}) request weight per minute is "
                f"{cfg.request_weight_per_minute}. Please use WebSocket Streams for live updates"
                " to avoid polling the API."
            )
            return BinanceApiError(-1003, msg, 429)
        case "funding_5m":
            msg = (
                f"Too many requests; current limit of IP({ip}) is {cfg.funding_per_5min} "
                "fundingRate and fundingInfo requests per 5 minutes."
            )
            return BinanceApiError(-1003, msg, 429)
        case _:
            limit, per = (
                (cfg.orders_per_10s, "TEN_SECONDS")
                if verdict.refused == "orders_10s"
                else (cfg.orders_per_minute, "MINUTE")
            )
            msg = f"Too many new orders; current limit is {limit} orders per {per}."
            return BinanceApiError(-1015, msg, 429)


@dataclass(frozen=True)
class Route:
    """One `/fapi` endpoint: `private` ones need a signature, `mutating` ones bring the engine
    up to time first and call `on_change` after."""

    method: str
    path: str
    handler: Handler
    private: bool
    mutating: bool = False

    @classmethod
    def unsigned(cls, method: str, path: str, handler: Handler) -> Route:
        return cls(method, path, handler, private=False)

    @classmethod
    def signed(cls, method: str, path: str, handler: Handler, *, mutating: bool = False) -> Route:
        return cls(method, path, handler, private=True, mutating=mutating)


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


class Pipeline:
    """Wraps handlers into aiohttp handlers; owns the request log."""

    def __init__(
        self,
        state: VenueState,
        keys: KeyRing,
        faults: FaultInjector,
        on_change: Callable[[], None],
        limiter: VenueLimiter | None = None,
    ) -> None:
        self.state = state
        self.keys = keys
        self.faults = faults
        self.on_change = on_change
        self.limiter = limiter or VenueLimiter()
        # the newest requests only: a long-running engine must not grow without bound
        self.request_log: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self._seq = 0

    def _log(
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
                self._seq, request.method, request.path, private, signed, account_id, status, fault
            )
        )

    def endpoint(self, handler: Handler, *, private: bool, mutating: bool) -> AioHandler:
        """`handler` as an aiohttp handler: signed if `private`; `mutating` ones first bring
        the engine up to time, then call `on_change`, and may lose their answer."""

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
                self._log(request, private, signed, None, limited, "rate_limited")
                return web.json_response(
                    {"code": -1003, "msg": _RATE_LIMIT_MSG},
                    status=limited,
                    headers={"Retry-After": "1"},
                )
            failed = faults.server_error()
            if failed is not None:
                self._log(request, private, signed, None, failed, "server_error")
                return web.Response(status=failed, text=_GATEWAY_HTML, content_type="text/html")
            account_id: int | None = None
            headers: dict[str, str] = {}
            try:
                call, refused = await self._admit(request, private, headers)
                account_id = call.account_id
                if refused is not None:
                    raise refused
                if mutating:
                    self.state.sync_clock()
                    try:
                        data = await handler(call)
                    finally:
                        self.on_change()
                else:
                    data = await handler(call)
                fault = call.fault or fault
            except BinanceApiError as e:
                self._log(request, private, signed, account_id, e.status, fault)
                return web.json_response(
                    {"code": e.code, "msg": e.msg}, status=e.status, headers=headers
                )
            if mutating and request.path == "/fapi/v1/order" and faults.lose_response():
                self._log(request, private, signed, account_id, 200, "lost_response")
                return await self._lose(request, data, headers)
            self._log(request, private, signed, account_id, 200, fault)
            return web.json_response(data, headers=headers)

        return run

    async def _admit(
        self, request: web.Request, private: bool, headers: dict[str, str]
    ) -> tuple[Call, BinanceApiError | None]:
        """The parsed call and why it is refused (bad signature, limits), or None; the limits'
        headers go into `headers`. A failed signature check still costs the request's weight,
        but counts no order."""
        raw_query = request.raw_path.partition("?")[2]
        body = await _body(request) if request.can_read_body else ""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        account_id: int | None = None
        refused: BinanceApiError | None = None
        if private:
            try:
                account_id = self.keys.authenticate(request.headers, params, raw_query, body)
            except BinanceApiError as e:
                refused = e
        verdict = self._charge(request, params, account_id)
        if verdict is not None:
            headers.update(limit_headers(verdict))
            if verdict.refused is not None:
                refused = refusal_error(verdict, request.remote or "unknown", self.limiter)
        return Call(request, params, account_id), refused

    def _charge(
        self, request: web.Request, params: dict[str, str], account_id: int | None
    ) -> Verdict | None:
        """The limits' verdict on this request (None: limits off). The client is the IP, or
        with `per = "key"` a registered API key (an unknown one counts for its IP), named by a
        hash so usage reports show no keys."""
        limiter = self.limiter
        if not limiter.config.enabled:
            return None
        weight, orders = request_cost(request.method, request.path, params)
        client = request.remote or "unknown"
        if limiter.config.per == "key":
            key = request.headers.get(API_KEY_HEADER, "")
            if key in self.keys:
                client = "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        now = self.state.clock_ms()
        funding = funding_cost(request.method, request.path)
        return limiter.charge(client, weight, now, account_id, orders, funding)

    async def _lose(
        self, request: web.Request, data: Any, headers: dict[str, str]
    ) -> web.StreamResponse:
        """The order was executed; its answer is dropped (disconnect) or stalled."""
        config = self.faults.config
        _log.info("venue_response_lost", path=request.path, mode=config.lost_mode)
        if config.lost_mode == "stall":
            await asyncio.sleep(config.stall_ms / 1000.0)
            return web.json_response(data, headers=headers)
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError()


async def _body(request: web.Request) -> str:
    """The form body as text; an unknown charset or invalid UTF-8 is Binance's -1100 (400)."""
    try:
        return await read_text(request)
    except ValidationError as e:
        msg = f"Illegal characters found in the request body: {e.message}"
        raise BinanceApiError(-1100, msg) from None
