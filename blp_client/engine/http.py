"""Shared HTTP plumbing of the engine's aiohttp app: JSON responses, error bodies, body
parsing with pydantic (a 400 names the field), and the mapping of core errors to statuses."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import structlog
from aiohttp import web
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from ..errors import BLPError, Conflict, NotFound, RateLimited, ValidationError, field_error
from .core import ExchangeError

log = structlog.get_logger("blp.http")

M = TypeVar("M", bound=BaseModel)

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


def parse_body(model: type[M], text: str) -> M:
    if not text.strip():
        text = "{}"
    try:
        data: Any = json.loads(text)
    except ValueError as e:
        raise ValidationError(f"body is not valid JSON: {e}", "invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object", "invalid_json")
    try:
        return model.model_validate(data)
    except PydanticValidationError as e:
        raise field_error(e) from None


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name}: must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise ValidationError(f"{name}: must be {bound}, got {value}")
    return value


def path_int(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    try:
        return int(raw)
    except ValueError:
        raise NotFound(f"{name} {raw!r} is not a known id") from None


def exchange_error(e: ExchangeError) -> BLPError:
    status = EXCHANGE_STATUS.get(e.code, 409)
    if status == 404:
        return NotFound(e.message, e.code)
    if status == 400:
        return ValidationError(e.message, e.code)
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
    log.exception("internal_error", exc_info=e)
    return error_response(500, "internal_error", f"{type(e).__name__}: {e}")
