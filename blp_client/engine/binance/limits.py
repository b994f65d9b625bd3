"""Binance USDⓈ-M's REST rate limits as a small pure limiter: request weight per client per
minute, new orders per account per 10 s and per minute, and the 418 ban of a client that keeps
sending after a 429.

Pure and synchronous: time comes in (`now_ms`, the facade's server clock), nothing is awaited or
logged, so windows roll over exactly where a test puts its clock. Windows are fixed and aligned
like Binance's (the minute from :00, the 10 s window from :00, :10, ...), not rolling: a client
that spent its minute waits for the next one, and `Retry-After` says how long. A client is an IP
(Binance: "the limits on the API are based on the IPs, not the API keys") or, with
`per = "key"`, a registered API key; orders are always counted per account.

Choices where Binance's docs are silent:
- A refused request (429/418) executes nothing and counts nothing, neither weight nor orders, so
  the used weight never exceeds the limit. With fixed windows this only decides whether a
  lighter request still fits into the rest of a minute that refused a heavier one.
- A strike is a request refused for its weight (429 -1003) before the `Retry-After` of the
  client's previous weight 429 has passed. More than `ban_after` strikes in a row ban the client
  (418) for `ban_ms`, doubled with every further ban up to `ban_max_ms` (Binance: "from 2
  minutes to 3 days"). A request that arrives once the wait has passed clears the strikes.
  Refused orders (429 -1015) are no strikes: Binance names the ban under its IP limits only,
  and the order limits are per account (a burst of in-flight orders past 300 per 10 s gets
  -1015s, not an IP ban).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

Per = Literal["ip", "key"]
Refusal = Literal["weight", "orders_10s", "orders_1m", "funding_5m", "banned"]

MINUTE_MS = 60_000
TEN_S_MS = 10_000
FIVE_MIN_MS = 300_000
MAX_LIMIT = 100_000_000
MAX_BAN_MS = 259_200_000  # 3 days, Binance's longest ban


@dataclass(frozen=True)
class LimitsConfig:
    """The limits (defaults: Binance USDⓈ-M's published ones) and the ban policy."""

    enabled: bool = True
    request_weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    funding_per_5min: int = 500  # fundingRate + fundingInfo requests per client, shared
    per: Per = "ip"
    ban_after: int = 50  # strikes (weight 429s while told to wait) before a 418 ban
    ban_ms: int = 120_000  # the first ban; each further one doubles it
    ban_max_ms: int = MAX_BAN_MS

    def __post_init__(self) -> None:
        for name in (
            "request_weight_per_minute",
            "orders_per_10s",
            "orders_per_minute",
            "funding_per_5min",
        ):
            v = getattr(self, name)
            if not 1 <= v <= MAX_LIMIT:
                raise ValueError(f"{name} must be within [1, {MAX_LIMIT}], got {v}")
        if self.per not in ("ip", "key"):
            raise ValueError(f"per must be 'ip' or 'key', got {self.per!r}")
        if not 0 <= self.ban_after <= 1_000_000:
            raise ValueError(f"ban_after must be within [0, 1000000], got {self.ban_after}")
        if not 1_000 <= self.ban_ms <= self.ban_max_ms <= MAX_BAN_MS:
            raise ValueError(f"need 1000 <= ban_ms <= ban_max_ms <= {MAX_BAN_MS}")

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], base: LimitsConfig | None = None
    ) -> LimitsConfig:
        """Build from JSON: unknown keys are refused; keys not given keep `base`'s values."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown venue limit key(s): {', '.join(unknown)}")
        for key, value in data.items():
            default = getattr(cls, key)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, str)
            if not ok:
                raise ValueError(f"{key}: invalid value {value!r}")
        return replace(base or cls(), **data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rate_limits(self) -> list[dict[str, Any]]:
        """`rateLimits` of `/fapi/v1/exchangeInfo`, in Binance's shape and order."""
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.request_weight_per_minute,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.orders_per_minute,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": self.orders_per_10s,
            },
        ]


