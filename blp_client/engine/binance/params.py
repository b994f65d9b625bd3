"""`Call`: a request's parameters (query string + form body merged, as Binance does) with the
typed getters handlers use, each refusing bad input with Binance's code for it."""

from __future__ import annotations

import re
from decimal import Decimal

from aiohttp import web

from ...models import parse_decimal
from .errors import BinanceApiError, illegal_chars, missing

_NUMBER_PATTERN = "^([0-9]{1,20})(\\.[0-9]{1,18})?$"
_INT_RE = re.compile(r"[0-9]{1,19}", re.ASCII)
_INT_MAX = 2**63 - 1


class Call:
    """The parsed request a handler sees; `fault` names a fault the handler injected."""

    def __init__(self, request: web.Request, params: dict[str, str], account_id: int | None):
        self.request = request
        self.params = params
        self.account_id = account_id
        self.fault: str | None = None

    @property
    def account(self) -> int:
        assert self.account_id is not None
        return self.account_id

    def get(self, name: str) -> str | None:
        v = self.params.get(name)
        return v if v not in (None, "") else None

    def need(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise missing(name)
        return v

    def decimal(self, name: str) -> Decimal | None:
        v = self.get(name)
        if v is None:
            return None
        if v.startswith("-"):
            raise illegal_chars(name, _NUMBER_PATTERN)
        try:
            return parse_decimal(v)  # the BLP API's strict parser, with Binance's error code
        except ValueError:
            raise illegal_chars(name, _NUMBER_PATTERN) from None

    def integer(self, name: str) -> int | None:
        v = self.get(name)
        if v is None:
            return None
        if not _INT_RE.fullmatch(v) or int(v) > _INT_MAX:
            raise illegal_chars(name, "^[0-9]{1,19}$")
        return int(v)

    def boolean(self, name: str) -> bool:
        v = self.get(name)
        if v is None:
            return False
        if v.lower() not in ("true", "false"):
            raise BinanceApiError(-1130, f"Invalid data sent for a parameter: '{name}'.")
        return v.lower() == "true"

    def limit(self, default: int, maximum: int) -> int:
        """`limit`, clamped to [1, maximum]."""
        limit = self.integer("limit") or default
        return max(1, min(limit, maximum))
