"""The bot's TOML configuration, validated by pydantic.

Every table forbids unknown keys, so a typo is an error that names it
("risk.max_leverage: Input should be greater than 0"). Secrets never live in the config or the
model: the config names environment variables, read only when a client is built and returned
as `SecretStr` (which prints as '**********').
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from blp_client.bot.registry import StrategyLoadError, load_strategy, validation_messages
from blp_client.bot.strategy import EXCHANGE


class ConfigError(ValueError):
    """The config is invalid; the message has one "key: problem" line per error."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _secret(env_name: str | None, key: str, env: Mapping[str, str] | None) -> SecretStr:
    source = os.environ if env is None else env
    if not env_name:
        raise ConfigError(f"{key}: no environment variable configured")
    value = source.get(env_name)
    if not value:
        raise ConfigError(f"{key}: environment variable {env_name} is not set")
    return SecretStr(value)


class EngineConfig(_Section):
    url: str = "http://127.0.0.1:8765"
    api_key_env: str = "BLP_API_KEY"
    api_secret_env: str = "BLP_API_SECRET"
    symbols: list[str] = Field(default_factory=lambda: ["BTC-PERP"])
    """Contracts to hedge (the exchange's names); each must be listed by the exchange."""
    auth_retries: int = Field(default=3, ge=1, le=100)
    """A refused key or signature (`engine_auth_failed`) stops the bot after this many tries
    (an unreachable engine is waited for without limit)."""

    def api_key(self, env: Mapping[str, str] | None = None) -> SecretStr:
        return _secret(self.api_key_env, "engine.api_key_env", env)

    def api_secret(self, env: Mapping[str, str] | None = None) -> SecretStr:
        return _secret(self.api_secret_env, "engine.api_secret_env", env)


class VenueConfig(_Section):
    ccxt_id: str = Field(min_length=1)
    """The ccxt exchange class, e.g. "binanceusdm"."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Passed to the ccxt constructor (e.g. {"urls": {...}} to point at a test venue)."""
    api_key_env: str | None = None
    api_secret_env: str | None = None
    password_env: str | None = None
    symbols: dict[str, str] = Field(default_factory=dict)
    """Exchange contract -> venue symbol, e.g. {"BTC-PERP" = "BTC/USDT:USDT"}."""
    taker_fee: Decimal | None = Field(default=None, ge=-1, le=1)
    maker_fee: Decimal | None = Field(default=None, ge=-1, le=1)
    """Fee overrides; default: what the venue reports."""
    sandbox: bool = False
    enabled: bool = True
    rate_limit: bool = True
    """ccxt's own client-side throttle (`enableRateLimit`) on both request lanes (orders;
    control: risk reads, cancels, reconciliation, REST books): each spaces its requests by
    their ccxt cost × its `rateLimit`. Keep it on for a real venue, and for the local one,
    which enforces Binance's limits too; `false` (both lanes unthrottled) only for a bench
    of the raw path."""
    rate_limit_ms: int | None = Field(default=None, gt=0, le=60_000)
    """The order lane's ccxt `rateLimit` (ms per cost unit); default: ccxt's value for the
    exchange. Never faster than (1 − reserved_share) of `weight_per_minute` allows."""
    weight_per_minute: int = Field(default=2400, gt=0, le=1_000_000_000)
    """The venue's request budget a minute in ccxt cost units, which for ccxt's binance
    classes are Binance's request weight: Binance USDⓈ-M's REQUEST_WEIGHT limit is 2400. The
    two lanes together stay within it."""
    reserved_share: float = Field(default=0.4, ge=0.01, le=0.99)
    """The control lane's share of `weight_per_minute` (its `rateLimit` is 60000 /
    (share × weight) ms: 62.5 ms at the defaults, an account read every 0.31 s); the order
    lane has the rest, but at ccxt's own spacing (1,200 a minute for Binance) both together
    stay under the budget."""

    @field_validator("ccxt_id")
    @classmethod
    def _known_ccxt_id(cls, value: str) -> str:
        # the bot loads ccxt anyway; here a typo fails at config time, naming the key
        import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

        known: list[str] = list(ccxt_async.exchanges)
        if value not in known:
            close = difflib.get_close_matches(value, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"ccxt has no exchange {value!r}{hint}: use a ccxt exchange id")
        return value

    @model_validator(mode="after")
    def _local_url_binance_only(self) -> VenueConfig:
        if "local_url" in self.options and self.ccxt_id != "binanceusdm":
            raise ValueError(
                'options.local_url is served for ccxt_id = "binanceusdm" only: use that id, '
                "or remove local_url to reach the real venue"
            )
        return self

    def credentials(self, name: str, env: Mapping[str, str] | None = None) -> dict[str, SecretStr]:
        """The venue's secrets from the environment (only those configured), by ccxt field;
        a missing one is a ConfigError naming the config key that points at it."""
        out: dict[str, SecretStr] = {}
        for field, key, env_name in (
            ("apiKey", "api_key_env", self.api_key_env),
            ("secret", "api_secret_env", self.api_secret_env),
            ("password", "password_env", self.password_env),
        ):
            if env_name:
                out[field] = _secret(env_name, f"venues.{name}.{key}", env)
        return out


