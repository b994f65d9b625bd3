"""`BinanceFacade`: wires the venue state, key ring, fault switches, request pipeline and the
handler groups into routes on an aiohttp app, and is the Python API tests and admins use."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from ..core.exchange import Exchange
from ..core.ledger import AccountKind
from ..faults import FaultConfig, FaultInjector
from .account import AccountHandlers
from .admin import VenueAdmin
from .auth import KeyRing, wall_ms
from .endpoint import Pipeline, RequestRecord, Route
from .funding import FundingHandlers
from .limits import LimitsConfig, VenueLimiter
from .market_data import MarketData, ticker_24hr
from .orders import Orders
from .state import VenueState
from .streams import BookFeeds, MarketStreams

_log = structlog.get_logger("blp_client.engine.binance")


class BinanceFacade:
    """Serves the Binance USDⓈ-M subset over `exchange` on an aiohttp app.

    `now_ms()` is the engine's time (order, trade and book timestamps); `sync()` brings the
    engine up to time before a mutating request (default: advance the exchange to `now_ms()`;
    a service that owns the clock and a scenario passes its own tick); `on_change()` is called
    after every mutating request so the owning service can drain engine events. `clock_ms()`
    (default: wall time) is the server clock of `/fapi/v1/time` and of the
    `timestamp`/`recvWindow` check, and the clock of the rate limits' windows. `limits`
    (default: Binance's, on) are the venue's rate limits (`limits.py`).
    """

    def __init__(
        self,
        exchange: Exchange,
        now_ms: Callable[[], int],
        on_change: Callable[[], None],
        admin_token: str | None = None,
        *,
        clock_ms: Callable[[], int] | None = None,
        sync: Callable[[], None] | None = None,
        limits: LimitsConfig | None = None,
    ) -> None:
        self.exchange = exchange
        self.on_change = on_change
        self.admin_token = admin_token
        # The signing clock (/fapi/v1/time, timestamp/recvWindow) is the server's wall clock,
        # as on Binance: engine time may run accelerated or be stepped by hand, and a client's
        # request timestamps must not drift out of the window because of that.
        self.state = VenueState(exchange, now_ms, clock_ms or wall_ms, sync)
        self.keys = KeyRing(self.state.clock_ms)
        self.faults = FaultInjector()
        self.limiter = VenueLimiter(limits)
        self.pipeline = Pipeline(self.state, self.keys, self.faults, on_change, self.limiter)
        self.feeds = BookFeeds(self.state)
        self.market_data = MarketData(self.state, self.feeds, self.limiter)
        self.streams = MarketStreams(
            self.state, self.feeds, lambda inst: ticker_24hr(self.state, inst)
        )
        self.orders = Orders(self.state, self.faults)
        self.account = AccountHandlers(self.state)
        self.funding = FundingHandlers(self.state)
        self.admin = VenueAdmin(self)

    @property
    def now_ms(self) -> Callable[[], int]:
        return self.state.now_ms

    @property
    def clock_ms(self) -> Callable[[], int]:
        return self.state.clock_ms

    @property
    def request_log(self) -> deque[RequestRecord]:
        return self.pipeline.request_log

    @property
    def _leverage(self) -> dict[tuple[int, str], int]:
        """(account id, engine symbol) → leverage set by `POST /fapi/v1/leverage`."""
        return self.state.leverage

    # ---- symbols ------------------------------------------------------------------------

    def venue_symbol(self, engine_symbol: str) -> str:
        return self.state.to_venue[engine_symbol]

    def engine_symbol(self, venue_symbol: str) -> str:
        return self.state.to_engine[venue_symbol]

    # ---- keys, faults, log (Python API; the admin routes call these) -------------------

    def add_api_key(
        self, account_id: int, api_key: str | None = None, api_secret: str | None = None
    ) -> tuple[str, str]:
        """Register an API key for an engine account; returns (api_key, api_secret)."""
        acct = self.exchange.account(account_id)
        if acct.kind not in (AccountKind.TRADER, AccountKind.BLP):
            raise ValueError(f"account {account_id} is a {acct.kind} account and cannot trade")
        key, secret = self.keys.add(account_id, api_key, api_secret)
        self.state.add_account(account_id)
        _log.info("venue_key_added", account_id=account_id)
        return key, secret

    def set_faults(self, config: FaultConfig) -> None:
        self.faults.configure(config)
        _log.info("venue_faults_set", **config.to_dict())

    def set_limits(self, config: LimitsConfig) -> None:
        """New rate limits; usage in the current windows, strikes and bans are kept."""
        self.limiter.configure(config)
        _log.info("venue_limits_set", **config.to_dict())

    def limits_state(self) -> dict[str, Any]:
        """The limits, current usage per client and account, and the 429/418 answers given."""
        limiter = self.limiter
        now = self.state.clock_ms()
        return {
            "config": limiter.config.to_dict(),
            "now_ms": now,
            **limiter.usage(now),
            "served": limiter.served(),
        }

    def clear_request_log(self) -> None:
        self.request_log.clear()

    def private_requests(self) -> list[RequestRecord]:
        return [r for r in self.request_log if r.private]

    # ---- routing ------------------------------------------------------------------------

    def rest_routes(self) -> list[Route]:
        """Every `/fapi` endpoint the venue serves: the one table routing, weights' tests and
        the documented-fields test read."""
        md, od, ac, fd = self.market_data, self.orders, self.account, self.funding
        public = Route.unsigned
        private = Route.signed
        return [
            public("GET", "/fapi/v1/ping", md.ping),
            public("GET", "/fapi/v1/time", md.time),
            public("GET", "/fapi/v1/exchangeInfo", md.exchange_info),
            public("GET", "/fapi/v1/depth", md.depth),
            public("GET", "/fapi/v1/ticker/bookTicker", md.book_ticker),
            public("GET", "/fapi/v1/ticker/24hr", md.ticker_24hr),
            public("GET", "/fapi/v1/ticker/price", md.ticker_price),
            public("GET", "/fapi/v2/ticker/price", md.ticker_price),
            public("GET", "/fapi/v1/premiumIndex", md.premium_index),
            public("GET", "/fapi/v1/fundingRate", fd.funding_rate),
            public("GET", "/fapi/v1/fundingInfo", fd.funding_info),
            private("POST", "/fapi/v1/order", od.new_order, mutating=True),
            private("GET", "/fapi/v1/order", od.get_order),
            private("DELETE", "/fapi/v1/order", od.cancel_order, mutating=True),
            private("GET", "/fapi/v1/openOrders", od.open_orders),
            private("DELETE", "/fapi/v1/allOpenOrders", od.cancel_all, mutating=True),
            private("GET", "/fapi/v1/allOrders", od.all_orders),
            private("GET", "/fapi/v1/userTrades", od.user_trades),
            private("GET", "/fapi/v2/positionRisk", ac.position_risk_v2),
            private("GET", "/fapi/v3/positionRisk", ac.position_risk_v3),
            private("GET", "/fapi/v2/balance", ac.balance),
            private("GET", "/fapi/v3/balance", ac.balance),
            private("GET", "/fapi/v2/account", ac.account_v2),
            private("GET", "/fapi/v3/account", ac.account_v3),
            private("POST", "/fapi/v1/leverage", ac.set_leverage, mutating=True),
            private("GET", "/fapi/v1/leverageBracket", ac.leverage_bracket),
            private("GET", "/fapi/v1/commissionRate", ac.commission_rate),
            private("GET", "/fapi/v1/income", fd.income),
        ]

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        endpoint = self.pipeline.endpoint
        for route in self.rest_routes():
            r.add_route(
                route.method,
                route.path,
                endpoint(route.handler, private=route.private, mutating=route.mutating),
            )
        for method, path, ah in self.admin.routes():
            r.add_route(method, path, self.admin.guard(ah))
        self.streams.add_routes(app)  # websocket market streams: /ws, /stream, /public/...
