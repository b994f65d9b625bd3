"""The engine's BLP API server (protocol v1): signed REST under `/api/v1`, the WebSocket stream
`/api/v1/stream`, the admin API under `/admin/v1`, and optionally the Binance-compatible venue
facade, all over one `EngineService`.

Entry points: `serve(...)` for `blp engine` (runs until cancelled) and `start_engine(...)` for
tests and demos (returns a `RunningEngine` with `.url`, `.admin_token`, `.service`, `.stop()`).
See docs/protocol.md for the protocol and docs/openapi.yaml for the REST resources.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog
from aiohttp import web

from .. import models as m
from ..auth import HEADER_ADMIN_TOKEN, HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, STREAM_PATH
from ..errors import CLOSE_GOING_AWAY, AuthError, Forbidden, InvalidRequest, NotFound
from .admin import add_admin_routes
from .config import EngineConfig, load_config
from .core.book import Order
from .eventlog import BLPRecord
from .http import (
    MAX_BODY_BYTES,
    json_response,
    last_resort_middleware,
    parse_body,
    path_int,
    query_int,
    read_text,
    to_response,
)
from .service import ClockMode, EngineService
from .stream import SERVICE_KEY, StreamConnection, stream_handler
from .wire import account_model, book_model, market_model, order_model, profile_model

log = structlog.get_logger("blp.server")

API = "/api/v1"
ADMIN = "/admin/v1"
BLP_RECORD: web.RequestKey[BLPRecord] = web.RequestKey("blp_record", BLPRecord)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---- middleware ------------------------------------------------------------------------


@web.middleware
async def protocol_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    is_api = path.startswith(API + "/") and path != STREAM_PATH
    is_admin = path.startswith(ADMIN + "/") or path == ADMIN
    if not (is_api or is_admin):
        return await handler(request)  # the stream and the venue facade handle their own
    svc = request.app[SERVICE_KEY]
    try:
        if is_admin:
            token = request.headers.get(HEADER_ADMIN_TOKEN)
            if not token:
                raise AuthError(f"missing header {HEADER_ADMIN_TOKEN}", "missing_admin_token")
            if not hmac.compare_digest(token.encode(), svc.admin_token.encode()):
                raise AuthError(f"wrong {HEADER_ADMIN_TOKEN}", "invalid_admin_token")
        else:
            body = await read_text(request)
            key = svc.verifier.verify(
                request.headers.get(HEADER_KEY),
                request.headers.get(HEADER_TIMESTAMP),
                request.headers.get(HEADER_SIGNATURE),
                request.method,
                request.raw_path,
                body,
            )
            svc.rate_limit(key)
            request[BLP_RECORD] = svc.blp_by_key(key)
        return await handler(request)
    except Exception as e:  # every error body is {"code", "message"}
        if isinstance(e, web.HTTPException) and e.status < 400:
            raise
        return to_response(e)


# ---- BLP resources ---------------------------------------------------------------------


def _svc(request: web.Request) -> EngineService:
    return request.app[SERVICE_KEY]


def _blp(request: web.Request) -> BLPRecord:
    return request[BLP_RECORD]


async def get_profile(request: web.Request) -> web.Response:
    svc, rec = _svc(request), _blp(request)
    return json_response(profile_model(svc.exchange, svc.exchange.blp(rec.account_id)))


async def patch_profile(request: web.Request) -> web.Response:
    svc, rec = _svc(request), _blp(request)
    req = parse_body(m.ProfileUpdate, await read_text(request))
    svc.update_profile(rec.account_id, req)
    return json_response(profile_model(svc.exchange, svc.exchange.blp(rec.account_id)))


async def get_account(request: web.Request) -> web.Response:
    svc, rec = _svc(request), _blp(request)
    return json_response(account_model(svc.exchange, rec.account_id))


def _page(request: web.Request) -> tuple[int, int]:
    return query_int(request, "from_seq", 0, 0), query_int(request, "limit", 100, 1, 1000)


async def get_assignments(request: web.Request) -> web.Response:
    svc, rec = _svc(request), _blp(request)
    from_seq, limit = _page(request)
    rows = svc.log.read_type(rec.api_key, "assignment", from_seq, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    page = m.AssignmentPage(
        assignments=[json.loads(text)["data"] for _, text in rows],
        next_from_seq=rows[-1][0] if more else None,
        last_seq=svc.last_seq(rec.api_key),
    )
    return json_response(page)


async def get_events(request: web.Request) -> web.Response:
    svc, rec = _svc(request), _blp(request)
    from_seq, limit = _page(request)
    last = svc.last_seq(rec.api_key)
    rows = svc.log.read(rec.api_key, from_seq, last, limit)
    more = bool(rows) and rows[-1][0] < last
    # an `EventPage` spliced from the log's exact wire texts (decoding and re-encoding them
    # cost ~25 ms per 1,000 events on the loop that also runs the stream)
    events = ",".join(text for _, text in rows)
    next_seq = rows[-1][0] if more else None
    body = f'{{"events":[{events}],"next_from_seq":{json.dumps(next_seq)},"last_seq":{last}}}'
    return web.Response(text=body, content_type="application/json")


def _symbol(request: web.Request) -> str:
    symbol = request.match_info["symbol"]
    if symbol not in _svc(request).exchange.instruments:
        raise NotFound(f"unknown symbol {symbol!r}", "unknown_symbol")
    return symbol


async def get_markets(request: web.Request) -> web.Response:
    x = _svc(request).exchange
    return json_response(m.MarketList(markets=[market_model(x, s) for s in x.instruments]))


async def get_market(request: web.Request) -> web.Response:
    return json_response(market_model(_svc(request).exchange, _symbol(request)))


async def get_book(request: web.Request) -> web.Response:
    symbol = _symbol(request)
    depth = query_int(request, "depth", 20, 1, 1000)
    return json_response(book_model(_svc(request).exchange, symbol, depth))


def _own_order(request: web.Request) -> Order:
    svc, rec = _svc(request), _blp(request)
    order_id = path_int(request, "order_id")
    order = svc.exchange.orders.get(order_id)
    if order is None:
        raise NotFound(f"no order {order_id}", "unknown_order")
    if order.account_id != rec.account_id:
        raise Forbidden(f"order {order_id} belongs to another account", "forbidden")
    return order


async def place_order(request: web.Request) -> web.Response:
    svc, rec = _svc(request), _blp(request)
    req = parse_body(m.OrderRequest, await read_text(request))
    if req.symbol not in svc.exchange.instruments:
        raise InvalidRequest(f"symbol: unknown symbol {req.symbol!r}", "unknown_symbol")
    try:
        order = svc.exchange.place_order(
            rec.account_id, req.symbol, req.side, req.qty,
            req.price if req.type == "limit" else None, req.tif, req.reduce_only,
            req.client_order_id,
        )  # fmt: skip
    finally:
        svc.settle()  # publish whatever happened (fills), even on refusal
    return json_response(order_model(order))


async def get_order(request: web.Request) -> web.Response:
    return json_response(order_model(_own_order(request)))


async def cancel_order(request: web.Request) -> web.Response:
    svc, rec = _svc(request), _blp(request)
    order = _own_order(request)
    try:
        svc.exchange.cancel_order(rec.account_id, order.id)
    finally:
        svc.settle()
    return json_response(order_model(order))


async def list_orders(request: web.Request) -> web.Response:
    svc, rec = _svc(request), _blp(request)
    x = svc.exchange
    status = request.query.get("status", "open")
    cid = request.query.get("client_order_id")
    if status not in ("open", "all"):
        raise InvalidRequest(f"status: must be 'open' or 'all', got {status!r}")
    if cid is not None:
        oid = x.client_ids.get(rec.account_id, {}).get(cid)
        orders = [x.orders[oid]] if oid is not None and oid in x.orders else []
        if status == "open":
            orders = [o for o in orders if o.is_open]
    elif status == "open":
        orders = [x.orders[o] for o in sorted(x.open_orders.get(rec.account_id, ()))]
    else:
        orders = [o for o in x.orders.values() if o.account_id == rec.account_id]
    return json_response(m.OrderList(orders=[order_model(o) for o in orders]))


def add_api_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(STREAM_PATH, stream_handler)
    r.add_get(f"{API}/blp/profile", get_profile)
    r.add_patch(f"{API}/blp/profile", patch_profile)
    r.add_get(f"{API}/account", get_account)
    r.add_get(f"{API}/assignments", get_assignments)
    r.add_get(f"{API}/events", get_events)
    r.add_get(f"{API}/markets", get_markets)
    r.add_get(f"{API}/markets/{{symbol}}", get_market)
    r.add_get(f"{API}/markets/{{symbol}}/book", get_book)
    r.add_post(f"{API}/orders", place_order)
    r.add_get(f"{API}/orders", list_orders)
    r.add_get(f"{API}/orders/{{order_id}}", get_order)
    r.add_delete(f"{API}/orders/{{order_id}}", cancel_order)


# ---- the app and its lifecycle -------------------------------------------------------------


def build_app(service: EngineService, venue_api: str | None = None) -> web.Application:
    app = web.Application(
        middlewares=[last_resort_middleware, protocol_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[SERVICE_KEY] = service
    add_api_routes(app)
    add_admin_routes(app, ADMIN)
    if venue_api is not None:
        if venue_api != "binance":
            raise ValueError(f"venue_api: unknown venue API {venue_api!r} (known: binance)")
        from .binance import BinanceFacade
        from .binance.limits import LimitsConfig

        facade = BinanceFacade(
            service.exchange,
            now_ms=service.now_ms,
            on_change=service.publish,
            sync=service.tick,
            limits=LimitsConfig(**service.config.venue_limits.model_dump()),
        )
        facade.add_routes(app)
    return app


async def _ticker(service: EngineService, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            service.tick()
        except Exception:
            log.exception("tick_failed")


@dataclass
class RunningEngine:
    url: str
    admin_token: str
    service: EngineService
    runner: web.AppRunner
    ticker: asyncio.Task[None] | None
    stopped: bool = False

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + STREAM_PATH

    async def stop(self) -> None:
        """Close every stream with 1001, stop serving and close the event log (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        if self.ticker is not None:
            self.ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ticker
        conns: list[StreamConnection] = list(self.service.connections)
        for conn in conns:
            conn.kill(CLOSE_GOING_AWAY)
        if conns:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(c.done.wait() for c in conns)),
                    self.service.config.stream.close_timeout_s + 1,
                )
        await self.runner.cleanup()
        self.service.close()
        log.info("engine_stopped", url=self.url)