class StrategyConfig(_Section):
    class_: str = Field(default="immediate_hedge", alias="class", min_length=1)
    """A built-in name, "package.module:Class" or "path/to/file.py:Class"."""
    params: dict[str, Any] = Field(default_factory=dict)


class RiskConfig(_Section):
    """Limits the risk gate enforces and levels the risk monitor reacts to."""

    # gate: per order and per position (quote notional)
    max_order_notional: Decimal = Field(default=Decimal(1_000_000), gt=0)
    max_venue_position_notional: Decimal = Field(default=Decimal(5_000_000), gt=0)
    max_net_exposure_notional: Decimal = Field(default=Decimal(2_000_000), gt=0)
    max_leverage: Decimal = Field(default=Decimal(10), gt=0)
    """No order that adds to a position on a venue whose leverage would exceed this."""
    max_orders: int = Field(default=50, gt=0)
    order_window_ms: int = Field(default=1000, gt=0)
    """At most `max_orders` orders per `order_window_ms`."""
    # monitor
    monitor: bool = True
    """Follow margins and leverage, lower/restore the threshold, switch state."""
    lower_threshold_leverage: Decimal = Field(default=Decimal(5), gt=0)
    restore_threshold_leverage: Decimal = Field(default=Decimal(3), gt=0)
    lower_threshold_mf_mmf: Decimal = Field(default=Decimal(3), gt=1)
    """Lower the threshold when MF < this × MMF (or MF < IMF)."""
    restore_threshold_mf_mmf: Decimal = Field(default=Decimal(5), gt=1)
    lowered_threshold_fraction: Decimal = Field(default=Decimal(0), ge=0, lt=1)
    """The emergency threshold (margin call, MF below the levels, liquidation, kill switch) as
    a fraction of the ceiling (the threshold the desk registered)."""
    threshold_controller: bool = True
    """Size each threshold to what equity can carry below `lower_threshold_leverage`,
    counting the worst case of the remaining capacity (`core.threshold`); false: the old
    cliff (lower to `lowered_threshold_fraction` at the level, restore below the restore
    level)."""
    threshold_step: Decimal = Field(default=Decimal("0.05"), gt=0, le=1)
    """The controller sends a threshold change of at least this fraction of the ceiling
    (or one to zero or to the ceiling): not one PATCH per tick."""
    venue_stale_ms: int = Field(default=5_000, gt=0)
    """Venue margin data older than this is stale: the monitor then decides on the
    exchange-side data alone and only lowers (fail-safe)."""
    reducing_leverage: Decimal = Field(default=Decimal(8), gt=0)
    reducing_mf_mmf: Decimal = Field(default=Decimal(2), gt=1)
    venue_reducing_leverage: Decimal = Field(default=Decimal(8), gt=0)
    venue_reducing_margin_ratio: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    """REDUCING when a venue's maintenance margin / equity reaches this."""
    restore_after_ms: int = Field(default=10_000, ge=0)
    """Recovered levels must hold this long before restoring the threshold / going ACTIVE."""
    max_drawdown: Decimal | None = Field(default=None, gt=0)
    max_drawdown_fraction: Decimal | None = Field(default=Decimal("0.2"), gt=0, le=1)
    """Kill switch: HALTED when equity falls this much (absolute / fraction) from its peak."""
    unhedged_contracts: Literal["refuse", "zero_threshold"] = "refuse"
    """A contract the BLP has a threshold > 0 on but `engine.symbols` does not hedge: refuse
    to start, or set its threshold to 0 at start so no assignment can come in it."""

    @model_validator(mode="after")
    def _hysteresis(self) -> RiskConfig:
        if self.restore_threshold_leverage >= self.lower_threshold_leverage:
            raise ValueError("restore_threshold_leverage must be below lower_threshold_leverage")
        if self.restore_threshold_mf_mmf <= self.lower_threshold_mf_mmf:
            raise ValueError("restore_threshold_mf_mmf must be above lower_threshold_mf_mmf")
        return self


