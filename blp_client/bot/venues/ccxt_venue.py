"""`CcxtVenue`: any ccxt async exchange behind the `Venue` protocol.

- Keys come from environment variables named in the config; they are handed to ccxt and never
  logged or kept anywhere else (`repr` shows the variable names only).
- Symbols: engine contract `BTC-PERP` ↔ venue `BTC/USDT:USDT` by default (`<BASE>/<Q>:<Q>` for
  the linear swaps the venue lists), or an explicit mapping.
- Amounts are rounded down to the venue's lot, prices to its tick (buys down, sells up), and
  orders under the venue's minimum size/notional are refused before sending, naming the limit.
- Two request lanes, each its own ccxt instance with ccxt's own throttle (`enableRateLimit`):
  the *order lane* carries only `place_order`; the *control lane* everything else — risk reads
  (`balance`, `positions`), `cancel_order`, reconciliation (`get_order`, `open_orders`,
  `trades_since`), REST books and `markets` — so a risk read or a cancel never queues behind
  new orders. `from_config` spaces them so that together they stay within the venue's weight
  budget (`lane_rate_limits`); both share one market load and one clock offset. The control
  lane is a `ccxt.pro` instance when ccxt has one for the exchange: `watch_order_book` streams
  books over its websocket (the REST snapshot it syncs from goes through that lane's throttle).
  The venue config's `rate_limit = false` turns both throttles off for a loopback venue.
  Network errors, 5xx and 429s are retried with exponential backoff, after a 429 no sooner
  than its `Retry-After` (`ccxt_errors`). ccxt's throttle debt is repaid while a lane is idle
  (`_settle`), so `order_slot()` tells the executor when an order would go out at once.
- A placement whose answer never came (timeout, dropped connection, 5xx) is *unknown*: it is
  resolved by looking the order up by its client order id, and only sent again — with the same
  client order id, which the venue refuses to take twice — once the venue says it has no such
  order. A duplicate-id refusal is resolved the same way.

Parsing of ccxt's structures is in `ccxt_parse`, `local_binance` in `binance_local`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, cast

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]
import ccxt.pro as ccxt_pro  # type: ignore[import-untyped]
import structlog
from ccxt.base import errors as cx  # type: ignore[import-untyped]

from .base import (
    ZERO,
    Balance,
    Fill,
    FundingFee,
    InvalidOrder,
    MarginSummary,
    MarketInfo,
    OrderBook,
    OrderNotFound,
    OrderRequest,
    OrderStateUnknown,
    OrderType,
    RateLimited,
    VenueError,
    VenueFunding,
    VenueOrder,
    VenuePosition,
    VenueUnavailable,
    check_limits,
    round_price,
    round_qty,
)
from .binance_local import LOCAL_BINANCE_OPTIONS, local_binance
from .ccxt_errors import (
    RATE_LIMIT_ERRORS,
    TRANSIENT_ERRORS,
    Placement,
    Sleep,
    backoff_delay,
    call_with_retries,
    map_error,
    placement_outcome,
    rate_limit_floor,
    retry_after_s,
)
from .ccxt_parse import (
    dec0,
    default_venue_symbol,
    order_params,
    parse_fill,
    parse_funding_fee,
    parse_funding_rate,
    parse_markets,
    parse_order,
    parse_position,
    to_dec,
)

if TYPE_CHECKING:
    from blp_client.bot.config import VenueConfig

__all__ = [
    "LOCAL_BINANCE_OPTIONS",
    "CcxtVenue",
    "default_venue_symbol",
    "lane_rate_limits",
    "local_binance",
    "to_dec",
]

_log = structlog.get_logger("blp_client.bot.venues")

T = TypeVar("T")

MINUTE_MS = 60_000
DEFAULT_WEIGHT_PER_MINUTE = 2400  # Binance USDⓈ-M REQUEST_WEIGHT per minute
DEFAULT_RESERVED_SHARE = 0.4
CCXT_CACHE_LIMIT = 100
"""ccxt's per-symbol caches of orders and own trades (`options` `ordersLimit`, `tradesLimit`,
ccxt's default 1,000) where our options do not say otherwise: the bot keeps its own records
in the journal, and a daemon that trades for weeks keeps these small."""


def lane_rate_limits(
    weight_per_minute: float, reserved_share: float, order_rate_limit_ms: float
) -> tuple[float, float]:
    """ccxt `rateLimit`s (ms per cost unit) of the (order lane, control lane).

    ccxt's throttle is a leaky bucket: a request of cost c holds the lane for c · rateLimit ms,
    so a lane at `rateLimit` r spends at most 60000 / r cost units a minute. ccxt's binance
    costs are Binance's request weight (`'depth': {'cost': 2, ...}` is weight 2, `balance` 5;
    its sapi comment spells the same rule: "1 IP => cost = 0.1 => (1000 / (50 * 0.1)) * 60 =
    12000" a minute), so a budget of W weight a minute is 60000 / W ms per cost unit. The
    control lane gets `reserved_share` of it; the order lane keeps `order_rate_limit_ms`
    (ccxt's own value, or a configured one) but is never faster than the rest of the budget:

        control = 60000 / (share · W)
        order = max(order_rate_limit_ms, 60000 / ((1 − share) · W))

    Binance USDⓈ-M (W = 2400, share 0.4, ccxt's 50 ms): control 62.5 ms (960 weight/min: an
    account read, weight 5, every 0.31 s), order 50 ms (1200 units/min: an order, cost 4,
    every 0.2 s).
    """
    if weight_per_minute <= 0:
        raise ValueError("weight_per_minute must be positive")
    if not 0 < reserved_share < 1:
        raise ValueError("reserved_share must be between 0 and 1")
    control = MINUTE_MS / (reserved_share * weight_per_minute)
    order_floor = MINUTE_MS / ((1 - reserved_share) * weight_per_minute)
    return max(float(order_rate_limit_ms), order_floor), control


def _default_rate_limit(klass: Any) -> float:
    """ccxt's own `rateLimit` of an exchange class (a throwaway instance: no session, no I/O)."""
    return float(klass().rateLimit)


class CcxtVenue:
    """A live venue through ccxt. Build with `from_config` (keys from the environment, two
    lanes) or wrap exchanges you made (`local_binance(...)` for the engine's facade):
    `exchange` is the order lane, `control` the control lane (default: `exchange` itself, one
    lane for everything)."""

    def __init__(
        self,
        exchange: Any,
        *,
        control: Any | None = None,
        name: str | None = None,
        symbols: Mapping[str, str] | None = None,
        quote: str = "USDT",
        max_retries: int = 4,
        backoff_s: float = 0.2,
        backoff_max_s: float = 5.0,
        resolve_attempts: int = 6,
        taker_fee: Decimal | None = None,
        maker_fee: Decimal | None = None,
        sleep: Sleep = asyncio.sleep,
        seed: int | None = None,
    ) -> None:
        self.exchange = exchange  # the order lane
        self.control = control if control is not None else exchange  # the control lane
        self.name = name or str(exchange.id)
        self.quote = quote
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.resolve_attempts = resolve_attempts
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._explicit = dict(symbols or {})
        self._markets: dict[str, MarketInfo] | None = None
        self._by_venue: dict[str, str] = {}
        self._settling: set[asyncio.Task[None]] = set()
        self._order_gate = asyncio.Lock()

    def __repr__(self) -> str:
        return f"CcxtVenue({self.name!r}, exchange={self.exchange.id!r})"

    @property
    def lanes(self) -> tuple[Any, ...]:
        """The distinct ccxt instances: (order lane, control lane), or one."""
        if self.control is self.exchange:
            return (self.exchange,)
        return (self.exchange, self.control)

    @classmethod
    def from_config(
        cls,
        name: str,
        ccxt_id: str,
        *,
        options: Mapping[str, Any] | None = None,
        api_key_env: str | None = None,
        secret_env: str | None = None,
        password_env: str | None = None,
        symbols: Mapping[str, str] | None = None,
        sandbox: bool = False,
        env: Mapping[str, str] | None = None,
        rate_limit: bool | None = None,
        rate_limit_ms: int | None = None,
        weight_per_minute: float = DEFAULT_WEIGHT_PER_MINUTE,
        reserved_share: float = DEFAULT_RESERVED_SHARE,
        **kwargs: Any,
    ) -> CcxtVenue:
        """Two lanes of `ccxt.async_support.<ccxt_id>(options)` with keys read from the
        environment: the order lane and the control lane (`ccxt.pro.<ccxt_id>` when ccxt.pro
        has the exchange, for `watch_order_book`).

        `options` is the ccxt constructor config (`{"options": {...}, "timeout": ...}`). The
        reserved key `local_url` (binanceusdm only) builds `local_binance(local_url, ...)` to
        trade against the engine's own venue facade instead (`local_ws_url`: its websocket
        base, default the same host). `rate_limit=False` turns ccxt's throttle off on both
        lanes; otherwise `lane_rate_limits(weight_per_minute, reserved_share, r)` spaces them,
        r being `rate_limit_ms`, else `options["rateLimit"]`, else ccxt's value.
        """
        source = os.environ if env is None else env
        creds: dict[str, str] = {}
        for field, env_name in (
            ("apiKey", api_key_env),
            ("secret", secret_env),
            ("password", password_env),
        ):
            if env_name:
                value = source.get(env_name)
                if not value:
                    raise VenueError(f"venue {name}: environment variable {env_name} is not set")
                creds[field] = value
        config = dict(options or {})
        config["options"] = {
            "ordersLimit": CCXT_CACHE_LIMIT,
            "tradesLimit": CCXT_CACHE_LIMIT,
            **(config.get("options") or {}),
        }
        if rate_limit is not None:
            config["enableRateLimit"] = rate_limit
        if rate_limit_ms is not None:
            config["rateLimit"] = rate_limit_ms
        local_url = config.pop("local_url", None)
        local_ws_url = config.pop("local_ws_url", None)
        klass = getattr(ccxt_async, ccxt_id, None)
        if klass is None:
            raise VenueError(f"venue {name}: ccxt has no exchange {ccxt_id!r}")
        if local_url is not None and ccxt_id != "binanceusdm":
            raise VenueError(f"venue {name}: local_url is only served for binanceusdm")
        throttled = bool(config.get("enableRateLimit", True))
        order_ms: float | None = None
        control_ms: float | None = None
        if throttled:
            own = config.get("rateLimit")
            order_ms, control_ms = lane_rate_limits(
                weight_per_minute,
                reserved_share,
                float(own) if own is not None else _default_rate_limit(klass),
            )

        def lane(rate_ms: float | None, pro: bool) -> Any:
            cfg = {**config, **({"rateLimit": rate_ms} if rate_ms is not None else {})}
            if local_url is not None:
                return local_binance(
                    str(local_url),
                    creds.get("apiKey"),
                    creds.get("secret"),
                    timeout_ms=int(cfg.pop("timeout", 10_000)),
                    rate_limit_ms=cfg.pop("rateLimit", None),
                    rate_limit=bool(cfg.pop("enableRateLimit", True)),
                    options=cfg.pop("options", None),
                    pro=pro,
                    ws_url=None if local_ws_url is None else str(local_ws_url),
                )
            lane_class = getattr(ccxt_pro, ccxt_id, None) if pro else None
            ex = (lane_class or klass)({**cfg, **creds})
            if sandbox:
                ex.set_sandbox_mode(True)
            return ex

        exchange = lane(order_ms, pro=False)
        control = lane(control_ms, pro=True)
        _log.info(
            "venue_lanes",
            venue=name,
            order_rate_limit_ms=order_ms,
            control_rate_limit_ms=control_ms,
            streams=bool(control.has.get("watchOrderBook")),
        )
        return cls(exchange, control=control, name=name, symbols=symbols, **kwargs)

    @classmethod
    def from_venue_config(
        cls,
        name: str,
        cfg: VenueConfig,
        env: Mapping[str, str] | None = None,
        *,
        public_only: bool = False,
        **kwargs: Any,
    ) -> CcxtVenue:
        """From the bot config's `[venues.<name>]` table: the one place a config table becomes
        a venue. `public_only` reads no keys (paper mode only asks for markets and books);
        `kwargs` go to the constructor (e.g. `sleep`)."""
        return cls.from_config(
            name,
            cfg.ccxt_id,
            options=cfg.options,
            api_key_env=None if public_only else cfg.api_key_env,
            secret_env=None if public_only else cfg.api_secret_env,
            password_env=None if public_only else cfg.password_env,
            symbols=cfg.symbols,
            sandbox=cfg.sandbox,
            env=env,
            taker_fee=cfg.taker_fee,
            maker_fee=cfg.maker_fee,
            rate_limit=None if cfg.rate_limit else False,
            rate_limit_ms=cfg.rate_limit_ms,
            weight_per_minute=cfg.weight_per_minute,
            reserved_share=cfg.reserved_share,
            **kwargs,
        )

    async def close(self) -> None:
        for t in list(self._settling):
            t.cancel()
        for ex in self.lanes:
            await ex.close()

    # ---- the throttle's budget ----------------------------------------------------------

    def _settle(self, lane: Any) -> None:
        """Pay the lane's throttle debt in the background, while it is idle.

        ccxt's leaky bucket refills only while requests queue: its loop restarts its clock when
        it starts, so after a request of cost c an idle lane still makes the next request wait
        c · rateLimit, however long it was idle. A zero-cost request through the same throttle
        right after each request repays that debt during the idle time (it is granted once the
        bucket is back at zero, and takes nothing). The budget is unchanged: no request leaves
        sooner than ccxt's spacing after the previous one."""
        if not getattr(lane, "enableRateLimit", False):
            return
        task = asyncio.ensure_future(lane.throttle(0))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    @contextlib.asynccontextmanager
    async def order_slot(self) -> AsyncIterator[None]:
        """The order lane, once its throttle would send an order at once, held until the
        caller is done: an order built inside (the executor nets what queued meanwhile) goes
        out without waiting, and lanes of other contracts on this venue take turns instead of
        all passing the throttle together and then queueing inside ccxt."""
        async with self._order_gate:
            if getattr(self.exchange, "enableRateLimit", False):
                await self.exchange.throttle(0)
            yield

    # ---- retries ------------------------------------------------------------------------

    def _backoff(self, attempt: int, floor: float = 0.0) -> float:
        return backoff_delay(attempt, self.backoff_s, self.backoff_max_s, self._rng, floor)

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent request (on the control lane), retrying transient failures with
        backoff."""
        try:
            return await call_with_retries(
                self.name,
                what,
                fn,
                max_retries=self.max_retries,
                backoff=self._backoff,
                sleep=self._sleep,
                resync_clock=self._resync_clock,
                retry_after=lambda: retry_after_s(self.control),
            )
        finally:
            self._settle(self.control)

    async def _resync_clock(self) -> None:
        """After a timestamp refusal, re-measure the venue clock offset if ccxt keeps one (on
        the control lane; the order lane takes the same offset)."""
        if self.control.options.get("adjustForTimeDifference"):
            try:
                await self.control.load_time_difference()
            except cx.BaseError as e:
                _log.info("venue_clock_resync_failed", venue=self.name, error=type(e).__name__)
            self._share_clock()

    def _share_clock(self) -> None:
        if self.control is not self.exchange and "timeDifference" in self.control.options:
            self.exchange.options["timeDifference"] = self.control.options["timeDifference"]

    # ---- markets ------------------------------------------------------------------------

    async def markets(self) -> Mapping[str, MarketInfo]:
        if self._markets is None:
            raw = await self._call("load_markets", lambda: self.control.load_markets())
            if self.control is not self.exchange:  # one load for both lanes
                self.exchange.set_markets_from_exchange(self.control)
                self._share_clock()
            self._markets = parse_markets(
                cast(dict[str, Any], raw),
                quote=self.quote,
                explicit=self._explicit,
                precision_mode=self.control.precisionMode,
                taker_fee=self.taker_fee,
                maker_fee=self.maker_fee,
            )
            self._by_venue = {m.venue_symbol: s for s, m in self._markets.items()}
        return self._markets

    async def market(self, symbol: str) -> MarketInfo:
        markets = await self.markets()
        m = markets.get(symbol)
        if m is None:
            raise InvalidOrder(f"{self.name} does not list {symbol}", "symbol")
        return m

    def _engine_symbol(self, venue_symbol: str) -> str | None:
        return self._by_venue.get(venue_symbol)

    # ---- market data --------------------------------------------------------------------

    async def order_book(self, symbol: str, depth: int = 50) -> OrderBook:
        m = await self.market(symbol)
        raw = await self._call(
            "fetch_order_book", lambda: self.control.fetch_order_book(m.venue_symbol, depth)
        )
        return _book(symbol, raw, depth)

    @property
    def streams_books(self) -> bool:
        """Whether `watch_order_book` streams (the control lane is a ccxt.pro instance)."""
        return bool(self.control.has.get("watchOrderBook"))

    async def watch_order_book(self, symbol: str, depth: int = 50) -> OrderBook | None:
        """The next book from the venue's websocket (ccxt.pro `watch_order_book` on the control
        lane: the first call subscribes and returns the synced book, later ones wait for the
        next update); None when this venue has no book stream. Stream failures raise
        `VenueUnavailable` (or the mapped `VenueError`); the caller falls back to REST."""
        if not self.streams_books:
            return None
        m = await self.market(symbol)
        try:
            raw = await self.control.watch_order_book(m.venue_symbol, depth)
        except cx.BaseError as e:
            raise map_error(e) from e
        return _book(symbol, raw, depth)

    # ---- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        m = await self.market(request.symbol)
        qty = round_qty(m, request.qty)
        price: Decimal | None = None
        if request.type is OrderType.LIMIT:
            if request.price is None:
                raise InvalidOrder(f"{request.symbol}: a limit order needs a price", "price")
            price = round_price(m, request.price, request.side)
        check_limits(m, qty, price, request.reduce_only)
        cid = request.client_order_id
        params = order_params(request)
        log = _log.bind(venue=self.name, symbol=request.symbol, client_order_id=cid)
        last_err: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                raw = await self.exchange.create_order(
                    m.venue_symbol,
                    request.type.value,
                    request.side.value,
                    str(qty),
                    str(price) if price is not None else None,
                    dict(params),
                )
                order = parse_order(raw, m, cid)
                log.info("venue_order_placed", status=order.status.value, filled=str(order.filled))
                self._settle(self.exchange)
                return order
            except cx.BaseError as e:
                outcome = placement_outcome(e)
                if outcome is Placement.FATAL:
                    raise map_error(e) from e
                last_err = e
                if outcome is Placement.REFUSED:  # refused before it was processed: resend
                    if isinstance(e, cx.InvalidNonce):
                        await self._resync_clock()
                    log.info(
                        "venue_order_refused_retry", error=type(e).__name__, attempt=attempt + 1
                    )
                    if attempt < self.max_retries:
                        wait = (
                            retry_after_s(self.exchange) if isinstance(e, RATE_LIMIT_ERRORS) else 0
                        )
                        await self._sleep(self._backoff(attempt, rate_limit_floor(attempt, wait)))
                    continue
            # timeout, dropped connection, 5xx, duplicate id: it may have landed; _resolve
            # finds it, raises OrderStateUnknown when it cannot tell, or None: not placed
            log.warning("venue_order_unknown", error=type(last_err).__name__, attempt=attempt + 1)
            found = await self._resolve(m, cid)
            if found is not None:
                log.info("venue_order_resolved", status=found.status.value)
                return found
            if attempt < self.max_retries:  # the venue has no such order: resending is safe
                await self._sleep(self._backoff(attempt))
        if isinstance(last_err, RATE_LIMIT_ERRORS):
            raise RateLimited(f"{self.name}: order {cid} rate limited through every retry")
        raise VenueUnavailable(f"{self.name}: order {cid} not placed after retries") from last_err

    async def _resolve(self, m: MarketInfo, cid: str) -> VenueOrder | None:
        """Look an order up by client id until the venue answers: the order, or None."""
        last: Exception | None = None
        for attempt in range(self.resolve_attempts):
            try:
                raw = await self.control.fetch_order(None, m.venue_symbol, {"clientOrderId": cid})
                return parse_order(raw, m, cid)
            except cx.OrderNotFound:
                return None
            except TRANSIENT_ERRORS as e:
                last = e
                await self._sleep(self._backoff(attempt, floor=0.0))
            except cx.BaseError as e:
                raise map_error(e) from e
        raise OrderStateUnknown(f"{self.name}: could not look up order {cid}", cid) from last

    async def get_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        m = await self.market(symbol)
        try:
            raw = await self._call(
                "fetch_order",
                lambda: self.control.fetch_order(
                    None, m.venue_symbol, {"clientOrderId": client_order_id}
                ),
            )
        except OrderNotFound:
            return None
        return parse_order(raw, m, client_order_id)

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        m = await self.market(symbol)
        try:
            raw = await self._call(
                "cancel_order",
                lambda: self.control.cancel_order(
                    None, m.venue_symbol, {"clientOrderId": client_order_id}
                ),
            )
            return parse_order(raw, m, client_order_id)
        except (OrderNotFound, VenueUnavailable):
            # already closed, or the answer was lost: the venue's record says what happened
            found = await self.get_order(symbol, client_order_id)
            if found is None:
                raise OrderNotFound(f"{self.name}: no order {client_order_id}") from None
            if found.is_open:
                raise VenueUnavailable(f"{self.name}: cancel of {client_order_id} failed") from None
            return found

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        markets = await self.markets()
        if symbol is None:
            try:  # one request for every symbol where the venue allows it
                raws = await self._call(
                    "fetch_open_orders", functools.partial(self.control.fetch_open_orders, None)
                )
            except VenueError as e:
                if "symbol" not in str(e).lower():
                    raise
            else:
                out = []
                for r in raws:
                    s = self._engine_symbol(r.get("symbol"))
                    if s is not None:
                        out.append(parse_order(r, markets[s], r.get("clientOrderId") or ""))
                return out
        symbols = [symbol] if symbol is not None else list(self._explicit or markets)
        out = []
        for s in symbols:
            m = await self.market(s)
            raws = await self._call(
                "fetch_open_orders",
                functools.partial(self.control.fetch_open_orders, m.venue_symbol),
            )
            out.extend(parse_order(r, m, r.get("clientOrderId") or "") for r in raws)
        return out

    # ---- account ------------------------------------------------------------------------

    async def positions(self) -> list[VenuePosition]:
        await self.markets()
        raws = await self._call("fetch_positions", lambda: self.control.fetch_positions())
        out = []
        for p in raws:
            symbol = self._engine_symbol(p.get("symbol"))
            if symbol is None:
                continue
            pos = parse_position(p, await self.market(symbol))
            if pos is not None:
                out.append(pos)
        return out

    async def balance(self) -> Balance:
        await self.markets()
        raw = await self._call("fetch_balance", lambda: self.control.fetch_balance())
        entry = raw.get(self.quote) or {}
        return Balance(
            self.quote,
            dec0(entry.get("total")),
            dec0(entry.get("free")),
            dec0(entry.get("used")),
        )

    async def margin(self) -> MarginSummary:
        """One account read where the venue's balance carries its margin totals and positions
        (Binance USDⓈ-M: `totalMarginBalance`, `totalMaintMargin`, `positions[].notional`):
        weight 5 on the control lane instead of 10; else balance and positions."""
        await self.markets()
        raw = await self._call("fetch_balance", lambda: self.control.fetch_balance())
        info = raw.get("info")
        if isinstance(info, Mapping) and "totalMarginBalance" in info and "positions" in info:
            positions = info.get("positions") or []
            return MarginSummary(
                dec0(info.get("totalMarginBalance")),
                sum((abs(dec0(p.get("notional"))) for p in positions), ZERO),
                dec0(info.get("totalMaintMargin")),
            )
        entry = raw.get(self.quote) or {}
        balance = Balance(
            self.quote, dec0(entry.get("total")), dec0(entry.get("free")), dec0(entry.get("used"))
        )
        return MarginSummary.of(balance, await self.positions())

    async def trades_since(self, symbol: str, since_ms: int) -> list[Fill]:
        """Own fills at or after `since_ms` (0: whatever the venue keeps as recent, e.g. Binance's
        last 7 days). Pages forward; venues that cap a query's time window (Binance: 7 days)
        are walked window by window."""
        m = await self.market(symbol)
        out: list[Fill] = []
        seen: set[str] = set()
        since: int | None = since_ms if since_ms > 0 else None
        window = 7 * 86_400_000
        while True:
            raws = await self._call(
                "fetch_my_trades",
                functools.partial(self.control.fetch_my_trades, m.venue_symbol, since, 1000),
            )
            fresh = [t for t in raws if str(t.get("id")) not in seen]
            for t in fresh:
                seen.add(str(t.get("id")))
                out.append(parse_fill(t, symbol))
            if len(raws) >= 1000 and fresh:
                since = max(int(t.get("timestamp") or 0) for t in raws)
                continue
            if since is None or self.control.milliseconds() - since < window:
                return sorted(out, key=lambda f: (f.timestamp_ms, f.trade_id))
            since += window

    # ---- funding ------------------------------------------------------------------------

    async def funding_rate(self, symbol: str) -> VenueFunding | None:
        """ccxt's `fetch_funding_rate` (Binance: `premiumIndex`, weight 1): the venue's
        estimate for the next funding time; the last settled rate when ccxt reports one
        (`previousFundingRate`). None: the venue has no funding for ccxt."""
        m = (await self.markets()).get(symbol)
        if m is None or not self.control.has.get("fetchFundingRate"):
            return None  # not listed here, or no funding through ccxt
        raw = await self._call(
            "fetch_funding_rate",
            functools.partial(self.control.fetch_funding_rate, m.venue_symbol),
        )
        return parse_funding_rate(symbol, raw)

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingFee]:
        """The account's funding payments at or after `since_ms` (ccxt's
        `fetch_funding_history`; Binance: `income` FUNDING_FEE, weight 30), oldest first."""
        m = (await self.markets()).get(symbol)
        if m is None or not self.control.has.get("fetchFundingHistory"):
            return []
        since = since_ms if since_ms > 0 else None
        raws = await self._call(
            "fetch_funding_history",
            functools.partial(self.control.fetch_funding_history, m.venue_symbol, since, 1000),
        )
        return [parse_funding_fee(symbol, r) for r in raws]


def _book(symbol: str, raw: Mapping[str, Any], depth: int) -> OrderBook:
    """A ccxt order book (REST or ccxt.pro's) as ours, at most `depth` levels a side."""
    return OrderBook(
        symbol,
        tuple((dec0(p), dec0(q)) for p, q, *_ in raw["bids"][:depth]),
        tuple((dec0(p), dec0(q)) for p, q, *_ in raw["asks"][:depth]),
        raw.get("timestamp"),
        raw.get("nonce"),
    )
