"""What `blp plan` sweeps: a grid of commitments and a grid of scenarios, from TOML or flags.

Validated by pydantic with unknown keys forbidden, so a typo is an error naming the key
("commitments.minute_rate.1: must be a decimal string ..."). Every list is bounded, and so is
the whole sweep (`MAX_TASKS`): a plan is sized before it runs, not discovered to be too big.
"""

from __future__ import annotations

import copy
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from ..bot.registry import validation_messages
from ..engine.core.blp import ProgramConfig
from ..engine.market import SCENARIOS
from ..engine.simulate import MAX_INSURANCE_FUND
from ..models import parse_decimal

MAX_VALUES = 50  # per axis
MAX_TASKS = 100_000
MAX_MONEY = Decimal("1e12")
_PROGRAM = ProgramConfig()


class PlanConfigError(ValueError):
    """The plan is invalid; one "key: problem" line per error."""


def _money(value: Any) -> Decimal:
    dec = parse_decimal(value)
    if not Decimal(0) < dec <= MAX_MONEY:
        raise ValueError(f"must be > 0 and at most {MAX_MONEY:,.0f} USDT")
    return dec


def _fund(value: Any) -> Decimal:
    dec = parse_decimal(value)
    if not Decimal(0) <= dec <= MAX_INSURANCE_FUND:
        raise ValueError(f"must be between 0 and {MAX_INSURANCE_FUND:,.0f} USDT")
    return dec


def _scenario(name: str) -> str:
    if name not in SCENARIOS or name == "csv":
        choices = ", ".join(s for s in SCENARIOS if s != "csv")
        raise ValueError(f"unknown scenario {name!r}: choose from {choices}")
    return name


def _distinct(values: list[Any]) -> list[Any]:
    if len(set(map(str, values))) != len(values):
        raise ValueError("values must be distinct")
    return values


def _at_least(low: Decimal) -> AfterValidator:
    def check(value: Decimal) -> Decimal:
        if value < low:
            raise ValueError(f"the program's minimum is {low:,.0f} USDT")
        return value

    return AfterValidator(check)


Money = Annotated[Decimal, BeforeValidator(_money)]
MinuteRate = Annotated[Decimal, BeforeValidator(_money), _at_least(_PROGRAM.min_minute_rate)]
HourRate = Annotated[Decimal, BeforeValidator(_money), _at_least(_PROGRAM.min_hour_rate)]
Fund = Annotated[Decimal, BeforeValidator(_fund)]
ScenarioName = Annotated[str, AfterValidator(_scenario)]
Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]


def _axis(*default: Any) -> Any:
    return Field(default=list(default), min_length=1, max_length=MAX_VALUES)


Axis = AfterValidator(_distinct)
_values = Field(min_length=1, max_length=MAX_VALUES)
ParamName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_][a-z0-9_]*$")]
ParamValue = Annotated[str, Field(max_length=200)] | int | float | bool


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommitmentGrid(_Section):
    """Every combination is one commitment: our BLP's rates, threshold (per contract) and
    collateral, and strategy parameters (each key a list of values)."""

    minute_rate: Annotated[list[MinuteRate], Axis] = _axis(Decimal(150_000))
    hour_rate: Annotated[list[HourRate], Axis] = _axis(Decimal(1_500_000))
    threshold: Annotated[list[Money], Axis] = _axis(Decimal(1_500_000))
    collateral: Annotated[list[Money], Axis] = _axis(Decimal(1_000_000))
    strategy: dict[ParamName, Annotated[list[ParamValue], Axis, _values]] = Field(
        default_factory=dict, max_length=8
    )