class ExecutionConfig(_Section):
    """How hedges that do not fill escalate, and when open exposure raises an alarm."""

    escalation_step_bps: Decimal = Field(default=Decimal(25), gt=0, le=1000)
    """An IOC that expired unfilled is sent again with its price cap this much wider..."""
    max_slippage_bps: Decimal = Field(default=Decimal(100), gt=0, le=2000)
    """... up to this cap through the touch; then it spills to the next venue by depth."""
    spill: bool = True
    """Try the other hedge venues (deepest first) before the fallback."""
    fallback: Literal["flip", "resting", "none"] = "flip"
    """Last step: "flip" closes the remainder on the exchange's own book (reduce-only IOC),
    "resting" leaves a GTC limit at the touch on the first venue, "none" stops (the
    exposure-age alarm then says so)."""
    spill_wait_ms: int = Field(default=100, ge=0, le=60_000)
    """A hedge queued this long for its venue's rate budget (ccxt's throttle, an order in
    flight) spills: 0 turns budget spills off."""
    spill_to_exchange: bool = True
    """Where it spills: a reduce-only IOC flip of the assigned position on the exchange's own
    book (the BLP API's own budget), within the hedge's price cap; the remainder goes back."""
    resting_ttl_ms: int = Field(default=5_000, ge=0, le=3_600_000)
    """A resting fallback still open this long is cancelled and its remainder escalated again
    from the start, on fresh books (0: it rests until it fills)."""
    exposure_alarm_notional: Decimal = Field(default=Decimal(50_000), ge=0)
    exposure_alarm_ms: int = Field(default=10_000, gt=0)
    """Alarm when |net exposure| (positions, in-flight not counted) stays above this notional
    for longer than this."""


class PaperSettings(_Section):
    """Paper mode (`--paper`, or `paper = true`, or a `[paper]` table): simulated fills on the
    venues' real books, with a latency and a partial-fill model (both seeded, so a run's
    draws repeat)."""

    enabled: bool = False
    initial_balance: Decimal = Field(default=Decimal(1_000_000), gt=0, le=Decimal(10) ** 12)
    """Each paper account's starting cash (the venue's settlement currency)."""
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    """How long an order takes to reach the book: it trades on the book as it is then, and its
    fills are stamped then."""
    latency_jitter_ms: int = Field(default=0, ge=0, le=60_000)
    """Uniform ± around `latency_ms` (never below 0)."""
    partial_fill_probability: Decimal = Field(default=Decimal(0), ge=0, le=1)
    """The chance that an order taking liquidity gets only `partial_fill_ratio` of what the
    book offers (others reached the book first); the rest expires (IOC) or rests (GTC)."""
    partial_fill_ratio: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    """Seeds the latency and partial-fill draws (each venue its own stream)."""


class CommitmentConfig(_Section):
    """What the BLP committed to the program: read by `blp backtest` / `blp plan`, which
    register the BLP with it (live, the exchange holds the registration; the daemon ignores
    this section). Defaults: the demo's BLP."""

    collateral: Decimal = Field(default=Decimal(250_000), gt=0, le=Decimal(10) ** 12)
    minute_rate: Decimal = Field(default=Decimal(300_000), gt=0, le=Decimal(10) ** 12)
    hour_rate: Decimal = Field(default=Decimal(3_000_000), gt=0, le=Decimal(10) ** 12)
    threshold: Decimal = Field(default=Decimal(1_500_000), ge=0, le=Decimal(10) ** 12)
    """Max Position Notional Threshold, per contract."""


