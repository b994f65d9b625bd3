"""Typed errors of the BLP API, shared by the engine's server and the SDK.

Every error response body is `{"code": "<stable_snake_case>", "message": "<human text>"}`; the
HTTP status picks the exception class, so callers catch meaning (`NotFound`), not numbers.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import pydantic


class BLPError(Exception):
    """Base of every error the SDK raises for the BLP API."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ValidationError(BLPError):
    """400: the request is malformed; the message names the field."""

    status = 400
    default_code = "invalid_request"


class AuthError(BLPError):
    """401: unknown key, bad signature, stale timestamp, replay, missing admin token."""

    status = 401
    default_code = "unauthorized"


class Forbidden(BLPError):
    """403: authenticated, but not allowed to do this."""

    status = 403
    default_code = "forbidden"


class NotFound(BLPError):
    """404: no such resource for this caller (another BLP's data is reported as missing)."""

    status = 404
    default_code = "not_found"


class Conflict(BLPError):
    """409: valid request refused by the engine's state (margin, closed order, liquidation)."""

    status = 409
    default_code = "conflict"


class RateLimited(BLPError):
    """429: too many requests; retry after `retry_after` seconds."""

    status = 429
    default_code = "rate_limited"

    def __init__(self, message: str, code: str | None = None, retry_after: float = 1.0) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after


class ServerError(BLPError):
    """5xx: the engine failed; retrying may help."""

    status = 500
    default_code = "internal_error"


class StreamError(BLPError):
    """The stream cannot continue (protocol violation or a gap the server cannot fill)."""

    status = 0
    default_code = "stream_error"


_BY_STATUS: dict[int, type[BLPError]] = {
    400: ValidationError,
    401: AuthError,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_from_response(status: int, body: Any, headers: dict[str, str] | None = None) -> BLPError:
    """Build the typed exception for an HTTP error response."""
    code, message = None, f"HTTP {status}"
    if isinstance(body, dict):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        message = str(body.get("message", message))
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else BLPError)
    if cls is RateLimited:
        retry = 1.0
        raw = (headers or {}).get("Retry-After")
        if raw is not None:
            with contextlib.suppress(ValueError):
                retry = float(raw)
        return RateLimited(message, code, retry_after=retry)
    return cls(message, code)


# WebSocket close codes of /api/v1/stream (documented in docs/protocol.md).
CLOSE_GOING_AWAY = 1001  # the engine is shutting down: reconnect later
CLOSE_AUTH_FAILED = 4001  # auth refused or not sent in time: do not retry with the same key
CLOSE_BAD_REQUEST = 4002  # malformed or unexpected message
CLOSE_SLOW_CONSUMER = 4008  # the client fell behind the per-connection bound: resume
CLOSE_IDLE = 4010  # nothing heard from the client within the idle timeout: reconnect


def field_error(e: pydantic.ValidationError) -> ValidationError:
    """A pydantic error as ours: every failing field as `field.path: reason`, joined by `; `
    (used by the engine for request bodies and by the client for what it checks locally)."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return ValidationError("; ".join(parts), "invalid_request")


__all__ = [
    "CLOSE_AUTH_FAILED",
    "CLOSE_BAD_REQUEST",
    "CLOSE_GOING_AWAY",
    "CLOSE_IDLE",
    "CLOSE_SLOW_CONSUMER",
    "AuthError",
    "BLPError",
    "Conflict",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "ServerError",
    "StreamError",
    "ValidationError",
    "error_from_response",
    "field_error",
]