async def start_engine(
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    config_path: str | Path | None = None,
    data_dir: str | Path | None = None,
    clock: ClockMode = "real",
    scenario: str | None = None,
    speed: float = 1.0,
    venue_api: str | None = None,
    admin_token: str | None = None,
    config: EngineConfig | None = None,
    scenario_seed: int = 0,
    scenario_accounts: int = 1000,
    venue_limits: bool = True,
) -> RunningEngine:
    """Start the engine in this event loop; `port=0` picks a free port (see `.url`).
    `venue_limits=False` turns the venue's rate limits off whatever the config says."""
    cfg = config if config is not None else load_config(config_path)
    if not venue_limits:
        off = cfg.venue_limits.model_copy(update={"enabled": False})
        cfg = cfg.model_copy(update={"venue_limits": off})
    service = EngineService(
        cfg, data_dir=data_dir, clock=clock, speed=speed, admin_token=admin_token
    )
    app = build_app(service, venue_api)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    actual_port = int(runner.addresses[0][1])
    if scenario is not None:
        service.start_scenario(
            m.ScenarioStart(name=scenario, seed=scenario_seed, accounts=scenario_accounts)
        )
    ticker = None
    if clock == "real":
        ticker = asyncio.create_task(_ticker(service, cfg.tick_ms / 1000))
    url = f"http://{host}:{actual_port}"
    log.info("engine_listening", url=url, clock=clock, venue_api=venue_api)
    return RunningEngine(url, service.admin_token, service, runner, ticker)


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    config_path: str | Path | None = None,
    data_dir: str | Path | None = None,
    clock: Literal["real", "manual"] = "real",
    scenario: str | None = None,
    speed: float = 1.0,
    venue_api: str | None = None,
    admin_token: str | None = None,
    venue_limits: bool = True,
) -> None:
    """Run the engine until cancelled (`blp engine`), printing its URL and admin token."""
    engine = await start_engine(
        host=host, port=port, config_path=config_path, data_dir=data_dir, clock=clock,
        scenario=scenario, speed=speed, venue_api=venue_api, admin_token=admin_token,
        venue_limits=venue_limits,
    )  # fmt: skip
    print(f"BLP engine listening on {engine.url}  (stream {engine.ws_url})", flush=True)
    print(f"admin token: {engine.admin_token}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await engine.stop()


__all__ = ["RunningEngine", "build_app", "serve", "start_engine"]
