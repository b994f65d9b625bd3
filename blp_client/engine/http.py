"""Shared HTTP plumbing of the engine's aiohttp app: JSON responses, error bodies, body
parsing with pydantic (a 400 names the field), and the mapping of core errors to statuses."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiohttp import web
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from ..errors import BLPError, Conflict, InvalidRequest, NotFound, RateLimited, field_error
from .core import ExchangeError

log = structlog.get_logger("blp.http")

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 1 << 20
"""The largest request body any of the engine's apps reads (aiohttp's `client_max_size`)."""
MAX_JSON_DEPTH = 32
"""The deepest nesting of arrays/objects a JSON body may have (checked before parsing)."""
INT_MAX = 2**63 - 1
"""Query and path integers are bounded to SQLite's INTEGER."""
_INT_RE = re.compile(r"-?[0-9]{1,19}", re.ASCII)
_STRINGS_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS_RE = re.compile(r"[\[\]{}]")

# core error code -> HTTP status (anything else refused by the engine's state is a 409)
EXCHANGE_STATUS = {
    "unknown_account": 404,
    "unknown_order": 404,
    "unknown_symbol": 400,
    "not_a_blp": 404,
    "invalid_qty": 400,
    "invalid_price": 400,
    "invalid_amount": 400,
    "invalid_threshold": 400,
    "invalid_rates": 400,
    "rate_below_minimum": 400,
    "invalid_counterparty": 400,
}


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=json.dumps({"code": code, "message": message}),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def read_text(request: web.Request) -> str:
    """The request body as text: UTF-8 (or ASCII) only, at most `MAX_BODY_BYTES`; an unknown
    charset or invalid UTF-8 is a 400 `invalid_body` rather than an exception."""
    charset = (request.charset or "utf-8").lower()
    if charset not in ("utf-8", "utf8", "us-ascii", "ascii"):
        raise InvalidRequest(
            f"body: unsupported charset {charset[:32]!r} (send UTF-8)", "invalid_body"
        )
    raw = await request.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("body: not valid UTF-8", "invalid_body") from None


def check_depth(text: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit` without parsing it (no recursion)."""
    depth = 0
    for bracket in _BRACKETS_RE.findall(_STRINGS_RE.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                raise InvalidRequest(
                    f"body: JSON nested deeper than {limit} levels", "invalid_json"
                )
        else:
            depth -= 1


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(model: type[M], text: str) -> M:
    if not text.strip():
        text = "{}"
    if len(text) > MAX_BODY_BYTES:
        raise InvalidRequest(f"body: larger than {MAX_BODY_BYTES} bytes", "body_too_large")
    check_depth(text)
    try:
        data: Any = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise InvalidRequest(f"body is not valid JSON: {e}", "invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("body must be a JSON object", "invalid_json")
    try:
        return model.model_validate(data)
    except PydanticValidationError as e:
        raise field_error(e) from None


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not _INT_RE.fullmatch(raw):
        raise InvalidRequest(f"{name}: must be an integer, got {raw[:40]!r}")
    value = int(raw)
    hi = INT_MAX if hi is None else hi
    if value < lo or value > hi:
        bound = f"between {lo} and {hi}"
        raise InvalidRequest(f"{name}: must be {bound}, got {value}")
    return value


def path_int(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not _INT_RE.fullmatch(raw) or not 0 <= int(raw) <= INT_MAX:
        raise NotFound(f"{name} {raw[:40]!r} is not a known id")
    return int(raw)


def exchange_error(e: ExchangeError) -> BLPError:
    status = EXCHANGE_STATUS.get(e.code, 409)
    if status == 404:
        return NotFound(e.message, e.code)
    if status == 400:
        return InvalidRequest(e.message, e.code)
    return Conflict(e.message, e.code)


def to_response(e: BaseException) -> web.Response:
    if isinstance(e, ExchangeError):
        e = exchange_error(e)
    if isinstance(e, PydanticValidationError):
        e = field_error(e)
    if isinstance(e, RateLimited):
        return error_response(e.status, e.code, e.message, {"Retry-After": str(int(e.retry_after))})
    if isinstance(e, BLPError):
        return error_response(e.status, e.code, e.message)
    if isinstance(e, web.HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status, "http_error")
        return error_response(e.status, code, e.reason)
    return internal_error(e)


def internal_error(e: BaseException) -> web.Response:
    """A 5xx with a generic body; the details go to the log only, under `error_id`."""
    error_id = secrets.token_hex(8)
    log.error("internal_error", error_id=error_id, exc_info=e)
    return web.Response(
        text=json.dumps(
            {
                "code": "internal_error",
                "message": "internal error: the server logged the details under error_id",
                "error_id": error_id,
            }
        ),
        status=500,
        content_type="application/json",
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def last_resort_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost on every app: an exception no handler turned into an answer becomes a
    generic 500 (`internal_error` + `error_id`), never a traceback in the body."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        if e.status >= 500:
            return internal_error(e)
        return to_response(e)
    except Exception as e:
        return internal_error(e)
