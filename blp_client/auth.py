"""Request signing for the BLP API (both ends).

`X-BLP-SIGNATURE` = lowercase hex HMAC-SHA256(secret, timestamp + METHOD + path_with_query + body).
The server side (`Verifier`) rejects unknown keys, bad signatures, timestamps outside the window
and exact replays of a signature within the window, each with its own stable error code.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import AuthError

HEADER_KEY = "X-BLP-KEY"
HEADER_TIMESTAMP = "X-BLP-TIMESTAMP"
HEADER_SIGNATURE = "X-BLP-SIGNATURE"
HEADER_ADMIN_TOKEN = "X-ADMIN-TOKEN"
STREAM_PATH = "/api/v1/stream"
DEFAULT_WINDOW_MS = 5_000
_SIGNATURE_RE = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
_TIMESTAMP_RE = re.compile(r"[0-9]{1,16}", re.ASCII)


def sign(
    secret: str, timestamp: int | str, method: str, path_with_query: str, body: str = ""
) -> str:
    """The signature of one request: hex HMAC-SHA256 over `timestamp + METHOD + path + body`."""
    msg = f"{timestamp}{method.upper()}{path_with_query}{body}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def sign_stream(secret: str, timestamp: int) -> str:
    """The stream's auth signature: the same scheme over `timestamp + "GET" + /api/v1/stream`."""
    return sign(secret, timestamp, "GET", STREAM_PATH)


def new_credentials() -> tuple[str, str]:
    """A fresh (api_key, api_secret) pair."""
    return "blp_" + secrets.token_hex(12), secrets.token_hex(32)


class Timestamps:
    """Strictly increasing ms timestamps: two identical requests in the same millisecond would
    otherwise carry the same signature and the second would be refused as a replay."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        now = int(self._clock() * 1000)
        self._last = max(now, self._last + 1)
        return self._last


def signed_headers(
    key: str, secret: str, method: str, path_with_query: str, body: str, timestamp: int
) -> dict[str, str]:
    return {
        HEADER_KEY: key,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(secret, timestamp, method, path_with_query, body),
    }


@dataclass
class Verifier:
    """Checks signed requests against known keys; remembers signatures to refuse replays."""

    secrets_by_key: Mapping[str, str]
    window_ms: int = DEFAULT_WINDOW_MS
    clock: Callable[[], float] = time.time
    not_before_ms: int = 0
    """Timestamps older than this are refused as possible replays: the engine sets it to its
    start, so a request signed before a restart (whose signature the new process never saw)
    cannot be accepted again after it."""
    _seen: set[str] = field(default_factory=set)
    _expiry: list[tuple[int, str]] = field(default_factory=list)  # heap by expiry

    def verify(
        self,
        key: str | None,
        timestamp: str | int | None,
        signature: str | None,
        method: str,
        path_with_query: str,
        body: str,
    ) -> str:
        """Return the key when the request is authentic; raise `AuthError` otherwise."""
        if not key:
            raise AuthError(f"missing header {HEADER_KEY}", "missing_api_key")
        if timestamp is None or timestamp == "":
            raise AuthError(f"missing header {HEADER_TIMESTAMP}", "missing_timestamp")
        if not signature:
            raise AuthError(f"missing header {HEADER_SIGNATURE}", "missing_signature")
        secret = self.secrets_by_key.get(key)
        if secret is None:
            raise AuthError("unknown API key", "invalid_api_key")
        if isinstance(timestamp, bool) or not (
            (isinstance(timestamp, int) and 0 <= timestamp < 10**16)
            or (isinstance(timestamp, str) and _TIMESTAMP_RE.fullmatch(timestamp))
        ):
            raise AuthError(
                f"{HEADER_TIMESTAMP} must be integer milliseconds since the epoch",
                "invalid_timestamp",
            )
        ts = int(timestamp)
        if not isinstance(signature, str) or not _SIGNATURE_RE.fullmatch(signature):
            raise AuthError("signature must be 64 hex characters", "invalid_signature")
        now = int(self.clock() * 1000)
        if abs(now - ts) > self.window_ms:
            raise AuthError(
                f"timestamp {ts} is {now - ts} ms off the server clock "
                f"(window ±{self.window_ms} ms)",
                "stale_timestamp",
            )
        expected = sign(secret, ts, method, path_with_query, body)
        if not hmac.compare_digest(expected, signature.lower()):
            raise AuthError("signature does not match the request", "invalid_signature")
        self._prune(now)
        if ts < self.not_before_ms:
            raise AuthError(
                "timestamp is older than the server's start: this signed request may have "
                "been used before the restart, sign it again",
                "replayed_request",
            )
        if expected in self._seen:
            raise AuthError("this exact signed request was already used", "replayed_request")
        self._seen.add(expected)
        heapq.heappush(self._expiry, (ts + self.window_ms, expected))
        return key

    def _prune(self, now: int) -> None:
        # a signature older than the window is refused as stale anyway: forget it
        while self._expiry and self._expiry[0][0] < now - self.window_ms:
            self._seen.discard(heapq.heappop(self._expiry)[1])
