"""Binance request signing: `X-MBX-APIKEY` + HMAC-SHA256 `signature` over query string + body,
checked against the key registry and the `timestamp`/`recvWindow` window.

Only the key registry holds secrets; nothing else in the facade sees or logs them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import INVALID_KEY, BinanceApiError, missing

API_KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW = 5_000
MAX_RECV_WINDOW = 60_000
_DIGITS_RE = re.compile(r"[0-9]{1,16}", re.ASCII)
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


def wall_ms() -> int:
    return int(time.time() * 1000)


def strip_signature(raw: str) -> str:
    """`raw` (a query string or form body) without its `signature=` parameter."""
    if "signature=" not in raw:
        return raw
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))


def sign(secret: str, payload: str) -> str:
    """The hex HMAC-SHA256 Binance expects as `signature`."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


@dataclass
class Credentials:
    account_id: int
    secret: str


class KeyRing:
    """API keys of venue accounts, and the signature check of private requests.

    `clock_ms` is the server clock the `timestamp` is checked against (wall time on Binance:
    engine time may be accelerated or stepped, and must not push clients out of the window).
    """

    def __init__(self, clock_ms: Callable[[], int]) -> None:
        self.clock_ms = clock_ms
        self._keys: dict[str, Credentials] = {}

    def __contains__(self, api_key: str) -> bool:
        return api_key in self._keys

    def add(self, account_id: int, api_key: str | None, api_secret: str | None) -> tuple[str, str]:
        key = api_key or secrets.token_hex(32)
        secret = api_secret or secrets.token_hex(32)
        if key in self._keys:
            raise ValueError("api key already registered")
        self._keys[key] = Credentials(account_id, secret)
        return key, secret

    def authenticate(
        self, headers: Mapping[str, str], params: Mapping[str, str], raw_query: str, body: str
    ) -> int:
        """The account a signed request acts for, or the Binance error refusing it."""
        key = headers.get(API_KEY_HEADER)
        if not key:
            raise BinanceApiError(-2014, "API-key format invalid.", 401)
        cred = self._keys.get(key)
        if cred is None:
            raise BinanceApiError(*INVALID_KEY, 401)
        ts_s = params.get("timestamp")
        if not ts_s or not _DIGITS_RE.fullmatch(ts_s):
            raise missing("timestamp")
        signature = params.get("signature")
        if not signature:
            raise missing("signature")
        expected = sign(cred.secret, strip_signature(raw_query) + strip_signature(body))
        if not _HEX64_RE.fullmatch(signature) or not hmac.compare_digest(
            expected, signature.lower()
        ):
            raise BinanceApiError(-1022, "Signature for this request is not valid.")
        window_s = params.get("recvWindow")
        window = (
            int(window_s) if window_s and _DIGITS_RE.fullmatch(window_s) else DEFAULT_RECV_WINDOW
        )
        if window > MAX_RECV_WINDOW:
            raise BinanceApiError(-1131, "recvWindow must be less than 60000")
        ts, server = int(ts_s), self.clock_ms()
        if not (ts < server + 1000 and server - ts <= window):
            raise BinanceApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return cred.account_id