def false_is_none(value: object, remedy: str) -> object:
    """TOML has no null: `false` turns an optional number off; `true` is an error (`remedy`)."""
    if value is False:
        return None
    if value is True:
        raise ValueError(remedy)
    return value


class RetentionConfig(_Section):
    """How much history the journal keeps (`journal_compaction`). Compaction never deletes
    what exactly-once resume needs (`last_seq`, counters, strategy state, inventory), an
    open order or anything tied to one (its intent, step, fills, netted parts), a pending
    threshold action, or an assignment whose hedge is still open."""

    retain_days: float | None = Field(default=30, gt=0, le=36_500)
    """Keep processed events, decisions, orders and fills younger than this (journal time);
    `false` keeps them whatever their age."""
    retain_assignments: int | None = Field(default=None, ge=1, le=1_000_000_000)
    """Keep at most the latest this many processed stream events (and what they caused);
    `false`/unset: no count limit."""
    every_s: float = Field(default=600, gt=0, le=86_400)
    """How often the daemon compacts (in a thread, off the hot path)."""

    @field_validator("retain_days", "retain_assignments", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return false_is_none(value, "give a number, or false to keep everything")


class BotConfig(_Section):
    engine: EngineConfig = Field(default_factory=EngineConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    venues: dict[str, VenueConfig] = Field(default_factory=dict)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    commitment: CommitmentConfig = Field(default_factory=CommitmentConfig)
    journal: Path = Path("blp-bot.sqlite")
    journal_retention: RetentionConfig = Field(default_factory=RetentionConfig)
    metrics_port: int | None = Field(default=9108, ge=0, le=65535)
    status_port: int | None = Field(default=None, ge=0, le=65535)
    """Ports on 127.0.0.1: 0 picks a free one; `false` (TOML has no null) turns it off."""
    paper: PaperSettings = Field(default_factory=PaperSettings)
    """`paper = true` is short for `[paper] enabled = true`."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    from_seq: int | None = Field(default=None, ge=0)
    """Where to start the stream on a fresh journal (default: the BLP's latest seq)."""

    @field_validator("metrics_port", "status_port", mode="before")
    @classmethod
    def _port_off(cls, value: object) -> object:
        return false_is_none(
            value, "give a port number (0: any free port), or false to turn it off"
        )

    @field_validator("paper", mode="before")
    @classmethod
    def _paper_flag(cls, value: object) -> object:
        return {"enabled": value} if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _venue_names(self) -> BotConfig:
        if EXCHANGE in self.venues:
            raise ValueError(f"venue name {EXCHANGE!r} is reserved for the BLP's own account")
        return self


def _rebase(config: BotConfig, base_dir: Path) -> BotConfig:
    """Relative paths in the config are relative to the config file, not the working dir."""
    journal = config.journal if config.journal.is_absolute() else base_dir / config.journal
    spec = config.strategy.class_
    module, sep, cls = spec.rpartition(":")
    if sep and (module.endswith(".py") or "/" in module) and not Path(module).is_absolute():
        spec = f"{base_dir / module}:{cls}"
    strategy = config.strategy.model_copy(update={"class_": spec})
    return config.model_copy(update={"journal": journal, "strategy": strategy})


def parse_config(
    data: Mapping[str, Any], *, base_dir: Path | None = None, check_strategy: bool = True
) -> BotConfig:
    """Validate an already-parsed TOML document (see `load_config`)."""
    try:
        config = BotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(validation_messages(exc))) from exc
    if base_dir is not None:
        config = _rebase(config, base_dir)
    if check_strategy:
        try:
            load_strategy(config.strategy.class_, config.strategy.params)
        except StrategyLoadError as exc:
            raise ConfigError(str(exc)) from exc
    return config


def load_config(path: str | Path, *, check_strategy: bool = True) -> BotConfig:
    """Read and validate a TOML config; errors name the key. Also builds the strategy once so
    bad strategy params fail here, not at the first assignment."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(data, base_dir=path.resolve().parent, check_strategy=check_strategy)
