"""ccxt exceptions → this package's `VenueError`s, and the retry policy built on them.

Kept apart from `CcxtVenue` because the classification is the delicate part: a request refused
before the venue processed it (429, bad timestamp) is safe to send again, while a timeout or
5xx on an order placement leaves the order's fate *unknown* and must be resolved first.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, TypeVar

import structlog
from ccxt.base import errors as cx  # type: ignore[import-untyped]

from .base import (
    AuthFailed,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    VenueError,
    VenueUnavailable,
)

_log = structlog.get_logger("blp_client.bot.venues")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

RATE_LIMIT_ERRORS = (cx.DDoSProtection, cx.RateLimitExceeded)
TRANSIENT_ERRORS = (cx.NetworkError, cx.OperationFailed)


def map_error(e: Exception) -> VenueError:
    """The `VenueError` for a ccxt exception (InvalidOrder names the limit when it can)."""
    msg = str(e)
    if isinstance(e, cx.OrderNotFound):
        return OrderNotFound(msg)
    if isinstance(e, cx.InsufficientFunds):
        return InsufficientFunds(msg)
    if isinstance(e, cx.InvalidOrder):
        return InvalidOrder(msg, limit_named(msg))
    if isinstance(e, cx.AuthenticationError):
        return AuthFailed(msg)
    if isinstance(e, RATE_LIMIT_ERRORS):
        return RateLimited(msg)
    if isinstance(e, cx.NetworkError):
        return VenueUnavailable(msg)
    return VenueError(msg)


def limit_named(msg: str) -> str | None:
    """Which of our limit names a venue's (Binance's) refusal message is about."""
    for needle, limit in (
        ("notional", "min_notional"),
        ("LOT_SIZE", "lot"),
        ("PRICE_FILTER", "tick"),
        ("ReduceOnly", "reduce_only"),
    ):
        if needle in msg:
            return limit
    return None


class Placement(Enum):
    """What a failed `create_order` means for the order."""

    UNKNOWN = "unknown"  # may have landed: look it up by client order id before resending
    REFUSED = "refused"  # refused before processing (rate limit, timestamp): resend is safe
    FATAL = "fatal"  # a definite refusal: raise `map_error(e)`


def placement_outcome(e: Exception) -> Placement:
    if isinstance(e, cx.DuplicateOrderId):
        return Placement.UNKNOWN
    if isinstance(e, cx.InvalidOrder):
        # an earlier attempt landed
        return Placement.UNKNOWN if "duplicate" in str(e).lower() else Placement.FATAL
    if isinstance(e, (*RATE_LIMIT_ERRORS, cx.InvalidNonce)):
        return Placement.REFUSED
    if isinstance(e, TRANSIENT_ERRORS):
        return Placement.UNKNOWN  # timeout, dropped connection, 5xx
    return Placement.FATAL


def backoff_delay(
    attempt: int, base_s: float, max_s: float, rng: random.Random, floor: float = 0.0
) -> float:
    """Exponential backoff with equal jitter: base·2ⁿ capped at `max_s`, times [0.5, 1)."""
    base = min(max_s, base_s * (1 << min(attempt, 30)))
    return max(floor, base * (0.5 + rng.random() / 2))


MAX_RETRY_AFTER_S = 60.0  # a minute window's longest wait; a ban's longer one is not waited out


def rate_limit_floor(attempt: int, retry_after: float = 0.0) -> float:
    """After a 429, wait at least what its `Retry-After` says (up to a minute), and at least a
    second from the second retry on: a fixed-window venue refuses everything before then."""
    return max(1.0 if attempt else 0.0, min(retry_after, MAX_RETRY_AFTER_S))


def retry_after_s(exchange: Any) -> float:
    """The `Retry-After` of a ccxt exchange's last answer in seconds (0 without one). ccxt's
    exceptions carry no headers; read right where the error is caught, the last answer is the
    refused one (another request's answer in between has no `Retry-After`: plain backoff)."""
    headers = getattr(exchange, "last_response_headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return 0.0
    return 0.0


async def call_with_retries(
    venue: str,
    what: str,
    fn: Callable[[], Awaitable[T]],
    *,
    max_retries: int,
    backoff: Callable[[int, float], float],
    sleep: Sleep,
    resync_clock: Callable[[], Awaitable[None]],
    retry_after: Callable[[], float] = lambda: 0.0,
) -> T:
    """Run an idempotent request, retrying transient failures with backoff (after a 429 no
    sooner than `retry_after()` says); raise `RateLimited`/`VenueUnavailable` when retries run
    out, `map_error` for the rest."""
    for attempt in range(max_retries + 1):
        try:
            return await fn()
        except RATE_LIMIT_ERRORS as e:
            err: Exception = e
            wait = backoff(attempt, rate_limit_floor(attempt, retry_after()))
        except TRANSIENT_ERRORS as e:
            err = e
            wait = backoff(attempt, 0.0)
            if isinstance(e, cx.InvalidNonce):
                await resync_clock()
        except cx.BaseError as e:
            raise map_error(e) from e
        if attempt == max_retries:
            break
        _log.info(
            "venue_retry", venue=venue, what=what, attempt=attempt + 1, error=type(err).__name__
        )
        await sleep(wait)
    if isinstance(err, RATE_LIMIT_ERRORS):
        raise RateLimited(f"{venue} {what}: rate limited through every retry") from err
    raise VenueUnavailable(f"{venue} {what}: {type(err).__name__}: {err}") from err