class ScenarioGrid(_Section):
    """Every combination is one market: presets and shapes, and `seeds` replicates of each.
    `drop`, `speed` (where the bottom falls, as a fraction of the run), `gaps` and `gap_size`
    shape the `crash` scenario only; a preset has its own."""

    names: Annotated[list[ScenarioName], Axis] = _axis("crash")
    seeds: int = Field(default=3, ge=1, le=1000)
    drop: Annotated[list[Fraction], Axis] = _axis(0.2)
    speed: Annotated[list[Fraction], Axis] = _axis(0.7)
    gaps: Annotated[list[Annotated[int, Field(ge=0, le=20)]], Axis] = _axis(3)
    gap_size: Annotated[list[Annotated[float, Field(ge=0, lt=0.5)]], Axis] = _axis(0.03)
    insurance_fund: Annotated[list[Fund], Axis] = _axis(Decimal(1_000_000))


class PlanConfig(_Section):
    seed: int = Field(default=1, ge=0, le=2**63 - 1)
    accounts: int = Field(default=500, ge=10, le=200_000)
    seconds: int = Field(default=600, ge=10, le=86_400)
    max_drawdown: Money | None = None
    bot_config: Path | None = None  # the bot.toml whose strategy and risk the backtest runs
    commitments: CommitmentGrid = Field(default_factory=CommitmentGrid)
    scenarios: ScenarioGrid = Field(default_factory=ScenarioGrid)


# `blp plan` flags and the plan keys they set (a flag overrides the plan file's key)
FLAG_KEYS: dict[str, tuple[str, ...]] = {
    "--seed": ("seed",),
    "--accounts": ("accounts",),
    "--seconds": ("seconds",),
    "--max-drawdown": ("max_drawdown",),
    "--config": ("bot_config",),
    "--minute-rate": ("commitments", "minute_rate"),
    "--hour-rate": ("commitments", "hour_rate"),
    "--threshold": ("commitments", "threshold"),
    "--collateral": ("commitments", "collateral"),
    "--scenario": ("scenarios", "names"),
    "--seeds": ("scenarios", "seeds"),
    "--drop": ("scenarios", "drop"),
    "--speed": ("scenarios", "speed"),
    "--gaps": ("scenarios", "gaps"),
    "--gap-size": ("scenarios", "gap_size"),
    "--insurance-fund": ("scenarios", "insurance_fund"),
}


def merge_flags(data: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The plan document with each given flag's value at its key (`FLAG_KEYS`); a
    `--param NAME=...` flag sets `commitments.strategy.NAME`."""
    out = copy.deepcopy(data)
    for flag, value in flags.items():
        if flag == "--param":
            commitments = out.setdefault("commitments", {})
            strategy = commitments.setdefault("strategy", {})
            strategy.update(value)
            continue
        *tables, key = FLAG_KEYS[flag]
        target = out
        for t in tables:
            target = target.setdefault(t, {})
        target[key] = value
    return out


def flag_for(key: str) -> str | None:
    """The flag that sets a dotted plan key ("commitments.minute_rate.1" -> --minute-rate)."""
    parts = tuple(key.split("."))
    for flag, path in FLAG_KEYS.items():
        if parts[: len(path)] == path:
            return flag
    return "--param" if parts[:2] == ("commitments", "strategy") else None


def parse_plan(data: dict[str, Any], *, base_dir: Path | None = None) -> PlanConfig:
    """Validate an already-parsed plan (TOML tables, or flags merged into them)."""
    try:
        plan = PlanConfig.model_validate(data)
    except ValidationError as exc:
        raise PlanConfigError("\n".join(validation_messages(exc))) from exc
    if plan.bot_config is not None and base_dir is not None and not plan.bot_config.is_absolute():
        plan = plan.model_copy(update={"bot_config": base_dir / plan.bot_config})
    return plan


def read_plan_toml(path: Path) -> dict[str, Any]:
    """The TOML document of a plan file (PlanConfigError naming the file if unreadable)."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise PlanConfigError(f"{path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanConfigError(f"{path}: {exc}") from exc


__all__ = [
    "MAX_TASKS",
    "CommitmentGrid",
    "PlanConfig",
    "PlanConfigError",
    "ScenarioGrid",
    "flag_for",
    "merge_flags",
    "parse_plan",
    "read_plan_toml",
]
