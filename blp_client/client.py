"""The async SDK: `BLPClient`, typed REST methods and a resumable event stream (protocol v1).

```python
async with BLPClient(url, key, secret) as client:
    print(await client.profile())
    async for a in client.assignments(from_seq=last_seen):
        hedge(a)
```

The stream survives a bad network: it reconnects with exponential backoff and full jitter, sends
`ping`s and treats a connection on which nothing arrives for `heartbeat_timeout` seconds as dead,
resubscribes from the last seq it delivered, fills a gap from the REST history, drops duplicates
and delivers strictly in seq order. Its rules live in `ClientStreamProtocol` (stream_protocol.py,
sans I/O: unit tested with hand-made message sequences); `stream.py` is the asyncio glue, given
`StreamSettings` and this client's `event_history` for gaps (it does not import this module).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, Mapping
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlencode

import aiohttp
import pydantic
from yarl import URL

from ._log import get_logger
from .auth import STREAM_PATH, Timestamps, signed_headers
from .errors import (
    ConnectionFailed,
    InvalidRequest,
    StreamError,
    error_from_response,
    field_error,
)
from .models import (
    Account,
    Assignment,
    AssignmentPage,
    Book,
    Event,
    EventPage,
    Market,
    MarketList,
    Order,
    OrderList,
    OrderRequest,
    Profile,
    ProfileUpdate,
)
from .sequencing import Backoff
from .stream import EventStream
from .stream_protocol import Connected, StreamSettings

__all__ = ["BLPClient"]

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
DecLike = Decimal | str | int

_log = get_logger("blp_client.client")

_RETRY_STATUSES = frozenset({502, 503, 504})
# transport failures after which a GET is sent again (others, e.g. a bad URL, are not transient)
_RETRY_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError, TimeoutError)

# ---- the client ------------------------------------------------------------------------


def _dec(value: DecLike) -> str:
    if isinstance(value, float):
        raise InvalidRequest("decimals must be Decimal, str or int, not float", "invalid_decimal")
    try:
        return format(Decimal(value), "f")
    except InvalidOperation:
        raise InvalidRequest(f"{value!r} is not a decimal number", "invalid_decimal") from None


class BLPClient:
    """Async client of one BLP's API: `async with BLPClient(url, key, secret) as client: ...`.

    `url` is the engine's base URL (`http://127.0.0.1:8080`). REST calls raise the typed errors
    of `blp_client.errors` for error responses; GETs are retried `retries` times (backoff with
    jitter) on a transport failure or a 502/503/504, other methods never (a resent order could
    be placed twice); a transport failure then raises `ConnectionFailed` (the aiohttp or
    timeout exception chained as its cause), so callers never handle aiohttp's exceptions.
    The stream methods retry transport failures forever and raise only `AuthError` (the key was
    refused) or `StreamError` (the server broke the protocol).
    """

    def __init__(
        self,
        url: str,
        key: str,
        secret: str,
        *,
        timeout: float = 10.0,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 15.0,
        reconnect_base: float = 0.25,
        reconnect_max: float = 10.0,
        history_page: int = 1000,
        retries: int = 2,
        rng: random.Random | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        base = URL(url)
        if base.scheme not in ("http", "https"):
            raise ValueError(f"url must be http(s)://host:port, got {url!r}")
        self._base = base.with_path(base.path.rstrip("/"))
        self._prefix = self._base.path if self._base.path != "/" else ""
        self._key = key
        self._secret = secret
        self._timeout = timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self._reconnect_base = reconnect_base
        self._reconnect_max = reconnect_max
        ws_base = self._base.with_scheme("wss" if self._base.scheme == "https" else "ws")
        self._stream_settings = StreamSettings(
            url=str(ws_base.with_path(self._prefix + STREAM_PATH)),
            key=key,
            secret=secret,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            handshake_timeout=timeout,
            reconnect_base=reconnect_base,
            reconnect_max=reconnect_max,
            history_page=history_page,
        )
        self._retries = max(0, retries)
        self._rng = rng or random.Random()
        self._ts = Timestamps()
        self._session = session
        self._own_session = session is None
        self.log_id: str | None = None  # the server's event log, from the last subscription
        self.stats: dict[str, int] = {
            "connects": 0,
            "reconnects": 0,
            "gaps": 0,
            "gap_events_filled": 0,
            "duplicates": 0,
            "silent": 0,
        }

    # -- lifecycle

    async def __aenter__(self) -> BLPClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session the client opened (one passed in stays the caller's, and open)."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("use BLPClient as `async with BLPClient(...) as client:`")
        return self._session

    # -- signed REST

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: pydantic.BaseModel | Mapping[str, Any] | None = None,
    ) -> Any:
        """One signed request; returns the decoded JSON body or raises a typed `BLPError`."""
        method = method.upper()
        full_path = self._prefix + path
        query = urlencode(list(params.items())) if params else ""
        path_with_query = f"{full_path}?{query}" if query else full_path
        if body is None:
            raw = ""
        elif isinstance(body, pydantic.BaseModel):
            raw = body.model_dump_json(exclude_none=True)
        else:
            raw = json.dumps(body, separators=(",", ":"))
        url = URL(str(self._base.origin()) + path_with_query, encoded=True)
        attempts = 1 + (self._retries if method == "GET" else 0)
        backoff = Backoff(self._reconnect_base, self._reconnect_max, self._rng)
        for attempt in range(1, attempts + 1):
            # a fresh timestamp (and so signature) per attempt: a resend is not a replay
            headers = signed_headers(
                self._key, self._secret, method, path_with_query, raw, self._ts.next()
            )
            if raw:
                headers["Content-Type"] = "application/json"
            try:
                async with self.session.request(
                    method, url, data=raw.encode() if raw else None, headers=headers
                ) as resp:
                    text = await resp.text()
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
                    reason = resp.reason
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if attempt == attempts or not isinstance(exc, _RETRY_ERRORS):
                    raise ConnectionFailed.of(exc, f"{method} {path}") from exc
                _log.info("rest.retry", method=method, path=path, error=type(exc).__name__)
                await asyncio.sleep(backoff.next_delay())
                continue
            if status in _RETRY_STATUSES and attempt < attempts:
                _log.info("rest.retry", method=method, path=path, status=status)
                await asyncio.sleep(backoff.next_delay())
                continue
            if status >= 400:
                try:
                    payload: Any = json.loads(text)
                except ValueError:
                    payload = {"message": text.strip() or reason or ""}
                hdrs = {"Retry-After": retry_after} if retry_after is not None else {}
                raise error_from_response(status, payload, hdrs)
            return json.loads(text) if text else None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get(
        self, model: type[ModelT], path: str, params: Mapping[str, str | int] | None = None
    ) -> ModelT:
        return _parse(model, await self.request("GET", path, params=params))

    async def profile(self) -> Profile:
        """The BLP's profile: rates, their use in the 60 s / 3600 s windows, thresholds."""
        return await self._get(Profile, "/api/v1/blp/profile")

    async def update_profile(
        self,
        *,
        max_position_notional: Mapping[str, DecLike] | None = None,
        opted_in: bool | None = None,
    ) -> Profile:
        """Change the Max Position Notional Threshold per contract and/or opt in or out."""
        update = _build(
            ProfileUpdate,
            max_position_notional=(
                None
                if max_position_notional is None
                else {k: _dec(v) for k, v in max_position_notional.items()}
            ),
            opted_in=opted_in,
        )
        return _parse(Profile, await self.request("PATCH", "/api/v1/blp/profile", body=update))

    async def account(self) -> Account:
        """Collateral, equity, positions, margin fractions, leverage, liquidation state."""
        return await self._get(Account, "/api/v1/account")

    async def assignment_history(self, from_seq: int = 0, limit: int = 1000) -> AssignmentPage:
        """One page of past assignments with `seq > from_seq` (REST; see `assignments()` for the
        live stream)."""
        return await self._get(
            AssignmentPage, "/api/v1/assignments", {"from_seq": from_seq, "limit": limit}
        )

    async def event_history(self, from_seq: int = 0, limit: int = 1000) -> EventPage:
        """One page of past events of every type with `seq > from_seq` (`GET /api/v1/events`,
        protocol v1): what the stream fills a gap from."""
        return await self._get(EventPage, "/api/v1/events", {"from_seq": from_seq, "limit": limit})

    async def markets(self) -> list[Market]:
        return (await self._get(MarketList, "/api/v1/markets")).markets

    async def market(self, symbol: str) -> Market:
        """Index, mark, best bid and ask of one contract."""
        return await self._get(Market, f"/api/v1/markets/{_seg(symbol)}")

    async def book(self, symbol: str, depth: int | None = None) -> Book:
        params = {"depth": depth} if depth is not None else None
        return await self._get(Book, f"/api/v1/markets/{_seg(symbol)}/book", params)

    async def place_order(
        self,
        symbol: str,
        side: Literal["buy", "sell"],
        qty: DecLike,
        price: DecLike | None = None,
        *,
        type: Literal["limit", "market"] | None = None,
        tif: Literal["GTC", "IOC"] = "GTC",
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> Order:
        """Place an order on the engine's book (a limit order when a price is given)."""
        req = _build(
            OrderRequest,
            symbol=symbol,
            side=side,
            type=type or ("limit" if price is not None else "market"),
            qty=_dec(qty),
            price=None if price is None else _dec(price),
            tif=tif,
            reduce_only=reduce_only,
            client_order_id=client_order_id,
        )
        return _parse(Order, await self.request("POST", "/api/v1/orders", body=req))

    async def order(self, order_id: int) -> Order:
        return await self._get(Order, f"/api/v1/orders/{int(order_id)}")

    async def cancel_order(self, order_id: int) -> Order:
        return _parse(Order, await self.request("DELETE", f"/api/v1/orders/{int(order_id)}"))

    async def open_orders(self) -> list[Order]:
        """This BLP's orders resting on the engine's book."""
        return await self.orders("open")

    async def orders(
        self, status: Literal["open", "all"] = "open", client_order_id: str | None = None
    ) -> list[Order]:
        """This BLP's orders, open or all, optionally only the one with `client_order_id`
        (the way to find out whether an order whose answer was lost was placed)."""
        params: dict[str, str | int] = {"status": status}
        if client_order_id is not None:
            params["client_order_id"] = client_order_id
        return (await self._get(OrderList, "/api/v1/orders", params)).orders

    # -- the stream

    def _stream(self) -> EventStream:
        return EventStream(
            self._stream_settings,
            self.session,
            self.event_history,
            timestamps=self._ts,  # one strictly increasing clock for every signature
            rng=self._rng,
            stats=self.stats,
            on_connected=self._connected,
        )

    def _connected(self, connected: Connected) -> None:
        self.log_id = connected.log_id

    def assignments(
        self, from_seq: int = 0, *, log_id: str | None = None
    ) -> AsyncGenerator[Assignment, None]:
        """Every assignment with `seq > from_seq`, then live ones, exactly once and in order.

        Runs until the consumer stops iterating; survives disconnects (see the module doc).
        Close it when you stop early: `async with contextlib.aclosing(client.assignments()) as s`.
        Pass the `log_id` your `from_seq` came from (`client.log_id`, saved with it): if the
        server's event log is another one, the stream raises `StreamError("log_changed")`
        instead of silently skipping the new log's first seqs. Raises only `AuthError` (the
        key or signature was refused) and `StreamError`; everything else reconnects.
        """
        return self._stream().assignments(from_seq, log_id)

    def events(
        self, from_seq: int = 0, *, log_id: str | None = None
    ) -> AsyncGenerator[Event, None]:
        """Every event of this BLP with `seq > from_seq` (assignment, profile, margin, fill,
        funding), then live ones, exactly once and strictly in seq order (each seq is the
        last + 1).
        `log_id` and errors as for `assignments`."""
        return self._stream().events(from_seq, log_id)


# ---- helpers ---------------------------------------------------------------------------


def _seg(symbol: str) -> str:
    return quote(symbol, safe="")


def _build(model: type[ModelT], **fields: Any) -> ModelT:
    """Validate a request locally; a bad field is an `InvalidRequest` naming it, before sending."""
    try:
        return model.model_validate({k: v for k, v in fields.items() if v is not None})
    except pydantic.ValidationError as exc:
        raise field_error(exc) from None


def _parse(model: type[ModelT], payload: Any) -> ModelT:
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise StreamError(
            f"the server's {model.__name__} does not match protocol v1: {exc}", "bad_response"
        ) from None
