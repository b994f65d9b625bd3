"""`CcxtVenue`: any ccxt async exchange behind the `Venue` protocol, and `local_binance`.

- Keys come from environment variables named in the config; they are handed to ccxt and never
  logged or kept anywhere else (`repr` shows the variable names only).
- Symbols: engine contract `BTC-PERP` ↔ venue `BTC/USDT:USDT` by default (`<BASE>/<Q>:<Q>` for
  the linear swaps the venue lists), or an explicit mapping.
- Amounts are rounded down to the venue's lot, prices to its tick (buys down, sells up), and
  orders under the venue's minimum size/notional are refused before sending, naming the limit.
- Rate limiting is ccxt's own (`enableRateLimit`). Network errors, 5xx and 429s are retried with
  exponential backoff.
- A placement whose answer never came (timeout, dropped connection, 5xx) is *unknown*: it is
  resolved by looking the order up by its client order id, and only sent again — with the same
  client order id, which the venue refuses to take twice — once the venue says it has no such
  order. A duplicate-id refusal is resolved the same way.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]
import structlog
from ccxt.base import errors as cx  # type: ignore[import-untyped]

from .base import (
    ZERO,
    AuthFailed,
    Balance,
    Fill,
    InsufficientFunds,
    InvalidOrder,
    MarketInfo,
    OrderBook,
    OrderNotFound,
    OrderRequest,
    OrderStateUnknown,
    OrderStatus,
    OrderType,
    RateLimited,
    Side,
    TimeInForce,
    VenueError,
    VenueOrder,
    VenuePosition,
    VenueUnavailable,
    check_limits,
    round_price,
    round_qty,
)

_log = structlog.get_logger("blp_client.bot.venues")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

# ccxt's precision modes (ccxt.base.decimal_to_precision)
_DECIMAL_PLACES = 2
_SIGNIFICANT_DIGITS = 3
_TICK_SIZE = 4

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
    rate_limit_ms: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """An unmodified `ccxt.async_support.binanceusdm` pointed at the engine's venue facade.

    Every entry of `urls['api']` (and of the test/demo URL sets, so sandbox mode cannot switch
    to the internet) is rewritten to `url` + the entry's path: fapi paths reach the facade,
    anything else (sapi, spot, coin-M) gets a local 404. Options: see `LOCAL_BINANCE_OPTIONS`.

    ccxt picks Binance's USDⓈ-M error table by the request URL's host name (`fapi.binance.com`),
    which a local URL does not have; the linear table is therefore merged into the exchange-wide
    one, exactly the lookup ccxt does for the real host (so -2019 raises `InsufficientFunds`,
    -4164 `InvalidOrder`, ...). `rate_limit_ms` scales ccxt's own throttle for loopback tests.
    """
    base = url.rstrip("/")
    config: dict[str, Any] = {
        "timeout": timeout_ms,
        "enableRateLimit": True,
        "options": {**LOCAL_BINANCE_OPTIONS, **(options or {})},
    }
    if api_key is not None:
        config["apiKey"] = api_key
    if secret is not None:
        config["secret"] = secret
    if rate_limit_ms is not None:
        config["rateLimit"] = rate_limit_ms
    ex = ccxt_async.binanceusdm(config)
    for url_set in ("api", "test", "demo"):
        entries = ex.urls.get(url_set)
        if isinstance(entries, dict):
            ex.urls[url_set] = {k: _localise(v, base) for k, v in entries.items()}
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


def to_dec(x: Any) -> Decimal | None:
    """ccxt's numbers (floats, or strings) as exact Decimals (floats via their shortest repr)."""
    if x is None or x == "":
        return None
    if isinstance(x, Decimal):
        return x
    if isinstance(x, bool):
        raise TypeError(f"not a number: {x!r}")
    return Decimal(str(x))


def _dec0(x: Any) -> Decimal:
    d = to_dec(x)
    return d if d is not None else ZERO


def default_venue_symbol(engine_symbol: str, quote: str = "USDT") -> str:
    base = engine_symbol.split("-")[0]
    return f"{base}/{quote}:{quote}"


