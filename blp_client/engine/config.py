"""The engine's configuration file (`engine.toml`), validated by pydantic.

Every key is optional; unknown keys are an error naming the key, so a typo never silently falls
back to a default. Decimals may be written as TOML strings ("0.0002"), integers or floats (a float
is read through its shortest repr, so 0.0002 means exactly 0.0002).
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from .core import ExchangeConfig, ProgramConfig, WaterfallConfig, default_instruments
from .core.funding import EIGHT_HOURS_MS, FundingConfig


def _to_decimal(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


CfgDec = Annotated[Decimal, BeforeValidator(_to_decimal)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProgramSection(_Section):
    min_minute_rate: CfgDec = Field(default=Decimal("100000"), ge=0)
    min_hour_rate: CfgDec = Field(default=Decimal("300000"), ge=0)
    toxic_collar: CfgDec = Field(default=Decimal("0.01"), ge=0, lt=1)
    taker_fee: CfgDec = Decimal("0.0002")
    maker_fee: CfgDec = Decimal("-0.00005")


class FundingSection(_Section):
    """Perpetual funding (`core/funding.py`); Binance USDⓈ-M's defaults. `interval_s` may be
    shortened for scenarios shorter than 8 h (the interest scales with it)."""

    enabled: bool = True
    interval_s: int = Field(default=EIGHT_HOURS_MS // 1000, ge=1, le=7 * 86_400)
    interest_rate: CfgDec = Field(default=Decimal("0.0001"), ge=-1, le=1)  # per 8 h
    clamp: CfgDec = Field(default=Decimal("0.0005"), ge=0, le=1)
    cap: CfgDec = Field(default=Decimal("0.0075"), ge=0, le=1)
    impact_notional: CfgDec = Field(default=Decimal("20000"), gt=0, le=Decimal("1e12"))
    caps: dict[str, Annotated[CfgDec, Field(ge=0, le=1)]] = Field(default_factory=dict)
    impact_notionals: dict[str, Annotated[CfgDec, Field(gt=0, le=Decimal("1e12"))]] = Field(
        default_factory=dict
    )

    def core(self) -> FundingConfig:
        return FundingConfig(
            enabled=self.enabled,
            interval_ms=self.interval_s * 1000,
            interest_rate=self.interest_rate,
            clamp=self.clamp,
            cap=self.cap,
            impact_notional=self.impact_notional,
            caps=dict(self.caps),
            impact_notionals=dict(self.impact_notionals),
        )


class AuthSection(_Section):
    window_ms: int = Field(default=5_000, gt=0)


class RateLimitSection(_Section):
    per_second: float = Field(default=100.0, gt=0)  # sustained requests per second per key
    burst: int = Field(default=200, ge=1)  # bucket size


class VenueLimitsSection(_Section):
    """The Binance venue's rate limits (`binance/limits.py`); Binance USDⓈ-M's by default."""

    enabled: bool = True
    request_weight_per_minute: int = Field(default=2400, ge=1, le=100_000_000)  # per client
    orders_per_10s: int = Field(default=300, ge=1, le=100_000_000)  # per account
    orders_per_minute: int = Field(default=1200, ge=1, le=100_000_000)  # per account
    funding_per_5min: int = Field(default=500, ge=1, le=100_000_000)  # fundingRate + fundingInfo
    per: Literal["ip", "key"] = "ip"  # what a client is for the weight limit
    ban_after: int = Field(default=50, ge=0, le=1_000_000)  # weight 429s ignored, then 418
    ban_ms: int = Field(default=120_000, ge=1_000, le=259_200_000)  # first ban; doubles
    ban_max_ms: int = Field(default=259_200_000, ge=1_000, le=259_200_000)

    @model_validator(mode="after")
    def _ban_range(self) -> VenueLimitsSection:
        if self.ban_ms > self.ban_max_ms:
            raise ValueError("ban_ms must not exceed ban_max_ms")
        return self


class StreamSection(_Section):
    # a connection's live buffer: events waiting to be written (the feed is paused or behind);
    # past either bound the connection is closed 4008 (the client resumes from its last seq)
    send_buffer: int = Field(default=10_000, ge=1)  # events
    send_buffer_bytes: int = Field(default=8 << 20, ge=1024)  # bytes of their JSON texts
    # bytes of events written but not yet confirmed by the client's pongs: at this much the
    # feed pauses (a ping goes out every quarter of it), whatever the kernel buffers hold
    send_window_bytes: int = Field(default=1 << 20, ge=4096)
    max_message_bytes: int = Field(default=1 << 16, ge=1024, le=1 << 24)  # client frames: 1009
    ping_interval_s: float = Field(default=10.0, gt=0)
    idle_timeout_s: float = Field(default=60.0, gt=0)  # nothing heard from the client: 4010
    auth_timeout_s: float = Field(default=10.0, gt=0)
    backlog_page: int = Field(default=500, ge=1)
    close_timeout_s: float = Field(default=5.0, gt=0)
    # kernel send buffer per stream socket (SO_SNDBUF, bytes); None keeps the OS default.
    # Small values make the event-count bound the main one (bytes queued in the kernel are
    # not counted by send_buffer).
    so_sndbuf: int | None = Field(default=None, ge=1024)


class BLPSection(_Section):
    """A BLP registered at every start (stable credentials for demos and bots)."""

    name: str | None = None
    api_key: str = Field(min_length=8, max_length=128)
    api_secret: str = Field(min_length=16, max_length=256)
    collateral: CfgDec = Field(default=Decimal(0), ge=0)
    minute_rate: CfgDec
    hour_rate: CfgDec
    max_position_notional: dict[str, CfgDec]


class EngineConfig(_Section):
    admin_token: str | None = Field(default=None, min_length=8)
    seed: int = 0
    instruments: list[str] = Field(default_factory=lambda: ["BTC-PERP", "ETH-PERP"], min_length=1)
    insurance_fund: CfgDec = Field(default=Decimal("1000000"), ge=0)
    house_collateral: CfgDec = Field(default=Decimal("1000000000000"), gt=0)
    tick_ms: int = Field(default=100, gt=0)  # real clock: how often the engine advances
    index: dict[str, CfgDec] = Field(default_factory=dict)  # initial index prices
    program: ProgramSection = ProgramSection()
    funding: FundingSection = FundingSection()
    auth: AuthSection = AuthSection()
    rate_limit: RateLimitSection = RateLimitSection()
    stream: StreamSection = StreamSection()
    venue_limits: VenueLimitsSection = VenueLimitsSection()
    blps: list[BLPSection] = Field(default_factory=list)

    def exchange_config(self) -> ExchangeConfig:
        known = default_instruments()
        unknown = [s for s in self.instruments if s not in known]
        if unknown:
            raise ConfigError(f"instruments: unknown symbol(s) {', '.join(unknown)}")
        for key in ("caps", "impact_notionals"):
            odd = [s for s in getattr(self.funding, key) if s not in self.instruments]
            if odd:
                raise ConfigError(f"funding.{key}: unknown symbol(s) {', '.join(odd)}")
        p = self.program
        return ExchangeConfig(
            instruments={s: known[s] for s in self.instruments},
            program=ProgramConfig(
                min_minute_rate=p.min_minute_rate,
                min_hour_rate=p.min_hour_rate,
                toxic_collar=p.toxic_collar,
                taker_fee=p.taker_fee,
                maker_fee=p.maker_fee,
            ),
            waterfall=WaterfallConfig(),
            insurance_fund=self.insurance_fund,
            funding=self.funding.core(),
        )


class ConfigError(ValueError):
    """The configuration file is invalid; the message names the key."""


def parse_config(data: dict[str, Any], source: str = "engine.toml") -> EngineConfig:
    try:
        cfg = EngineConfig.model_validate(data)
    except PydanticValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(root)"
            lines.append(f"{source}: {key}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    cfg.exchange_config()  # symbol checks
    return cfg


def load_config(path: str | Path | None) -> EngineConfig:
    """Read and validate `engine.toml`; None gives the defaults."""
    if path is None:
        return EngineConfig()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: {e}") from None
    return parse_config(data, str(p))
