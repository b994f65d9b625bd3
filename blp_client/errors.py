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


class InvalidRequest(BLPError):
    """400: the request is malformed; the message names the field. (Not pydantic's
    `ValidationError`: this is the API's answer, or the SDK's own check before sending.)"""

    status = 400
    default_code = "invalid_request"


# Deprecated: the 0.1 name of `InvalidRequest`, which shadowed pydantic's `ValidationError`.
# Kept (outside `__all__`) for code written against 0.1; `blp_client.ValidationError` warns.
ValidationError = InvalidRequest


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


class ConnectionFailed(BLPError):
    """No answer from the server: it could not be reached, the connection broke or the
    request timed out (after the SDK's own retries). The transport's exception is chained as
    `__cause__`; `code` is `timeout` or `connection_failed`. For a request other than GET the
    engine may or may not have carried it out (an order may have been placed: look it up by
    its `client_order_id`)."""

    status = 0
    default_code = "connection_failed"

    @classmethod
    def of(cls, exc: BaseException, what: str) -> ConnectionFailed:
        """The SDK's error for transport exception `exc` while doing `what` (chain it with
        `raise ConnectionFailed.of(exc, what) from exc`)."""
        code = "timeout" if isinstance(exc, TimeoutError) else "connection_failed"
        detail = str(exc) or type(exc).__name__
        return cls(f"{what}: {type(exc).__name__}: {detail}"[:500], code)


_BY_STATUS: dict[int, type[BLPError]] = {
    400: InvalidRequest,
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
CLOSE_TOO_BIG = 1009  # a client message larger than the server's limit
CLOSE_AUTH_FAILED = 4001  # auth refused or not sent in time (the `error` before it says which)
CLOSE_BAD_REQUEST = 4002  # malformed or unexpected message
CLOSE_SLOW_CONSUMER = 4008  # the client fell behind the per-connection bound: resume
CLOSE_IDLE = 4010  # nothing heard from the client within the idle timeout: reconnect


def field_error(e: pydantic.ValidationError) -> InvalidRequest:
    """A pydantic error as ours: every failing field as `field.path: reason`, joined by `; `
    (used by the engine for request bodies and by the client for what it checks locally)."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return InvalidRequest("; ".join(parts), "invalid_request")


__all__ = [
    "CLOSE_AUTH_FAILED",
    "CLOSE_BAD_REQUEST",
    "CLOSE_GOING_AWAY",
    "CLOSE_IDLE",
    "CLOSE_SLOW_CONSUMER",
    "CLOSE_TOO_BIG",
    "AuthError",
    "BLPError",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "RateLimited",
    "ServerError",
    "StreamError",
    "error_from_response",
    "field_error",
]