@dataclass
class Window:
    """A count over a fixed window of `length_ms`, aligned to multiples of it."""

    length_ms: int
    start: int = -1
    used: int = 0

    def at(self, now: int) -> int:
        """The count in `now`'s window (a new window starts from 0)."""
        start = now - now % self.length_ms
        if start != self.start:
            self.start, self.used = start, 0
        return self.used

    def wait_s(self, now: int) -> int:
        """Whole seconds until this window ends (at least 1), for `Retry-After`."""
        return max(1, -(-(self.start + self.length_ms - now) // 1000))


@dataclass
class Client:
    weight: Window = field(default_factory=lambda: Window(MINUTE_MS))
    funding: Window = field(default_factory=lambda: Window(FIVE_MIN_MS))
    retry_at: int = 0  # when the last 429 told it to come back
    strikes: int = 0
    bans: int = 0
    banned_until: int = 0


@dataclass
class Account:
    orders_10s: Window = field(default_factory=lambda: Window(TEN_S_MS))
    orders_1m: Window = field(default_factory=lambda: Window(MINUTE_MS))


@dataclass(frozen=True)
class Verdict:
    """The limiter's answer for one request, with what the response headers report."""

    refused: Refusal | None  # None: allowed (and counted)
    retry_after_s: int  # 0 when allowed
    used_weight: int  # the client's weight in the current minute, this request included
    orders_10s: int | None  # the account's new orders (None: no order was counted)
    orders_1m: int | None
    banned_until_ms: int | None = None

    @property
    def status(self) -> int:
        return 200 if self.refused is None else 418 if self.refused == "banned" else 429


class VenueLimiter:
    """Counts requests against `config`; `charge` is the one entry point, once per request.

    Clients are IPs or registered API keys and accounts are venue accounts, so the maps stay
    as small as the set of callers.
    """

    def __init__(self, config: LimitsConfig | None = None) -> None:
        self.config = config or LimitsConfig()
        self.clients: dict[str, Client] = {}
        self.accounts: dict[int, Account] = {}
        self.refusals: dict[Refusal, int] = {}

    def configure(self, config: LimitsConfig) -> None:
        """New limits; what was used in the current windows, strikes and bans are kept."""
        self.config = config

    def reset(self) -> None:
        """Forget all usage, strikes, bans and refusal counts."""
        self.clients.clear()
        self.accounts.clear()
        self.refusals.clear()

    def charge(
        self,
        client: str,
        weight: int,
        now_ms: int,
        account: int | None = None,
        orders: int = 0,
        funding: int = 0,
    ) -> Verdict:
        """Admit a request of `weight` from `client` placing `orders` new orders for `account`
        (counted only when it has one) and `funding` requests on the shared funding limit, or
        refuse it without counting anything."""
        cfg, now = self.config, now_ms
        c = self.clients.get(client)
        if c is None:
            c = self.clients[client] = Client()
        used = c.weight.at(now)
        if c.banned_until > now:
            return self._refuse("banned", c.banned_until, -(-(c.banned_until - now) // 1000), used)
        a: Account | None = None
        o10 = o1m = 0
        if account is not None and orders:
            a = self.accounts.get(account)
            if a is None:
                a = self.accounts[account] = Account()
            o10, o1m = a.orders_10s.at(now), a.orders_1m.at(now)
        refusal: Refusal | None = None
        wait = 0
        if used + weight > cfg.request_weight_per_minute:
            refusal, wait = "weight", c.weight.wait_s(now)
        elif a is not None and o10 + orders > cfg.orders_per_10s:
            refusal, wait = "orders_10s", a.orders_10s.wait_s(now)
        elif a is not None and o1m + orders > cfg.orders_per_minute:
            refusal, wait = "orders_1m", a.orders_1m.wait_s(now)
        elif funding and c.funding.at(now) + funding > cfg.funding_per_5min:
            refusal, wait = "funding_5m", c.funding.wait_s(now)
        if refusal == "weight":
            c.strikes = c.strikes + 1 if now < c.retry_at else 0
            c.retry_at = max(c.retry_at, now + wait * 1000)
            if c.strikes > cfg.ban_after:
                c.strikes, c.bans = 0, c.bans + 1
                ban = min(cfg.ban_max_ms, cfg.ban_ms << min(c.bans - 1, 40))
                c.banned_until = now + ban
                return self._refuse("banned", c.banned_until, -(-ban // 1000), used)
        if refusal is not None:
            return self._refuse(refusal, None, wait, used, o10 if a else None, o1m if a else None)
        if now >= c.retry_at:
            c.strikes = 0
        c.weight.used = used + weight
        if funding:
            c.funding.used = c.funding.at(now) + funding
        if a is None:
            return Verdict(None, 0, c.weight.used, None, None)
        a.orders_10s.used, a.orders_1m.used = o10 + orders, o1m + orders
        return Verdict(None, 0, c.weight.used, o10 + orders, o1m + orders)

    def _refuse(
        self,
        refusal: Refusal,
        banned_until: int | None,
        wait_s: int,
        used: int,
        o10: int | None = None,
        o1m: int | None = None,
    ) -> Verdict:
        self.refusals[refusal] = self.refusals.get(refusal, 0) + 1
        return Verdict(refusal, max(1, wait_s), used, o10, o1m, banned_until)

    def served(self) -> dict[str, int]:
        """How many 429 and 418 answers the limits gave, in all and by reason (the shared
        funding limit's 429s count in "429" only)."""
        r = self.refusals
        n429 = sum(v for k, v in r.items() if k != "banned")
        return {
            "429": n429,
            "418": r.get("banned", 0),
            "weight": r.get("weight", 0),
            "orders_10s": r.get("orders_10s", 0),
            "orders_1m": r.get("orders_1m", 0),
        }

    def usage(self, now_ms: int) -> dict[str, Any]:
        """What each client and account has used in the windows `now_ms` is in."""
        return {
            "clients": {
                name: {
                    "used_weight_1m": c.weight.at(now_ms),
                    "strikes": c.strikes,
                    "bans": c.bans,
                    "banned_until_ms": c.banned_until if c.banned_until > now_ms else None,
                }
                for name, c in self.clients.items()
            },
            "accounts": {
                str(acct): {
                    "orders_10s": a.orders_10s.at(now_ms),
                    "orders_1m": a.orders_1m.at(now_ms),
                }
                for acct, a in self.accounts.items()
            },
        }