def _ccxt_status(status: str | None, filled: Decimal, qty: Decimal) -> OrderStatus:
    match status:
        case "open" | None:
            return OrderStatus.OPEN
        case "closed":
            return OrderStatus.FILLED if filled >= qty else OrderStatus.EXPIRED
        case "canceled" | "cancelled":
            return OrderStatus.CANCELED
        case "expired":
            return OrderStatus.EXPIRED
        case "rejected":
            return OrderStatus.REJECTED
        case _:
            return OrderStatus.OPEN


class CcxtVenue:
    """A live venue through ccxt. Build with `from_config` (keys from the environment) or wrap
    an exchange you made (`local_binance(...)` for the engine's facade)."""

    def __init__(
        self,
        exchange: Any,
        *,
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
        self.exchange = exchange
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

    def __repr__(self) -> str:
        return f"CcxtVenue({self.name!r}, exchange={self.exchange.id!r})"

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
        **kwargs: Any,
    ) -> CcxtVenue:
        """Build `ccxt.async_support.<ccxt_id>(options)` with keys read from the environment.

        `options` is the ccxt constructor config (`{"options": {...}, "timeout": ...}`). The
        reserved key `local_url` (binanceusdm only) builds `local_binance(local_url, ...)` to
        trade against the engine's own venue facade instead.
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
        local_url = config.pop("local_url", None)
        if local_url is not None:
            if ccxt_id != "binanceusdm":
                raise VenueError(f"venue {name}: local_url is only served for binanceusdm")
            exchange = local_binance(
                str(local_url),
                creds.get("apiKey"),
                creds.get("secret"),
                timeout_ms=int(config.pop("timeout", 10_000)),
                rate_limit_ms=config.pop("rateLimit", None),
                options=config.pop("options", None),
            )
        else:
            klass = getattr(ccxt_async, ccxt_id, None)
            if klass is None:
                raise VenueError(f"venue {name}: ccxt has no exchange {ccxt_id!r}")
            exchange = klass({**config, **creds})
            if sandbox:
                exchange.set_sandbox_mode(True)
        return cls(exchange, name=name, symbols=symbols, **kwargs)

    @classmethod
    def from_venue_config(
        cls, name: str, cfg: Any, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> CcxtVenue:
        """From the bot config's `[venues.<name>]` table (`blp_client.bot.config.VenueConfig`):
        ccxt_id, options (ccxt constructor config; `local_url` for the engine's facade),
        api_key_env / api_secret_env / password_env, symbols, sandbox, fee overrides."""
        return cls.from_config(
            name,
            cfg.ccxt_id,
            options=cfg.options,
            api_key_env=cfg.api_key_env,
            secret_env=cfg.api_secret_env,
            password_env=cfg.password_env,
            symbols=cfg.symbols,
            sandbox=cfg.sandbox,
            env=env,
            taker_fee=cfg.taker_fee,
            maker_fee=cfg.maker_fee,
            **kwargs,
        )

    async def close(self) -> None:
        await self.exchange.close()

    # ---- retries ------------------------------------------------------------------------

    def _backoff(self, attempt: int, floor: float = 0.0) -> float:
        base = min(self.backoff_max_s, self.backoff_s * (1 << min(attempt, 30)))
        return max(floor, base * (0.5 + self._rng.random() / 2))

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent request, retrying transient failures with backoff."""
        for attempt in range(self.max_retries + 1):
            try:
                return await fn()
            except (cx.DDoSProtection, cx.RateLimitExceeded) as e:
                err: Exception = e
                wait = self._backoff(attempt, floor=1.0 if attempt else 0.0)
            except (cx.NetworkError, cx.OperationFailed) as e:
                err = e
                wait = self._backoff(attempt)
                if isinstance(e, cx.InvalidNonce):
                    await self._resync_clock()
            except cx.BaseError as e:
                raise _map_error(e) from e
            if attempt == self.max_retries:
                break
            _log.info(
                "venue_retry",
                venue=self.name,
                what=what,
                attempt=attempt + 1,
                error=type(err).__name__,
            )
            await self._sleep(wait)
        if isinstance(err, cx.DDoSProtection | cx.RateLimitExceeded):
            raise RateLimited(f"{self.name} {what}: rate limited through every retry") from err
        raise VenueUnavailable(f"{self.name} {what}: {type(err).__name__}: {err}") from err

    async def _resync_clock(self) -> None:
        """After a timestamp refusal, re-measure the venue clock offset if ccxt keeps one."""
        if self.exchange.options.get("adjustForTimeDifference"):
            try:
                await self.exchange.load_time_difference()
            except cx.BaseError as e:
                _log.info("venue_clock_resync_failed", venue=self.name, error=type(e).__name__)

    # ---- markets ------------------------------------------------------------------------

    async def markets(self) -> Mapping[str, MarketInfo]:
        if self._markets is None:
            raw = await self._call("load_markets", lambda: self.exchange.load_markets())
            self._markets = self._parse_markets(cast(dict[str, Any], raw))
            self._by_venue = {m.venue_symbol: s for s, m in self._markets.items()}
        return self._markets

    def _parse_markets(self, raw: Mapping[str, Any]) -> dict[str, MarketInfo]:
        wanted: dict[str, str] = {}
        for vs, m in raw.items():
            if m.get("swap") and m.get("linear") and m.get("settle") == self.quote:
                wanted[f"{m['base']}-PERP"] = vs
        wanted.update(self._explicit)
        out: dict[str, MarketInfo] = {}
        mode = self.exchange.precisionMode
        for symbol, vs in wanted.items():
            m = raw.get(vs)
            if m is None:
                continue
            lot = self._step(m["precision"].get("amount"), mode) or Decimal(1)
            tick = self._step(m["precision"].get("price"), mode) or Decimal("0.00000001")
            limits = m.get("limits") or {}
            amount = limits.get("amount") or {}
            cost = limits.get("cost") or {}
            out[symbol] = MarketInfo(
                symbol=symbol,
                venue_symbol=vs,
                base=str(m["base"]),
                quote=str(m["quote"]),
                tick=tick,
                lot=lot,
                min_qty=to_dec(amount.get("min")) or lot,
                min_notional=to_dec(cost.get("min")) or ZERO,
                max_qty=to_dec(amount.get("max")),
                taker_fee=self.taker_fee if self.taker_fee is not None else _dec0(m.get("taker")),
                maker_fee=self.maker_fee if self.maker_fee is not None else _dec0(m.get("maker")),
                contract_size=to_dec(m.get("contractSize")) or Decimal(1),
            )
        return out

    @staticmethod
    def _step(p: Any, mode: int) -> Decimal | None:
        d = to_dec(p)
        if d is None:
            return None
        if mode in (_DECIMAL_PLACES, _SIGNIFICANT_DIGITS):
            return Decimal(1).scaleb(-int(d))
        return d

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
            "fetch_order_book", lambda: self.exchange.fetch_order_book(m.venue_symbol, depth)
        )
        return OrderBook(
            symbol,
            tuple((_dec0(p), _dec0(q)) for p, q, *_ in raw["bids"]),
            tuple((_dec0(p), _dec0(q)) for p, q, *_ in raw["asks"]),
            raw.get("timestamp"),
            raw.get("nonce"),
        )

    # ---- orders -------------------------------------------------------------------------

    def _parse_order(self, raw: Mapping[str, Any], m: MarketInfo, fallback_cid: str) -> VenueOrder:
        qty = _dec0(raw.get("amount"))
        filled = _dec0(raw.get("filled"))
        fee = raw.get("fee") or {}
        otype = OrderType.LIMIT if raw.get("type") == "limit" else OrderType.MARKET
        price = to_dec(raw.get("price")) if otype is OrderType.LIMIT else None
        return VenueOrder(
            client_order_id=raw.get("clientOrderId") or fallback_cid,
            venue_order_id=str(raw["id"]) if raw.get("id") is not None else None,
            symbol=m.symbol,
            side=Side(raw.get("side") or "buy"),
            type=otype,
            qty=qty,
            price=price,
            filled=filled,
            avg_price=to_dec(raw.get("average")) if filled else None,
            status=_ccxt_status(raw.get("status"), filled, qty),
            reduce_only=bool(raw.get("reduceOnly")),
            fee=_dec0(fee.get("cost")) if isinstance(fee, dict) else ZERO,
            timestamp_ms=raw.get("timestamp"),
        )

    def _order_params(self, req: OrderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": req.client_order_id}
        if req.reduce_only:
            params["reduceOnly"] = True
        if req.type is OrderType.LIMIT:
            if req.time_in_force is TimeInForce.POST_ONLY:
                params["postOnly"] = True
            else:
                params["timeInForce"] = req.time_in_force.value
        return params

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
        params = self._order_params(request)
        log = _log.bind(venue=self.name, symbol=request.symbol, client_order_id=cid)
        unknown = False
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
                order = self._parse_order(raw, m, cid)
                log.info("venue_order_placed", status=order.status.value, filled=str(order.filled))
                return order
            except cx.DuplicateOrderId as e:
                unknown, last_err = True, e
            except cx.InvalidOrder as e:
                if "duplicate" not in str(e).lower():
                    raise _map_error(e) from e
                unknown, last_err = True, e  # an earlier attempt landed
            except (cx.DDoSProtection, cx.RateLimitExceeded, cx.InvalidNonce) as e:
                last_err = e  # refused before it was processed: safe to send again
                if isinstance(e, cx.InvalidNonce):
                    await self._resync_clock()
                log.info("venue_order_refused_retry", error=type(e).__name__, attempt=attempt + 1)
                if attempt < self.max_retries:
                    await self._sleep(self._backoff(attempt, floor=1.0 if attempt else 0.0))
                continue
            except (cx.NetworkError, cx.OperationFailed) as e:
                unknown, last_err = True, e  # timeout, dropped connection, 5xx: outcome unknown
            except cx.BaseError as e:
                raise _map_error(e) from e
            log.warning("venue_order_unknown", error=type(last_err).__name__, attempt=attempt + 1)
            found = await self._resolve(m, cid)
            if found is not None:
                log.info("venue_order_resolved", status=found.status.value)
                return found
            unknown = False  # the venue has no such order: sending it again is safe
            if attempt < self.max_retries:
                await self._sleep(self._backoff(attempt))
        if unknown:
            raise OrderStateUnknown(f"{self.name}: order {cid} state unknown", cid) from last_err
        if isinstance(last_err, cx.DDoSProtection | cx.RateLimitExceeded):
            raise RateLimited(f"{self.name}: order {cid} rate limited through every retry")
        raise VenueUnavailable(f"{self.name}: order {cid} not placed after retries") from last_err

    async def _resolve(self, m: MarketInfo, cid: str) -> VenueOrder | None:
        """Look an order up by client id until the venue answers: the order, or None."""
        last: Exception | None = None
        for attempt in range(self.resolve_attempts):
            try:
                raw = await self.exchange.fetch_order(None, m.venue_symbol, {"clientOrderId": cid})
                return self._parse_order(raw, m, cid)
            except cx.OrderNotFound:
                return None
            except (cx.NetworkError, cx.OperationFailed) as e:
                last = e
                await self._sleep(self._backoff(attempt, floor=0.0))
            except cx.BaseError as e:
                raise _map_error(e) from e
        raise OrderStateUnknown(f"{self.name}: could not look up order {cid}", cid) from last

    async def get_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        m = await self.market(symbol)
        try:
            raw = await self._call(
                "fetch_order",
                lambda: self.exchange.fetch_order(
                    None, m.venue_symbol, {"clientOrderId": client_order_id}
                ),
            )
        except OrderNotFound:
            return None
        return self._parse_order(raw, m, client_order_id)

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        m = await self.market(symbol)
        try:
            raw = await self._call(
                "cancel_order",
                lambda: self.exchange.cancel_order(
                    None, m.venue_symbol, {"clientOrderId": client_order_id}
                ),
            )
            return self._parse_order(raw, m, client_order_id)
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
                    "fetch_open_orders", functools.partial(self.exchange.fetch_open_orders, None)
                )
            except VenueError as e:
                if "symbol" not in str(e).lower():
                    raise
            else:
                out = []
                for r in raws:
                    s = self._engine_symbol(r.get("symbol"))
                    if s is not None:
                        out.append(self._parse_order(r, markets[s], r.get("clientOrderId") or ""))
                return out
        symbols = [symbol] if symbol is not None else list(self._explicit or markets)
        out = []
        for s in symbols:
            m = await self.market(s)
            raws = await self._call(
                "fetch_open_orders",
                functools.partial(self.exchange.fetch_open_orders, m.venue_symbol),
            )
            out.extend(self._parse_order(r, m, r.get("clientOrderId") or "") for r in raws)
        return out

    # ---- account ------------------------------------------------------------------------

    async def positions(self) -> list[VenuePosition]:
        await self.markets()
        raws = await self._call("fetch_positions", lambda: self.exchange.fetch_positions())
        out = []
        for p in raws:
            symbol = self._engine_symbol(p.get("symbol"))
            if symbol is None:
                continue
            m = await self.market(symbol)
            contracts = _dec0(p.get("contracts")) * m.contract_size
            qty = -contracts if p.get("side") == "short" else contracts
            if qty == 0:
                continue
            out.append(
                VenuePosition(
                    symbol=symbol,
                    qty=qty,
                    entry_price=to_dec(p.get("entryPrice")),
                    mark_price=to_dec(p.get("markPrice")),
                    unrealized_pnl=_dec0(p.get("unrealizedPnl")),
                    notional=abs(_dec0(p.get("notional"))),
                    liquidation_price=to_dec(p.get("liquidationPrice")),
                    maintenance_margin=to_dec(p.get("maintenanceMargin")),
                )
            )
        return out

    async def balance(self) -> Balance:
        await self.markets()
        raw = await self._call("fetch_balance", lambda: self.exchange.fetch_balance())
        entry = raw.get(self.quote) or {}
        return Balance(
            self.quote,
            _dec0(entry.get("total")),
            _dec0(entry.get("free")),
            _dec0(entry.get("used")),
        )

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
                functools.partial(self.exchange.fetch_my_trades, m.venue_symbol, since, 1000),
            )
            fresh = [t for t in raws if str(t.get("id")) not in seen]
            for t in fresh:
                seen.add(str(t.get("id")))
                out.append(self._parse_fill(t, symbol))
            if len(raws) >= 1000 and fresh:
                since = max(int(t.get("timestamp") or 0) for t in raws)
                continue
            if since is None or self.exchange.milliseconds() - since < window:
                return sorted(out, key=lambda f: (f.timestamp_ms, f.trade_id))
            since += window

    @staticmethod
    def _parse_fill(t: Mapping[str, Any], symbol: str) -> Fill:
        fee = t.get("fee") or {}
        tom = t.get("takerOrMaker")
        return Fill(
            trade_id=str(t.get("id")),
            venue_order_id=str(t["order"]) if t.get("order") is not None else None,
            symbol=symbol,
            side=Side(t.get("side") or "buy"),
            qty=_dec0(t.get("amount")),
            price=_dec0(t.get("price")),
            fee=_dec0(fee.get("cost")),
            fee_currency=fee.get("currency"),
            maker=(tom == "maker") if tom else None,
            timestamp_ms=int(t.get("timestamp") or 0),
        )


def _map_error(e: Exception) -> VenueError:
    msg = str(e)
    if isinstance(e, cx.OrderNotFound):
        return OrderNotFound(msg)
    if isinstance(e, cx.InsufficientFunds):
        return InsufficientFunds(msg)
    if isinstance(e, cx.InvalidOrder):
        return InvalidOrder(msg, _limit_named(msg))
    if isinstance(e, cx.AuthenticationError):
        return AuthFailed(msg)
    if isinstance(e, cx.DDoSProtection | cx.RateLimitExceeded):
        return RateLimited(msg)
    if isinstance(e, cx.NetworkError):
        return VenueUnavailable(msg)
    return VenueError(msg)


def _limit_named(msg: str) -> str | None:
    for needle, limit in (
        ("notional", "min_notional"),
        ("LOT_SIZE", "lot"),
        ("PRICE_FILTER", "tick"),
        ("ReduceOnly", "reduce_only"),
    ):
        if needle in msg:
            return limit
    return None
