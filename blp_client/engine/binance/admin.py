"""Admin routes of the venue under `/admin/v1/venue/...`: API keys, fault switches, rate limits
and the request log, guarded by `X-ADMIN-TOKEN` when an admin token is set.

They call the facade's Python API (`add_api_key`, `set_faults`, ...), so tests and the HTTP
admin act the same way; errors answer `{"code", "message"}` like the engine's own admin API.
"""

from __future__ import annotations

import hmac
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import web

from ...auth import HEADER_ADMIN_TOKEN
from ...errors import ValidationError
from ...models import parse_decimal
from ..core.exchange import Exchange, ExchangeError
from ..core.ledger import AccountKind
from ..faults import FaultConfig, FaultInjector
from ..http import check_depth, read_text
from .auth import KeyRing
from .endpoint import RequestRecord
from .limits import LimitsConfig, VenueLimiter
from .state import VenueState

AdminHandler = Callable[[web.Request], Awaitable[web.Response]]


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body ({} when there is none), within the engine's input
    limits (UTF-8, nesting depth)."""
    if not request.can_read_body:
        return {}
    try:
        text = await read_text(request)
        check_depth(text)
        data = json.loads(text)
    except ValidationError as e:
        raise ValueError(e.message) from None
    except (ValueError, RecursionError):
        raise ValueError("body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _decimal(name: str, value: Any) -> Decimal:
    """A decimal given as a string or an integer, through the one strict parser
    (`models.parse_decimal`); anything else is a ValueError naming `name`."""
    try:
        return parse_decimal(value)
    except ValueError:
        raise ValueError(
            f"{name} must be a decimal number as a string, got {value!r:.40}"
        ) from None


_CREDENTIAL_RE = re.compile(r"[\x21-\x7e]{1,128}", re.ASCII)  # one header token


def _credential(name: str, value: Any) -> str | None:
    """An API key or secret chosen by the caller: printable ASCII, 1 to 128 characters (it
    travels in a header), or None to have one generated."""
    if value is None:
        return None
    if not isinstance(value, str) or not _CREDENTIAL_RE.fullmatch(value):
        raise ValueError(f"{name} must be 1 to 128 printable ASCII characters")
    return value


class Venue(Protocol):
    """What the admin routes act on: the facade's parts and Python API (`BinanceFacade`
    implements it; naming it here keeps the admin from importing the facade that mounts it)."""

    exchange: Exchange
    admin_token: str | None
    state: VenueState
    faults: FaultInjector
    limiter: VenueLimiter
    keys: KeyRing

    @property
    def on_change(self) -> Callable[[], None]: ...

    @property
    def request_log(self) -> deque[RequestRecord]: ...

    def add_api_key(
        self, account_id: int, api_key: str | None = None, api_secret: str | None = None
    ) -> tuple[str, str]: ...

    def set_faults(self, config: FaultConfig) -> None: ...

    def set_limits(self, config: LimitsConfig) -> None: ...

    def limits_state(self) -> dict[str, Any]: ...

    def clear_request_log(self) -> None: ...


class VenueAdmin:
    """The admin handlers over one venue (the facade)."""

    def __init__(self, facade: Venue) -> None:
        self.facade = facade

    def routes(self) -> list[tuple[str, str, AdminHandler]]:
        return [
            ("GET", "/admin/v1/venue", self.info),
            ("POST", "/admin/v1/venue/keys", self.add_key),
            ("GET", "/admin/v1/venue/faults", self.get_faults),
            ("PUT", "/admin/v1/venue/faults", self.put_faults),
            ("DELETE", "/admin/v1/venue/faults", self.clear_faults),
            ("POST", "/admin/v1/venue/faults/burst", self.burst),
            ("GET", "/admin/v1/venue/limits", self.get_limits),
            ("PUT", "/admin/v1/venue/limits", self.put_limits),
            ("DELETE", "/admin/v1/venue/limits", self.reset_limits),
            ("GET", "/admin/v1/venue/requests", self.requests),
            ("DELETE", "/admin/v1/venue/requests", self.clear_requests),
        ]

    def guard(self, handler: AdminHandler) -> AdminHandler:
        """Token check, and ValueError/ExchangeError answered as 400."""

        async def run(request: web.Request) -> web.Response:
            token = self.facade.admin_token
            if token is not None and not hmac.compare_digest(
                request.headers.get(HEADER_ADMIN_TOKEN, ""), token
            ):
                return web.json_response(
                    {"code": "unauthorized", "message": f"missing or wrong {HEADER_ADMIN_TOKEN}"},
                    status=401,
                )
            try:
                return await handler(request)
            except (ValueError, ExchangeError) as e:
                code = e.code if isinstance(e, ExchangeError) else "invalid_request"
                return web.json_response({"code": code, "message": str(e)}, status=400)

        return run

    async def info(self, request: web.Request) -> web.Response:
        f = self.facade
        return web.json_response(
            {
                "symbols": f.state.to_venue,
                "accounts": sorted(f.state.venue_accounts),
                "faults": f.faults.config.to_dict(),
                "fault_counts": f.faults.counts,
                "limits_enabled": f.limiter.config.enabled,
                "limits_served": f.limiter.served(),
                "requests": len(f.request_log),
            }
        )

    async def add_key(self, request: web.Request) -> web.Response:
        """Checks everything before opening an account, so a refused body changes nothing."""
        f = self.facade
        data = await json_body(request)
        api_key = _credential("api_key", data.get("api_key"))
        api_secret = _credential("api_secret", data.get("api_secret"))
        if api_key is not None and api_key in f.keys:
            raise ValueError("api key already registered")
        account_id = data.get("account_id")
        if account_id is None:
            collateral = _decimal("collateral", data.get("collateral", "0"))
            account_id = f.exchange.open_account(AccountKind.TRADER, collateral)
            f.on_change()
        elif not isinstance(account_id, int) or isinstance(account_id, bool):
            raise ValueError("account_id must be an integer")
        key, secret = f.add_api_key(account_id, api_key, api_secret)
        return web.json_response({"account_id": account_id, "api_key": key, "api_secret": secret})

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.facade.faults.state())

    async def put_faults(self, request: web.Request) -> web.Response:
        config = FaultConfig.from_mapping(await json_body(request), self.facade.faults.config)
        self.facade.set_faults(config)
        return web.json_response(config.to_dict())

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.facade.set_faults(FaultConfig())
        return web.json_response(self.facade.faults.config.to_dict())

    async def burst(self, request: web.Request) -> web.Response:
        faults = self.facade.faults
        data = await json_body(request)
        faults.start_burst(data.get("length", faults.config.burst_429_length))
        return web.json_response({"burst_left": faults.burst_left})

    async def get_limits(self, request: web.Request) -> web.Response:
        return web.json_response(self.facade.limits_state())

    async def put_limits(self, request: web.Request) -> web.Response:
        f = self.facade
        f.set_limits(LimitsConfig.from_mapping(await json_body(request), f.limiter.config))
        return web.json_response(f.limits_state())

    async def reset_limits(self, request: web.Request) -> web.Response:
        """Forget usage, strikes, bans and the 429/418 counts (the limits stay)."""
        self.facade.limiter.reset()
        return web.json_response(self.facade.limits_state())

    async def requests(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(r) for r in self.facade.request_log])

    async def clear_requests(self, request: web.Request) -> web.Response:
        self.facade.clear_request_log()
        return web.json_response({"cleared": True})
