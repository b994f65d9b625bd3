"""Capacity planning: sweep BLP commitments × market scenarios, one backtest per task, on a
process pool or a Ray cluster, cached per task so a sweep resumes (`blp plan`)."""

from .config import PlanConfig, PlanConfigError, parse_plan, read_plan_toml
from .execute import BACKENDS, PlanRunError
from .run import run_plan

__all__ = [
    "BACKENDS",
    "PlanConfig",
    "PlanConfigError",
    "PlanRunError",
    "parse_plan",
    "read_plan_toml",
    "run_plan",
]
